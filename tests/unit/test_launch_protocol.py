"""The launch protocol as a child sees it: environment names, processed and events files."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

from runner.config import load_pipeline
from runner.launch import (
    AttemptFiles,
    LaunchBuilder,
    item_env,
    parse_event,
    read_events_file,
    step_env,
    write_processed,
)
from runner.state import Checkpoint

PIPELINE = """\
version: 1
groups:
  g: {members: [a]}
definitions:
  d:
    command: ["./work.sh", "{{ item.id }}"]
    env: {COLOUR: "blue-{{ item.id }}"}
tasks:
  t:
    definition: d
    group: g
    before: [{run: ["./prepare.sh"], env: {STAGE: "one"}}]
"""


def builder(tmp_path: Path) -> LaunchBuilder:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    pipeline = load_pipeline(tmp_path / "pipeline.yaml")
    return LaunchBuilder(pipeline, base_env={"PATH": "/bin"}, secrets=(), logs_dir=tmp_path)


class TestEnvironment:
    def test_an_item_attempt_gets_every_protocol_variable_of_the_spec(self, tmp_path: Path) -> None:
        """RUNNER_TASK, _ITEM, _ATTEMPT, _PREVIOUS_STATUS, _RUN_ID, _EVENTS and _PROCESSED."""
        launch = builder(tmp_path)
        definition = launch.pipeline.definitions["d"]
        files = AttemptFiles(str(tmp_path / "attempts" / "a"), 2)
        argv, extra = launch.render_item_argv(
            definition, item_id="a", attributes={}, task={}, run={}, attempt=2
        )
        spec = launch.item_launch(
            definition,
            argv=argv,
            extra_env=extra,
            files=files,
            processed=tmp_path / "done",
            protocol=item_env(
                task="t", run_id="r1", item="a", attempt=2, previous_status="interrupted"
            ),
            marker="r1/7",
        )
        assert {
            "PATH": "/bin",
            "COLOUR": "blue-a",
            "RUNNER_TASK": "t",
            "RUNNER_ITEM": "a",
            "RUNNER_ATTEMPT": "2",
            "RUNNER_PREVIOUS_STATUS": "interrupted",
            "RUNNER_RUN_ID": "r1",
            "RUNNER_EVENTS": files.path("events.jsonl"),
            "RUNNER_PROCESSED": str(tmp_path / "done"),
        } == dict(spec.env)

    def test_a_first_attempt_has_an_empty_previous_status(self) -> None:
        """RUNNER_PREVIOUS_STATUS is set but empty when there was no earlier attempt."""
        env = item_env(task="t", run_id="r1", item="a", attempt=1, previous_status=None)
        assert ("1", "") == (env["RUNNER_ATTEMPT"], env["RUNNER_PREVIOUS_STATUS"])

    def test_a_step_gets_task_run_and_step(self, tmp_path: Path) -> None:
        """A start step knows its task, run and place; it has no events or processed file."""
        launch = builder(tmp_path)
        step = launch.pipeline.tasks["t"].before[0]
        spec = launch.step_launch(
            step,
            task={},
            run={},
            outputs=(tmp_path / "o", tmp_path / "e"),
            protocol=step_env(task="t", run_id="r1", step="before[0]"),
            marker="r1/before-0",
        )
        assert {
            "PATH": "/bin",
            "STAGE": "one",
            "RUNNER_TASK": "t",
            "RUNNER_RUN_ID": "r1",
            "RUNNER_STEP": "before[0]",
        } == dict(spec.env)


class TestFiles:
    def test_processed_file_lists_one_sub_id_a_line_privately(self, tmp_path: Path) -> None:
        """The RUNNER_PROCESSED file: every sub-id on its own line, mode 0600."""
        path = tmp_path / "processed"
        write_processed(path, ["x", "y z", "ü"])
        mode = stat.S_IMODE(path.stat().st_mode)
        assert ("x\ny z\nü\n", 0o600) == (path.read_text(encoding="utf-8"), mode)

    def test_merge_reads_complete_lines_after_those_recorded(self, tmp_path: Path) -> None:
        """Crash merge: skips the recorded lines and blank ones, ignores an unterminated last line."""
        path = tmp_path / "events.jsonl"
        path.write_bytes(
            textwrap.dedent(
                """\
                {"processed": "s1"}

                {"processed": "s2"}
                {"progress": 0.5}
                not json
                {"detail": "half"""
            ).encode()
        )
        assert [
            Checkpoint("processed", "s2"),
            Checkpoint("progress", "0.5"),
            Checkpoint("invalid", "not json"),
        ] == list(read_events_file(path, skip_lines=1))

    def test_merge_of_a_missing_file_is_empty(self, tmp_path: Path) -> None:
        """A child that never wrote an events file has nothing to merge."""
        assert [] == list(read_events_file(tmp_path / "absent", skip_lines=0))


class TestEvents:
    def test_a_processed_sub_id_must_be_one_non_empty_line(self) -> None:
        """An empty sub-id or one with a line break cannot be listed in RUNNER_PROCESSED."""
        assert parse_event(b'{"processed": "a"}') == Checkpoint("processed", "a")
        for line in (b'{"processed": ""}', b'{"processed": "a\\nb"}', b'{"processed": "a\\rb"}'):
            assert parse_event(line) == Checkpoint("invalid", line.decode())
