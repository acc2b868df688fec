"""The example pipelines' scripts, run for real, and the example files' shape.

The scripts under pipelines/scripts/ are run directly (through their shebang)
with a temporary RUNNER_EVENTS / RUNNER_PROCESSED, the way the runner runs
them. The YAML files are checked for the conventions the examples teach.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runner.config.loader import load_pipeline

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "pipelines"
SCRIPTS = PIPELINES / "scripts"
DATA = PIPELINES / "data"

EXPECTED_SCRIPTS = frozenset(
    {
        "echo-item",
        "maintain-mailbox",
        "migrate-archive",
        "notify",
        "pre-check",
        "report",
        "resolve-group",
        "start-backup",
    }
)
FOLDERS = ["inbox", "sent", "drafts", "projects", "old-mail"]
MODELINE = "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
SECTIONS = ("schedules", "groups", "definitions", "policies", "tasks")
DIRECTORY_GROUP = "CN=staff,OU=Groups,DC=example,DC=internal"


def run_script(
    name: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one example script directly with a minimal environment plus `env`."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full_env.update(env or {})
    return subprocess.run(
        [str(SCRIPTS / name), *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def assert_exit(expected: int, result: subprocess.CompletedProcess[str]) -> None:
    """Assert a script's exit code, showing its stderr when the code differs."""
    assert expected == result.returncode, result.stderr


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every line of an events file, each parsed as one JSON object."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        assert isinstance(event, dict), line
        events.append(event)
    return events


def processed_ids(path: Path) -> list[str]:
    """The sub-ids of the `processed` events of an events file, in order."""
    return [event["processed"] for event in read_events(path) if "processed" in event]


def migrate(
    tmp_path: Path,
    archive: str,
    *,
    attempt: int = 1,
    previous: str = "",
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run migrate-archive the way the runner does, with the checkpoint files under tmp_path."""
    env = {
        "RUNNER_EVENTS": str(tmp_path / "events.jsonl"),
        "RUNNER_PROCESSED": str(tmp_path / "processed.txt"),
        "RUNNER_TASK": "archive-migration",
        "RUNNER_ITEM": archive,
        "RUNNER_ATTEMPT": str(attempt),
        "RUNNER_PREVIOUS_STATUS": previous,
    }
    env.update(extra_env or {})
    return run_script("migrate-archive", "--archive", archive, "--server", "ar01", env=env)


def carry_checkpoints(tmp_path: Path) -> None:
    """Do what the runner does between attempts: list every sub-id processed so far."""
    ids = processed_ids(tmp_path / "events.jsonl")
    (tmp_path / "processed.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")


def load_yaml_files() -> dict[Path, dict[str, Any]]:
    """Every pipeline file of the examples, safely parsed."""
    files = {}
    for path in sorted(PIPELINES.glob("*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict), path.name
        files[path] = data
    return files


def merged_sections() -> dict[str, dict[str, Any]]:
    """The sections of every file merged into one namespace, as the loader does."""
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for data in load_yaml_files().values():
        for section in SECTIONS:
            merged[section].update(data.get(section) or {})
    return merged


def archive_rows() -> list[dict[str, str]]:
    """The rows of pipelines/data/archives.csv."""
    with (DATA / "archives.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class TestScriptFiles:
    """Every script is a small executable Python 3 program using the standard library only."""

    def test_expected_scripts_present(self) -> None:
        """The scripts directory holds exactly the scripts the examples use."""
        actual = {path.name for path in SCRIPTS.iterdir() if not path.name.startswith(".")}
        expected = set(EXPECTED_SCRIPTS)
        assert expected == actual

    @pytest.mark.parametrize("name", sorted(EXPECTED_SCRIPTS))
    def test_executable(self, name: str) -> None:
        """Each script has the executable bit, so it runs without naming an interpreter."""
        assert os.access(SCRIPTS / name, os.X_OK)

    @pytest.mark.parametrize("name", sorted(EXPECTED_SCRIPTS))
    def test_shebang(self, name: str) -> None:
        """Each script starts with the portable Python 3 shebang."""
        expected = "#!/usr/bin/env python3"
        assert expected == (SCRIPTS / name).read_text(encoding="utf-8").splitlines()[0]

    @pytest.mark.parametrize("name", sorted(EXPECTED_SCRIPTS))
    def test_stdlib_only(self, name: str) -> None:
        """Each script imports nothing outside the standard library."""
        tree = ast.parse((SCRIPTS / name).read_text(encoding="utf-8"))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        expected: set[str] = set()
        assert expected == imported - set(sys.stdlib_module_names)


class TestMigrateArchive:
    """migrate-archive follows the checkpoint protocol and fails deterministically by id."""

    def test_plain_archive_processes_every_folder(self, tmp_path: Path) -> None:
        """An ordinary archive announces each folder once, in order, and exits 0."""
        result = migrate(tmp_path, "arch-0001")
        assert_exit(0, result)
        expected = FOLDERS
        assert expected == processed_ids(tmp_path / "events.jsonl")

    def test_skips_folders_already_processed(self, tmp_path: Path) -> None:
        """Sub-ids listed in RUNNER_PROCESSED are skipped on the next attempt."""
        (tmp_path / "processed.txt").write_text("inbox\nsent\n", encoding="utf-8")
        result = migrate(tmp_path, "arch-0001", attempt=2, previous="interrupted")
        assert_exit(0, result)
        expected = ["drafts", "projects", "old-mail"]
        assert expected == processed_ids(tmp_path / "events.jsonl")

    def test_second_run_after_a_complete_one_processes_nothing(self, tmp_path: Path) -> None:
        """When every folder is listed as processed, a rerun announces none and still exits 0."""
        assert_exit(0, migrate(tmp_path, "arch-0002"))
        carry_checkpoints(tmp_path)
        (tmp_path / "events.jsonl").unlink()
        result = migrate(tmp_path, "arch-0002", attempt=2)
        assert_exit(0, result)
        expected: list[str] = []
        assert expected == processed_ids(tmp_path / "events.jsonl")

    def test_missing_processed_file_means_nothing_done(self, tmp_path: Path) -> None:
        """A RUNNER_PROCESSED path that does not exist yet is read as an empty list."""
        assert not (tmp_path / "processed.txt").exists()
        result = migrate(tmp_path, "arch-0003")
        assert_exit(0, result)
        expected = FOLDERS
        assert expected == processed_ids(tmp_path / "events.jsonl")

    def test_runs_without_checkpoint_variables(self, tmp_path: Path) -> None:
        """Run by hand (no RUNNER_* variables), the script works and writes no file."""
        result = run_script(
            "migrate-archive", "--archive", "arch-0004", "--server", "ar02", cwd=tmp_path
        )
        assert_exit(0, result)
        expected: list[Path] = []
        assert expected == list(tmp_path.iterdir())

    def test_every_event_line_is_one_json_object(self, tmp_path: Path) -> None:
        """Every line of the events file is a JSON object with one of the protocol's keys."""
        migrate(tmp_path, "arch-0006")
        expected = {"detail", "processed", "progress", "metric"}
        events = read_events(tmp_path / "events.jsonl")
        assert expected == {key for event in events for key in event}

    def test_progress_rises_to_one(self, tmp_path: Path) -> None:
        """Progress events never go down and end at 1.0 on a complete migration."""
        migrate(tmp_path, "arch-0007")
        events = read_events(tmp_path / "events.jsonl")
        progress = [event["progress"] for event in events if "progress" in event]
        assert sorted(progress) == progress
        expected = 1.0
        assert expected == progress[-1]

    def test_previous_status_in_detail(self, tmp_path: Path) -> None:
        """RUNNER_PREVIOUS_STATUS appears in the first detail message as 'resuming after ...'."""
        migrate(tmp_path, "arch-0009", attempt=2, previous="interrupted")
        events = read_events(tmp_path / "events.jsonl")
        first_detail = next(event["detail"] for event in events if "detail" in event)
        assert "attempt 2" in first_detail
        assert "resuming after interrupted" in first_detail

    def test_corrupt_exits_9_before_announcing_drafts(self, tmp_path: Path) -> None:
        """An id containing 'corrupt' exits 9 and never announces the corrupt folder."""
        result = migrate(tmp_path, "arch-0008-corrupt")
        assert_exit(9, result)
        expected = ["inbox", "sent"]
        assert expected == processed_ids(tmp_path / "events.jsonl")
        assert "corrupt" in result.stderr

    def test_locked_says_password_protected(self, tmp_path: Path) -> None:
        """An id containing 'locked' prints 'password protected' on stderr and exits 1."""
        result = migrate(tmp_path, "arch-0011-locked")
        assert_exit(1, result)
        assert re.search(r"(?i)password protected", result.stderr)
        expected: list[str] = []
        assert expected == processed_ids(tmp_path / "events.jsonl")

    def test_locked_with_password_succeeds(self, tmp_path: Path) -> None:
        """With EXAMPLE_ARCHIVE_PASSWORD set, a locked archive migrates, exits 0, hides it."""
        result = migrate(
            tmp_path, "arch-0011-locked", extra_env={"EXAMPLE_ARCHIVE_PASSWORD": "letmein"}
        )
        assert_exit(0, result)
        expected = FOLDERS
        assert expected == processed_ids(tmp_path / "events.jsonl")
        assert "letmein" not in result.stdout + result.stderr

    def test_stubborn_always_exits_3(self, tmp_path: Path) -> None:
        """An id containing 'stubborn' exits 3 on every attempt."""
        expected = [3, 3, 3]
        actual = [migrate(tmp_path, "arch-0015-stubborn", attempt=n).returncode for n in (1, 2, 3)]
        assert expected == actual

    def test_flaky_exit_codes_by_attempt(self, tmp_path: Path) -> None:
        """An id containing 'flaky' exits 3 on attempts 1 and 2, then 0."""
        actual = []
        for attempt in (1, 2, 3):
            previous = "" if attempt == 1 else "#001"
            result = migrate(tmp_path, "arch-0005-flaky", attempt=attempt, previous=previous)
            actual.append(result.returncode)
            carry_checkpoints(tmp_path)
        expected = [3, 3, 0]
        assert expected == actual

    def test_flaky_resumes_each_folder_exactly_once(self, tmp_path: Path) -> None:
        """Across the three attempts of a flaky archive, each folder is announced exactly once."""
        for attempt in (1, 2, 3):
            migrate(tmp_path, "arch-0005-flaky", attempt=attempt)
            carry_checkpoints(tmp_path)
        expected = FOLDERS
        assert expected == processed_ids(tmp_path / "events.jsonl")


class TestMaintainMailbox:
    """maintain-mailbox writes detail, progress and metric events and exits 0."""

    def test_exits_0_with_events(self, tmp_path: Path) -> None:
        """A maintenance writes detail, progress and metric events, ending at progress 1.0."""
        events_path = tmp_path / "events.jsonl"
        result = run_script(
            "maintain-mailbox",
            "--mailbox",
            "alice@example.com",
            "--server",
            "mx01",
            env={"RUNNER_EVENTS": str(events_path)},
        )
        assert_exit(0, result)
        events = read_events(events_path)
        expected_keys = {"detail", "progress", "metric"}
        assert expected_keys == {key for event in events for key in event}
        expected_last = 1.0
        assert expected_last == [event["progress"] for event in events if "progress" in event][-1]
        metric = next(event["metric"] for event in events if "metric" in event)
        assert isinstance(metric["purged_items"], int)

    def test_runs_without_events_file(self, tmp_path: Path) -> None:
        """Without RUNNER_EVENTS the script only prints, and creates no file."""
        result = run_script(
            "maintain-mailbox", "--mailbox", "bob@example.com", "--server", "mx01", cwd=tmp_path
        )
        assert_exit(0, result)
        assert "bob@example.com" in result.stdout
        expected: list[Path] = []
        assert expected == list(tmp_path.iterdir())

    def test_missing_argument_is_a_usage_error(self) -> None:
        """Without --server the script exits 2 with a usage message naming the option."""
        result = run_script("maintain-mailbox", "--mailbox", "alice@example.com")
        assert_exit(2, result)
        assert "--server" in result.stderr


class TestResolveGroup:
    """resolve-group prints the members as JSON lines."""

    def test_prints_json_lines_with_id_and_server(self) -> None:
        """Every output line is a JSON object of non-empty strings with an id and a server."""
        result = run_script("resolve-group", DIRECTORY_GROUP)
        assert_exit(0, result)
        members = [json.loads(line) for line in result.stdout.splitlines()]
        assert members
        expected = {"id", "server"}
        for member in members:
            assert expected == set(member)
            assert all(isinstance(value, str) and value for value in member.values())

    def test_ids_are_unique(self) -> None:
        """No id is printed twice."""
        result = run_script("resolve-group", DIRECTORY_GROUP)
        ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
        assert len(set(ids)) == len(ids)

    def test_without_group_name_fails(self) -> None:
        """Without the group argument it exits 2, prints nothing on stdout, and shows its usage."""
        result = run_script("resolve-group")
        assert_exit(2, result)
        expected = ""
        assert expected == result.stdout
        assert "usage" in result.stderr


class TestSteps:
    """The start and finish steps print what they do."""

    def test_pre_check_passes(self) -> None:
        """pre-check reports each server it was given and exits 0."""
        result = run_script("pre-check", "--server", "mx01", "--server", "mx02")
        assert_exit(0, result)
        expected = 2
        assert expected == result.stdout.count("answers")

    def test_pre_check_simulated_outage(self) -> None:
        """With EXAMPLE_FAIL_PRECHECK set, pre-check exits 1 and says why."""
        result = run_script("pre-check", "--server", "mx01", env={"EXAMPLE_FAIL_PRECHECK": "1"})
        assert_exit(1, result)
        assert "EXAMPLE_FAIL_PRECHECK" in result.stderr

    def test_start_backup_exits_at_once(self) -> None:
        """start-backup names the run in its output and exits 0."""
        result = run_script("start-backup", "--run", "run-42")
        assert_exit(0, result)
        assert "run-42" in result.stdout

    def test_report_names_the_run(self) -> None:
        """report names the run in its output and exits 0."""
        result = run_script("report", "--run", "run-42")
        assert_exit(0, result)
        assert "run-42" in result.stdout

    def test_notify_never_prints_the_token(self) -> None:
        """notify names the run and says the token is set without printing its value."""
        result = run_script("notify", "run-42", env={"EXAMPLE_API_TOKEN": "s3cr3t-value"})
        assert_exit(0, result)
        assert "run-42" in result.stdout
        assert "EXAMPLE_API_TOKEN set" in result.stdout
        assert "s3cr3t-value" not in result.stdout + result.stderr

    def test_notify_without_run_id_fails(self) -> None:
        """notify without its argument exits 2 with a usage line."""
        result = run_script("notify")
        assert_exit(2, result)
        assert "usage" in result.stderr

    def test_echo_item_keeps_each_argument_whole(self) -> None:
        """echo-item prints a shell-looking id as one quoted argument."""
        result = run_script("echo-item", "x; rm -rf /", "server=mx01", env={"RUNNER_ITEM": "x"})
        assert_exit(0, result)
        expected = "echo-item 'x; rm -rf /' server=mx01"
        assert expected == result.stdout.splitlines()[0]
        assert "RUNNER_ITEM=x" in result.stdout


class TestPipelineFiles:
    """The example YAML files follow the conventions they teach."""

    def test_files_are_numbered(self) -> None:
        """The four example files exist under their numbered names, and no others."""
        expected = [
            "00-settings.yaml",
            "10-mailbox-maintenance.yaml",
            "20-archive-migration.yaml",
            "30-groups-four-ways.yaml",
        ]
        assert expected == [path.name for path in sorted(PIPELINES.glob("*.y*ml"))]

    @pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.y*ml")), ids=lambda p: p.name)
    def test_modeline_then_version(self, path: Path) -> None:
        """Every file starts with the schema modeline, then `version: 1`."""
        expected = [MODELINE, "version: 1"]
        assert expected == path.read_text(encoding="utf-8").splitlines()[:2]

    def test_settings_in_one_file_only(self) -> None:
        """Only 00-settings.yaml carries `settings`."""
        expected = ["00-settings.yaml"]
        assert expected == [p.name for p, data in load_yaml_files().items() if "settings" in data]

    def test_settings_values(self) -> None:
        """The settings are the ones the tutorial describes."""
        expected = {
            "state": ".runner/state.db",
            "logs": ".runner/logs",
            "site": "default",
            "concurrency": 4,
            "secrets": ["EXAMPLE_API_TOKEN", "EXAMPLE_ARCHIVE_PASSWORD"],
        }
        assert expected == load_yaml_files()[PIPELINES / "00-settings.yaml"]["settings"]

    def test_names_defined_once_across_files(self) -> None:
        """No schedule, group, definition, policy or task name is defined in two files."""
        seen: dict[tuple[str, str], str] = {}
        duplicates = []
        for path, data in load_yaml_files().items():
            for section in SECTIONS:
                for name in data.get(section) or {}:
                    if (section, name) in seen:
                        duplicates.append((section, name, seen[(section, name)], path.name))
                    seen[(section, name)] = path.name
        expected: list[tuple[str, str, str, str]] = []
        assert expected == duplicates

    def test_references_exist(self) -> None:
        """Every schedule, definition, group and policy a task names is defined somewhere."""
        merged = merged_sections()
        missing = []
        for task_name, task in merged["tasks"].items():
            for key, section in (
                ("schedule", "schedules"),
                ("definition", "definitions"),
                ("group", "groups"),
                ("policy", "policies"),
            ):
                if key in task and task[key] not in merged[section]:
                    missing.append((task_name, key, task[key]))
        for group_name, group in merged["groups"].items():
            missing += [
                (group_name, "include", name)
                for name in group.get("include", [])
                if name not in merged["groups"]
            ]
        expected: list[tuple[str, str, str]] = []
        assert expected == missing

    def test_commands_name_existing_scripts(self) -> None:
        """Every ./scripts/... program named in a command or step exists."""
        named: set[str] = set()
        for path in PIPELINES.glob("*.y*ml"):
            named |= set(re.findall(r"\./scripts/([a-z-]+)", path.read_text(encoding="utf-8")))
        assert named
        expected: set[str] = set()
        assert expected == named - EXPECTED_SCRIPTS

    def test_group_files_exist(self) -> None:
        """Every group `file` exists under the pipeline directory."""
        files = [group["file"] for group in merged_sections()["groups"].values() if "file" in group]
        assert files
        expected: list[str] = []
        assert expected == [name for name in files if not (PIPELINES / name).is_file()]

    def test_archives_csv_has_one_incomplete_row(self) -> None:
        """archives.csv has 25 unique ids and exactly one row lacking a server."""
        rows = archive_rows()
        expected_columns = ["id", "server", "size"]
        assert expected_columns == list(rows[0])
        expected_count = 25
        assert expected_count == len({row["id"] for row in rows}) == len(rows)
        expected_incomplete = ["arch-0021"]
        assert expected_incomplete == [row["id"] for row in rows if not row["server"]]

    def test_archives_cover_every_failure_kind(self) -> None:
        """archives.csv holds one flaky, one corrupt, one locked and one stubborn archive."""
        ids = [row["id"] for row in archive_rows()]
        kinds = ("flaky", "corrupt", "locked", "stubborn")
        expected = [1, 1, 1, 1]
        assert expected == [sum(kind in archive for archive in ids) for kind in kinds]

    def test_jsonl_group_file_is_valid(self) -> None:
        """Each line of contractors.jsonl is an object with a string id and string attributes."""
        for line in (DATA / "contractors.jsonl").read_text(encoding="utf-8").splitlines():
            member = json.loads(line)
            assert isinstance(member["id"], str)
            assert all(isinstance(value, str) for value in member.values())


class TestPipelineLoads:
    """The example pipeline passes the project's own loader and JSON Schema."""

    def test_load_pipeline(self) -> None:
        """runner.config.loader.load_pipeline accepts the examples and finds every task."""
        pipeline = load_pipeline(PIPELINES)
        expected = {
            "mailbox-maintenance",
            "archive-migration",
            "list-finance",
            "list-sales",
            "list-helpdesk",
            "list-contractors",
            "list-staff-directory",
            "list-everyone",
        }
        assert expected == set(pipeline.tasks)

    def test_json_schema(self) -> None:
        """Every example file validates against schemas/pipeline.schema.json."""
        schema_path = REPO / "schemas" / "pipeline.schema.json"
        validator = jsonschema.Draft202012Validator(
            json.loads(schema_path.read_text(encoding="utf-8"))
        )
        actual = {
            path.name: [error.message for error in validator.iter_errors(data)]
            for path, data in load_yaml_files().items()
        }
        expected: dict[str, list[str]] = {name: [] for name in actual}
        assert expected == actual
