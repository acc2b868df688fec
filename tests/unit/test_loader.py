"""Tests of runner.config.loader: discovery, validation messages, merging, collecting issues."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.definitions import Definition
from runner.config.groups import Group
from runner.config.loader import load_pipeline, pipeline_files
from runner.config.pipeline import Pipeline
from runner.config.settings import Settings
from runner.config.tasks import Task
from runner.errors import ConfigError, Location

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "valid"

MINIMAL = """\
version: 1
groups:
  hosts: {members: "alpha; beta"}
definitions:
  ping:
    command: [echo, "{{ item.id }}"]
tasks:
  ping-hosts:
    definition: ping
    group: hosts
"""

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write a dedented YAML text to ``tmp_path/name`` and return its path."""

    def _write(text: str, name: str = "p.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


def issues_of(path: Path | str) -> list[str]:
    """The messages (with key path, without file place) of the ConfigError loading ``path``."""
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    return [
        f"{issue.location.key_path}: {issue.message}" if issue.location.key_path else issue.message
        for issue in caught.value.issues
    ]


def places_of(path: Path | str) -> list[tuple[int | None, int | None]]:
    """The (line, column) of each issue loading ``path``."""
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    return [(issue.location.line, issue.location.column) for issue in caught.value.issues]


class TestDiscovery:
    """Which files a path stands for."""

    def test_a_file_is_read_alone(self, write: Write) -> None:
        """A file path gives that file; the root is its directory."""
        path = write(MINIMAL)
        root, files = pipeline_files(path)
        assert (path.parent.absolute(), (path,)) == (root, files)

    def test_a_directory_gives_its_yaml_files_in_name_order(self, tmp_path: Path) -> None:
        """*.yaml and *.yml directly inside, sorted by name; others, hidden and subdirs skipped."""
        for name in ("b.yml", "a.yaml", "c.txt", ".hidden.yaml", "sub/d.yaml"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("version: 1\n")
        root, files = pipeline_files(tmp_path)
        assert tmp_path.absolute() == root
        assert ["a.yaml", "b.yml"] == [file.name for file in files]

    def test_paths_keep_the_form_given(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Relative paths stay relative, so messages print them as typed."""
        (tmp_path / "pipes").mkdir()
        (tmp_path / "pipes" / "a.yaml").write_text(MINIMAL)
        monkeypatch.chdir(tmp_path)
        _root, files = pipeline_files("pipes")
        assert (Path("pipes/a.yaml"),) == files

    def test_missing_path_is_a_config_error(self, tmp_path: Path) -> None:
        """A path that does not exist is reported, naming it."""
        missing = tmp_path / "nope"
        with pytest.raises(ConfigError) as caught:
            load_pipeline(missing)
        assert [
            f"{missing}: no such file or directory; give a pipeline file or a directory of them"
        ] == [str(issue) for issue in caught.value.issues]

    def test_directory_without_yaml_is_a_config_error(self, tmp_path: Path) -> None:
        """A directory with no pipeline file is reported."""
        (tmp_path / "notes.txt").write_text("x")
        assert [
            "the directory holds no pipeline file (*.yaml or *.yml); give a pipeline file "
            "or a directory of them"
        ] == issues_of(tmp_path)


class TestLoading:
    """Valid pipelines load into a frozen Pipeline."""

    def test_minimal_pipeline(self, write: Write) -> None:
        """The models are built and defaults filled in."""
        path = write(MINIMAL)
        pipeline = load_pipeline(path)
        assert isinstance(pipeline, Pipeline)
        assert (path,) == pipeline.files
        assert path.parent.absolute() == pipeline.root
        assert Settings() == pipeline.settings
        assert ["ping-hosts"] == list(pipeline.tasks)
        assert isinstance(pipeline.tasks["ping-hosts"], Task)
        assert isinstance(pipeline.groups["hosts"], Group)
        assert isinstance(pipeline.definitions["ping"], Definition)
        assert {} == dict(pipeline.schedules)

    def test_origins_name_where_each_entry_was_defined(self, write: Write) -> None:
        """origin(section, name) gives the file, line and column of the name."""
        path = write(MINIMAL)
        pipeline = load_pipeline(path)
        assert Location(path, 8, 3, "tasks.ping-hosts") == pipeline.origin("tasks", "ping-hosts")
        assert Location(path, 3, 3, "groups.hosts") == pipeline.origin("groups", "hosts")

    def test_mappings_are_read_only(self, write: Write) -> None:
        """The engine cannot change the loaded sections."""
        pipeline = load_pipeline(write(MINIMAL))
        with pytest.raises(TypeError):
            pipeline.tasks["x"] = pipeline.tasks["ping-hosts"]  # type: ignore[index]

    def test_full_fixture_loads(self) -> None:
        """Every section of the valid full fixture loads."""
        pipeline = load_pipeline(FIXTURES / "full.yaml")
        assert ["weeknights", "daily"] == list(pipeline.schedules)
        assert ["sales", "finance", "archives", "everyone"] == list(pipeline.groups)
        assert 1 == len(pipeline.tasks)
        assert 4 == pipeline.tasks["nightly-replication"].concurrency
        assert 5400.0 == pipeline.tasks["nightly-replication"].before[1].timeout

    def test_directory_merges_into_one_namespace(self) -> None:
        """A task in one file may use a group of another; settings come from their one file."""
        pipeline = load_pipeline(FIXTURES / "split")
        assert ["10-groups.yaml", "20-tasks.yaml"] == [file.name for file in pipeline.files]
        assert 2 == pipeline.settings.concurrency
        assert "hosts" == pipeline.tasks["ping-hosts"].group
        assert "20-tasks.yaml" == Path(str(pipeline.origin("tasks", "ping-hosts").file)).name

    def test_same_name_in_two_sections_is_fine(self, write: Write) -> None:
        """Sections are separate namespaces."""
        pipeline = load_pipeline(
            write(
                """\
                version: 1
                groups:
                  ping: {members: "a"}
                definitions:
                  ping: {command: [echo]}
                tasks:
                  ping: {definition: ping, group: ping}
                """
            )
        )
        assert ["ping"] == list(pipeline.tasks)

    def test_durations_written_as_clock_time_load(self, write: Write) -> None:
        """An unquoted HH:MM:SS is a duration, not a YAML 1.1 number."""
        pipeline = load_pipeline(
            write(MINIMAL + "    before:\n      - {run: [a], timeout: 01:30:00}\n")
        )
        assert 5400.0 == pipeline.tasks["ping-hosts"].before[0].timeout

    def test_merge_keys_work_in_pipelines(self, write: Write) -> None:
        """YAML anchors and `<<` merges can share step settings."""
        pipeline = load_pipeline(
            write(
                MINIMAL
                + "    before:\n"
                + "      - &step {run: [a], timeout: 5m, on_failure: error}\n"
                + "      - {<<: *step, run: [b]}\n"
            )
        )
        steps = pipeline.tasks["ping-hosts"].before
        assert (["b"], 300.0, "error") == (steps[1].run, steps[1].timeout, steps[1].on_failure)

    def test_large_inline_group(self, write: Write) -> None:
        """100,000 inline members load."""
        members = "\n".join(f"      - user{i}@example.com" for i in range(100_000))
        text = MINIMAL.replace(
            '  hosts: {members: "alpha; beta"}', "  hosts:\n    members:\n" + members
        )
        pipeline = load_pipeline(write(text))
        members_loaded = pipeline.groups["hosts"].members
        assert isinstance(members_loaded, list)
        assert 100_000 == len(members_loaded)

    def test_group_file_is_not_read(self, write: Write, tmp_path: Path) -> None:
        """A group file must exist but its content is not read here (not even a broken one)."""
        (tmp_path / "members.csv").write_bytes(b"\xff\xfe not a csv at all")
        text = MINIMAL.replace('{members: "alpha; beta"}', "{file: members.csv}")
        assert "members.csv" == load_pipeline(write(text)).groups["hosts"].file


class TestValidationMessages:
    """Pydantic errors become located, plain sentences."""

    def test_unknown_key_lists_keys_and_suggests(self, write: Write) -> None:
        """An unknown key names the model, the keys allowed and the nearest one."""
        path = write(MINIMAL + "    before:\n      - {run: [a], tiemout: 5m}\n")
        assert [
            "tasks.ping-hosts.before[0].tiemout: unknown key 'tiemout' in a step; expected one "
            "of: run, shell, timeout, wait, on_failure, env, cwd; did you mean 'timeout'?"
        ] == issues_of(path)
        assert [(12, 20)] == places_of(path)

    def test_number_where_text_is_expected(self, write: Write) -> None:
        """A number for a text field says to quote it."""
        path = write(MINIMAL.replace("[echo,", "[404,"))
        assert [
            "definitions.ping.command[0]: expected a string, got the number 404: quote it ('404')"
        ] == issues_of(path)

    def test_text_where_an_integer_is_expected(self, write: Write) -> None:
        """Quoted digits for an integer field say to remove the quotes."""
        path = write(MINIMAL + '    concurrency: "4"\n')
        assert [
            "tasks.ping-hosts.concurrency: expected an integer, got text '4': remove the quotes"
        ] == issues_of(path)

    def test_words_where_an_integer_is_expected(self, write: Write) -> None:
        """Text for an integer field says what was expected."""
        path = write(MINIMAL + "    concurrency: four\n")
        assert ["tasks.ping-hosts.concurrency: expected an integer, got text 'four'"] == issues_of(
            path
        )

    def test_bound_violations(self, write: Write) -> None:
        """A value under a minimum says the bound."""
        path = write(MINIMAL + "    concurrency: 0\n")
        assert ["tasks.ping-hosts.concurrency: must be at least 1, got the number 0"] == issues_of(
            path
        )

    def test_missing_required_key_is_located_at_its_parent(self, write: Write) -> None:
        """A missing key is reported at the key of the mapping that lacks it."""
        path = write(MINIMAL.replace("    definition: ping\n", ""))
        assert ["tasks.ping-hosts: missing required key 'definition' in a task"] == issues_of(path)
        assert [(8, 3)] == places_of(path)

    def test_literal_suggests_the_nearest_choice(self, write: Write) -> None:
        """A wrong choice lists the choices and suggests the nearest."""
        path = write(MINIMAL + "    mode: recuring\n")
        assert [
            "tasks.ping-hosts.mode: expected one of: recurring, once; got text 'recuring'; "
            "did you mean 'recurring'?"
        ] == issues_of(path)

    def test_missing_version(self, write: Write) -> None:
        """A file without version says to add it."""
        path = write(MINIMAL.replace("version: 1\n", ""))
        assert ["missing required key 'version'; add 'version: 1' at the top of the file"] == (
            issues_of(path)
        )

    def test_version_2(self, write: Write) -> None:
        """Only version 1 is read."""
        path = write(MINIMAL.replace("version: 1", "version: 2"))
        assert [
            "version: version must be 1, got the number 2: this runner reads version 1 "
            "pipeline files"
        ] == issues_of(path)

    def test_union_reports_only_the_branch_that_applies(self, write: Write) -> None:
        """A member mapping with a bad attribute is not also told it should be a string."""
        path = write(MINIMAL.replace('"alpha; beta"', "[alpha, {id: beta, server: 5}]"))
        assert ["groups.hosts.members[1]: attribute 'server' must be a string, quote it"] == (
            issues_of(path)
        )

    def test_union_of_types_lists_what_is_accepted(self, write: Write) -> None:
        """A value matching no branch of a union lists every accepted type once."""
        path = write(MINIMAL.replace('"alpha; beta"', "5"))
        assert [
            "groups.hosts.members: expected a string or a list, got the number 5: quote it ('5')"
        ] == issues_of(path)

    def test_text_where_a_list_is_expected(self, write: Write) -> None:
        """A command written as text says to write a list."""
        path = write(MINIMAL.replace('[echo, "{{ item.id }}"]', "echo"))
        assert [
            "definitions.ping.command: expected a list, got text 'echo': write it as a list, "
            "e.g. [echo]"
        ] == issues_of(path)

    def test_bad_name_is_located_at_the_key(self, write: Write) -> None:
        """A name with bad characters is reported at the name."""
        path = write(MINIMAL.replace("  ping-hosts:", "  'ping hosts':"))
        assert [(8, 3)] == places_of(path)

    def test_trap_is_not_reported_twice(self, write: Write) -> None:
        """`shell: yes` gives the YAML 1.1 message only, not also a type error."""
        path = write(MINIMAL + "    enabled: yes\n")
        assert [
            "tasks.ping-hosts.enabled: YAML 1.1 reads yes as a boolean; quote it ('yes') if "
            "you meant text, or write true/false"
        ] == issues_of(path)

    def test_refused_tag_is_not_reported_twice(self, write: Write) -> None:
        """A tagged group gives the tag message only, not also a type error for its content."""
        path = write(MINIMAL.replace('{members: "alpha; beta"}', "!!python/object:x [a]"))
        assert [
            "groups.hosts: tag !!python/object:x not allowed; pipeline files hold plain "
            "text, numbers, true/false, lists and mappings only"
        ] == issues_of(path)

    def test_duplicate_key_keeps_validating_the_first_value(self, write: Write) -> None:
        """After a duplicate key, the value kept is still validated."""
        path = write(MINIMAL + "    concurrency: 0\n    concurrency: 2\n")
        assert [
            "tasks.ping-hosts.concurrency: must be at least 1, got the number 0",
            "tasks.ping-hosts.concurrency: duplicate key 'concurrency': written at line 11 and "
            "again at line 12; keep one",
        ] == issues_of(path)

    def test_null_section_says_how_to_write_an_empty_one(self, write: Write) -> None:
        """`schedules:` with nothing says to write {}."""
        path = write(MINIMAL + "schedules:\n")
        assert [
            "schedules: expected a mapping, got nothing (null): write {} for an empty one, "
            "or remove the key"
        ] == issues_of(path)


class TestMerging:
    """Names across files."""

    def test_name_defined_twice_names_both_places(self, tmp_path: Path) -> None:
        """The second definition is reported with both file:line:column places."""
        (tmp_path / "a.yaml").write_text(MINIMAL)
        (tmp_path / "b.yaml").write_text(
            "version: 1\ntasks:\n  ping-hosts: {definition: ping, group: hosts}\n"
        )
        a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
        assert [
            f"tasks.ping-hosts: task 'ping-hosts' is defined twice: {a}:8:3 and {b}:3:3; "
            "rename or remove one"
        ] == issues_of(tmp_path)

    def test_settings_in_two_files(self, tmp_path: Path) -> None:
        """Only one file may carry settings."""
        (tmp_path / "a.yaml").write_text(MINIMAL + "settings: {concurrency: 2}\n")
        (tmp_path / "b.yaml").write_text("version: 1\nsettings: {concurrency: 3}\n")
        a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
        assert [
            f"settings: settings are set in two files: {a}:11:1 and {b}:2:1; keep them in one file"
        ] == issues_of(tmp_path)

    def test_reference_to_another_file(self, tmp_path: Path) -> None:
        """A reference is resolved across the files of a directory."""
        (tmp_path / "a.yaml").write_text("version: 1\ngroups:\n  hosts: {members: a}\n")
        (tmp_path / "b.yaml").write_text(
            "version: 1\ndefinitions:\n  ping: {command: [echo]}\n"
            "tasks:\n  t: {definition: ping, group: hosts}\n"
        )
        pipeline = load_pipeline(tmp_path)
        assert (["hosts"], ["t"]) == (list(pipeline.groups), list(pipeline.tasks))

    def test_unknown_names_are_not_reported_when_a_file_is_unreadable(self, tmp_path: Path) -> None:
        """A broken file may define the names others use: only its own error is reported."""
        (tmp_path / "a.yaml").write_text("version: 1\ngroups:\n  hosts: {members: [a}\n")
        (tmp_path / "b.yaml").write_text(
            "version: 1\ndefinitions:\n  ping: {command: [echo]}\n"
            "tasks:\n  t: {definition: ping, group: hosts}\n"
        )
        issues = issues_of(tmp_path)
        assert 1 == len(issues)
        assert issues[0].startswith("YAML syntax error")


class TestCollectingEveryIssue:
    """All issues of all files come in one ConfigError, sorted."""

    def test_issues_of_every_file_sorted_by_file_line_column(self, tmp_path: Path) -> None:
        """Issues are sorted by file, then line, then column."""
        (tmp_path / "b.yaml").write_text("version: 1\nsettings: {concurency: 1, site: NO}\n")
        (tmp_path / "a.yaml").write_text(
            "version: 1\ntasks:\n  t: {definition: d, group: g, mode: x}\nfoo: 1\n"
        )
        with pytest.raises(ConfigError) as caught:
            load_pipeline(tmp_path)
        places = [
            (Path(str(i.location.file)).name, i.location.line, i.location.column)
            for i in caught.value.issues
        ]
        assert sorted(places, key=lambda p: (p[0], p[1] or 0, p[2] or 0)) == places
        assert {"a.yaml", "b.yaml"} == {place[0] for place in places}
        assert 6 <= len(places)

    def test_error_text_lists_every_issue(self, write: Write) -> None:
        """str(ConfigError) has a count line and one line per issue."""
        path = write(MINIMAL + "    mode: x\n    concurrency: 0\n")
        with pytest.raises(ConfigError) as caught:
            load_pipeline(path)
        lines = str(caught.value).splitlines()
        assert "2 errors in the pipeline configuration" == lines[0]
        assert lines[1].startswith(f"  {path}:11:11: tasks.ping-hosts.mode:")
        assert lines[2].startswith(f"  {path}:12:18: tasks.ping-hosts.concurrency:")


class TestFixedTemplateNames:
    """An attribute `task`, `run` or `attempt` cannot have is found at load, with its place."""

    def test_unknown_run_attribute_is_a_located_config_error(self, write: Write) -> None:
        path = write(
            """\
            version: 1
            groups:
              g: {members: [a]}
            definitions:
              d:
                command:
                  - /bin/echo
                  - "{{ run.nosuch }}"
            tasks:
              t: {definition: d, group: g}
            """
        )
        (message,) = issues_of(path)
        assert "definitions.d.command[1]" in message
        assert "run.nosuch is not allowed" in message
        assert places_of(path) == [(8, 9)]


class TestGroupSourcesOutsideTheYaml:
    """A group that could never resolve is found by validate: a CSV without `id`, a missing resolver."""

    def test_csv_file_without_an_id_column(self, write: Write, tmp_path: Path) -> None:
        (tmp_path / "g.csv").write_text("ID,server\na,ex01\n")
        path = write(
            """\
            version: 1
            groups:
              g: {file: g.csv}
            """
        )
        (message,) = issues_of(path)
        assert message.startswith("groups.g.file: ")
        assert "g.csv:1: the header has no 'id' column (is 'ID' meant to be 'id'?)" in message

    def test_empty_csv_file(self, write: Write, tmp_path: Path) -> None:
        (tmp_path / "g.csv").write_text("")
        path = write("version: 1\ngroups:\n  g: {file: g.csv}\n")
        (message,) = issues_of(path)
        assert "is empty; its first line must name the columns" in message

    def test_csv_file_with_an_id_column_loads(self, write: Write, tmp_path: Path) -> None:
        (tmp_path / "g.csv").write_text("server,id\nex01,a\n")
        load_pipeline(write("version: 1\ngroups:\n  g: {file: g.csv}\n"))

    @pytest.mark.parametrize(
        ("program", "expected"),
        [
            ("./no-such-resolver", "the resolver program './no-such-resolver' does not exist"),
            ("no-such-resolver-on-path", "'no-such-resolver-on-path' is not found on PATH"),
            ("./not-executable", "the resolver program './not-executable' is not executable"),
        ],
    )
    def test_missing_resolver_program(
        self, write: Write, tmp_path: Path, program: str, expected: str
    ) -> None:
        (tmp_path / "not-executable").write_text("#!/bin/sh\necho a\n")
        path = write(f'version: 1\ngroups:\n  g: {{command: ["{program}", "--all"]}}\n')
        (message,) = issues_of(path)
        assert message.startswith("groups.g.command[0]: ")
        assert expected in message
        assert places_of(path) == [(3, 17)]

    def test_resolver_found_by_path_or_on_path_loads(self, write: Write, tmp_path: Path) -> None:
        resolver = tmp_path / "bin" / "resolve"
        resolver.parent.mkdir()
        resolver.write_text("#!/bin/sh\necho a\n")
        resolver.chmod(0o755)
        load_pipeline(write('version: 1\ngroups:\n  g: {command: ["./bin/resolve"]}\n'))
        load_pipeline(write('version: 1\ngroups:\n  g: {command: ["sh", "-c", "echo a"]}\n'))
