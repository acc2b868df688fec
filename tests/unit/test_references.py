"""Tests of runner.config.references: names that must exist, include cycles, group files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from runner.config.loader import load_pipeline
from runner.config.references import Catalog, check_references, include_cycles, suggestion
from runner.config.yamlread import KeyPath, format_key_path
from runner.errors import ConfigError, Location


def locate(section: str, name: str, sub: KeyPath) -> Location:
    """A location naming only the key path (these tests have no files)."""
    return Location(key_path=format_key_path((section, name, *sub)))


def catalog(
    root: Path,
    sections: Mapping[str, Mapping[str, Mapping[str, object]]],
    *,
    complete: bool = True,
) -> Catalog:
    """A catalog of the given raw sections."""
    return Catalog(root=root, sections=sections, locate=locate, complete=complete)


def problems(found: Catalog) -> list[str]:
    """The issues of a catalog as `key.path: message`."""
    return [f"{issue.location.key_path}: {issue.message}" for issue in check_references(found)]


TASK = {"definition": "ping", "group": "hosts"}
BASE: dict[str, Mapping[str, Mapping[str, object]]] = {
    "groups": {"hosts": {"members": "a"}},
    "definitions": {"ping": {"command": ["echo"]}},
}


class TestSuggestion:
    """Hints for names that are not defined."""

    def test_nearest_name(self) -> None:
        """A close name is suggested."""
        assert "; did you mean 'weeknights'?" == suggestion("weeknight", ["weeknights", "daily"])

    def test_nothing_defined(self) -> None:
        """With nothing defined, the hint says where to define it."""
        expected = "; no policies are defined: define it under `policies:`"
        assert expected == suggestion("careful", [], "policies", "policies")

    def test_lists_what_is_defined_when_nothing_is_close(self) -> None:
        """Without a close name, the defined names are listed (at most eight)."""
        names = [f"n{i}" for i in range(10)]
        assert "; the groups defined are: a, b" == suggestion("zzz", ["b", "a"], "groups")
        assert suggestion("zzzz", names, "groups").endswith(", ...")


class TestTaskReferences:
    """A task's schedule, definition, group and policy must exist."""

    def test_all_present_is_fine(self, tmp_path: Path) -> None:
        """A task naming defined entries has no issue."""
        found = catalog(tmp_path, {"tasks": {"t": TASK}, **BASE})
        assert [] == problems(found)

    def test_each_unknown_reference_is_reported(self, tmp_path: Path) -> None:
        """Every unknown name is reported at its field, with a suggestion."""
        task = {"schedule": "nightly", "definition": "pong", "group": "host", "policy": "x"}
        found = catalog(
            tmp_path, {"tasks": {"t": task}, "schedules": {"nighty": {"cron": "@daily"}}, **BASE}
        )
        assert [
            "tasks.t.schedule: unknown schedule 'nightly'; did you mean 'nighty'?",
            "tasks.t.definition: unknown definition 'pong'; did you mean 'ping'?",
            "tasks.t.group: unknown group 'host'; did you mean 'hosts'?",
            "tasks.t.policy: unknown policy 'x'; no policies are defined: define it under "
            "`policies:`",
        ] == problems(found)

    def test_optional_references_may_be_absent(self, tmp_path: Path) -> None:
        """A task without schedule or policy is fine."""
        found = catalog(tmp_path, {"tasks": {"t": {**TASK, "schedule": None}}, **BASE})
        assert [] == problems(found)

    def test_non_text_references_are_left_to_validation(self, tmp_path: Path) -> None:
        """A reference of the wrong type is a validation error, not a reference error."""
        found = catalog(tmp_path, {"tasks": {"t": {**TASK, "group": 5}}, **BASE})
        assert [] == problems(found)

    def test_incomplete_catalog_skips_unknown_names(self, tmp_path: Path) -> None:
        """When a file could not be read, unknown names are not reported."""
        sections = {"tasks": {"t": {**TASK, "group": "elsewhere"}}, **BASE}
        found = catalog(tmp_path, sections, complete=False)
        assert [] == problems(found)


class TestIncludes:
    """Group includes: names that exist, no cycles."""

    def test_unknown_include(self, tmp_path: Path) -> None:
        """An included group that does not exist is reported at its list entry."""
        groups = {"all": {"include": ["sales", "finanse"]}, "sales": {}, "finance": {}}
        assert ["groups.all.include[1]: unknown group 'finanse'; did you mean 'finance'?"] == (
            problems(catalog(tmp_path, {"groups": groups}))
        )

    def test_cycle_message_shows_the_cycle(self, tmp_path: Path) -> None:
        """A cycle is reported once, as a -> b -> a, at the include that starts it."""
        groups = {"a": {"include": ["b"]}, "b": {"include": ["a"]}}
        assert [
            "groups.a.include[0]: groups include each other in a cycle: a -> b -> a; remove one "
            "of these includes"
        ] == problems(catalog(tmp_path, {"groups": groups}))

    def test_incomplete_catalog_still_finds_cycles(self, tmp_path: Path) -> None:
        """Cycles among known groups are reported even when names may be missing."""
        groups = {"a": {"include": ["a", "unknown"]}}
        expected = (
            "groups.a.include[0]: groups include each other in a cycle: a -> a; remove one of "
            "these includes"
        )
        assert [expected] == problems(catalog(tmp_path, {"groups": groups}, complete=False))

    @pytest.mark.parametrize(
        ("includes", "expected"),
        [
            ({"a": ["b"], "b": ["c"], "c": []}, []),
            ({"a": ["a"]}, [("a", "a")]),
            ({"a": ["b"], "b": ["a"]}, [("a", "b", "a")]),
            ({"c": ["a"], "a": ["b"], "b": ["c"]}, [("a", "b", "c", "a")]),
            ({"top": ["l", "r"], "l": ["base"], "r": ["base"], "base": []}, []),
            (
                {"a": ["b", "x"], "b": ["a"], "c": ["d"], "d": ["c"]},
                [("a", "b", "a"), ("c", "d", "c")],
            ),
            ({"a": ["missing"]}, []),
        ],
    )
    def test_include_cycles(
        self, includes: dict[str, list[str]], expected: list[tuple[str, ...]]
    ) -> None:
        """Every distinct cycle is found once, starting at its smallest name."""
        assert expected == include_cycles(includes)

    def test_long_chain_does_not_recurse(self) -> None:
        """A chain of 10,000 includes is walked without recursion limits."""
        includes = {f"g{i}": [f"g{i + 1}"] for i in range(10_000)}
        includes["g10000"] = ["g0"]
        cycles = include_cycles(includes)
        assert 1 == len(cycles)
        assert 10_002 == len(cycles[0])


class TestGroupFiles:
    """A group's member file must exist; relative ones stay inside the pipeline directory."""

    def groups_with(self, written: str) -> dict[str, Mapping[str, object]]:
        """A single group `g` reading ``written``."""
        return {"g": {"file": written}}

    def test_existing_file_is_fine(self, tmp_path: Path) -> None:
        """A file inside the root that exists is fine."""
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "m.csv").write_text("id\n")
        assert [] == problems(catalog(tmp_path, {"groups": self.groups_with("data/m.csv")}))

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that does not exist is reported with the path looked at."""
        expected = (
            f"groups.g.file: the member file 'm.csv' does not exist ({tmp_path / 'm.csv'}); "
            "create it or fix the path"
        )
        assert [expected] == problems(catalog(tmp_path, {"groups": self.groups_with("m.csv")}))

    def test_relative_path_leaving_the_root(self, tmp_path: Path) -> None:
        """A relative path out of the pipeline directory is refused, even if the file exists."""
        root = tmp_path / "pipe"
        root.mkdir()
        (tmp_path / "m.csv").write_text("id\n")
        assert [
            "groups.g.file: the member file '../m.csv' is outside the pipeline directory; write "
            "it as an absolute path if you mean that file"
        ] == problems(catalog(root, {"groups": self.groups_with("../m.csv")}))

    def test_symlink_leaving_the_root(self, tmp_path: Path) -> None:
        """A relative path through a symlink out of the root is refused too."""
        root = tmp_path / "pipe"
        root.mkdir()
        (tmp_path / "outside").mkdir()
        (tmp_path / "outside" / "m.csv").write_text("id\n")
        (root / "link").symlink_to(tmp_path / "outside")
        assert 1 == len(problems(catalog(root, {"groups": self.groups_with("link/m.csv")})))

    def test_absolute_path_outside_is_allowed(self, tmp_path: Path) -> None:
        """An absolute path may point anywhere, if the file exists."""
        root = tmp_path / "pipe"
        root.mkdir()
        (tmp_path / "m.csv").write_text("id\n")
        written = str(tmp_path / "m.csv")
        assert [] == problems(catalog(root, {"groups": self.groups_with(written)}))

    def test_directory_is_not_a_file(self, tmp_path: Path) -> None:
        """A directory named as member file is reported."""
        (tmp_path / "m.csv").mkdir()
        found = problems(catalog(tmp_path, {"groups": self.groups_with("m.csv")}))
        assert 1 == len(found)
        assert "is not a file" in found[0]


class TestThroughTheLoader:
    """The loader runs the reference checks with real locations."""

    def test_reference_issue_is_located_at_the_value(self, tmp_path: Path) -> None:
        """An unknown group is reported at the task's `group` value."""
        path = tmp_path / "p.yaml"
        path.write_text(
            "version: 1\ndefinitions:\n  d: {command: [echo]}\n"
            "groups:\n  hosts: {members: a}\ntasks:\n  t:\n    definition: d\n    group: host\n"
        )
        with pytest.raises(ConfigError) as caught:
            load_pipeline(path)
        assert [f"{path}:9:12: tasks.t.group: unknown group 'host'; did you mean 'hosts'?"] == [
            str(issue) for issue in caught.value.issues
        ]

    def test_invalid_entries_still_count_as_defined(self, tmp_path: Path) -> None:
        """A group with a validation error is not also reported as unknown."""
        path = tmp_path / "p.yaml"
        path.write_text(
            "version: 1\ndefinitions:\n  d: {command: [echo]}\n"
            "groups:\n  hosts: {members: 5}\ntasks:\n  t: {definition: d, group: hosts}\n"
        )
        with pytest.raises(ConfigError) as caught:
            load_pipeline(path)
        assert ["groups.hosts.members"] == [i.location.key_path for i in caught.value.issues]
