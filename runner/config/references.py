"""Cross-reference checks between the sections of a pipeline.

A task's schedule, definition, group and policy must name entries that exist; a group's
`include` must name groups that exist and must not form a cycle; a group's member `file` must
exist, and a relative one must stay inside the pipeline directory; a CSV member file needs an
`id` column; a resolver `command`'s program must exist; a task's limit per attribute must name
an attribute its group's inline members supply (other groups are known only at run time). A
misspelt name gets the nearest defined one as a suggestion.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from runner.config.controls import ATTRIBUTE_PATTERN
from runner.config.sources import csv_file_problem, program_problem
from runner.config.yamlread import KeyPath
from runner.errors import ConfigIssue, Location

__all__ = ["Catalog", "Locate", "check_references", "include_cycles", "suggestion"]

Locate = Callable[[str, str, KeyPath], Location]
"""Where ``(section, name, sub-path)`` was written, e.g. ``("tasks", "nightly", ("group",))``."""

_TASK_REFERENCES: Final = (
    ("schedule", "schedules", "schedule"),
    ("definition", "definitions", "definition"),
    ("group", "groups", "group"),
    ("policy", "policies", "policy"),
)
"""(task field, section it names an entry of, what that entry is called)."""

_LISTED_NAMES: Final = 8
"""How many defined names a message lists when no close match exists."""


@dataclass(frozen=True)
class Catalog:
    """Every name of every section with its entry as written (a mapping; {} when it is not one).

    The checks work on the written data, not on validated models, so an entry with a
    validation error still has its references checked, and still counts as defined.
    ``complete`` is false when some file or section could not be read: names may then be
    missing, so "unknown name" checks are skipped rather than reported wrongly.
    """

    root: Path
    sections: Mapping[str, Mapping[str, Mapping[str, object]]]
    locate: Locate
    complete: bool = True

    def names(self, section: str) -> Mapping[str, Mapping[str, object]]:
        """The entries of ``section`` (empty when the section is not in the catalog)."""
        return self.sections.get(section, {})


def suggestion(name: str, choices: Sequence[str], what: str = "names", section: str = "") -> str:
    """A hint for a name that is not defined: the nearest defined one, else what is defined."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not choices:
        where = f" under `{section}:`" if section else ""
        return f"; no {what} are defined: define it{where}"
    shown = sorted(choices)[:_LISTED_NAMES]
    more = ", ..." if len(choices) > _LISTED_NAMES else ""
    return f"; the {what} defined are: {', '.join(shown)}{more}"


def check_references(catalog: Catalog) -> list[ConfigIssue]:
    """Every cross-reference problem of the pipeline described by ``catalog``."""
    issues: list[ConfigIssue] = []
    issues.extend(_task_references(catalog))
    issues.extend(_group_includes(catalog))
    issues.extend(_group_files(catalog))
    issues.extend(_group_commands(catalog))
    issues.extend(_limit_attributes(catalog))
    return issues


def _task_references(catalog: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if not catalog.complete:
        return issues
    for task_name, task in catalog.names("tasks").items():
        for field_name, section, noun in _TASK_REFERENCES:
            target = task.get(field_name)
            if not isinstance(target, str) or target in catalog.names(section):
                continue
            defined = list(catalog.names(section))
            issues.append(
                ConfigIssue(
                    catalog.locate("tasks", task_name, (field_name,)),
                    f"unknown {noun} {target!r}" + suggestion(target, defined, section, section),
                )
            )
    return issues


def _strings(value: object) -> list[str]:
    """The text entries of a list as written (other entries are validation errors)."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, str)]


def _group_includes(catalog: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    groups = catalog.names("groups")
    includes: dict[str, list[str]] = {}
    for name, group in groups.items():
        written = group.get("include")
        includes[name] = _strings(written)
        if not catalog.complete or not isinstance(written, list):
            continue
        for index, included in enumerate(written):
            if isinstance(included, str) and included not in groups:
                issues.append(
                    ConfigIssue(
                        catalog.locate("groups", name, ("include", index)),
                        f"unknown group {included!r}"
                        + suggestion(included, list(groups), "groups", "groups"),
                    )
                )
    for cycle in include_cycles(includes):
        first, second = cycle[0], cycle[1]
        written = groups[first].get("include")
        index = written.index(second) if isinstance(written, list) else 0
        issues.append(
            ConfigIssue(
                catalog.locate("groups", first, ("include", index)),
                f"groups include each other in a cycle: {' -> '.join(cycle)}; "
                "remove one of these includes",
            )
        )
    return issues


def include_cycles(includes: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """Every distinct include cycle, each as ``(a, b, ..., a)`` starting at its smallest name.

    Names included but not defined in ``includes`` are ignored (reported elsewhere).
    """
    found: dict[tuple[str, ...], None] = {}
    done: set[str] = set()
    for start in sorted(includes):
        if start in done:
            continue
        # iterative depth-first search; `path` is the chain being followed
        path: list[str] = [start]
        on_path: dict[str, int] = {start: 0}
        pending: list[list[str]] = [list(includes.get(start, ()))]
        while pending:
            if not pending[-1]:
                pending.pop()
                node = path.pop()
                del on_path[node]
                done.add(node)
                continue
            child = pending[-1].pop(0)
            if child not in includes:
                continue
            if child in on_path:
                loop = path[on_path[child] :]
                smallest = loop.index(min(loop))
                ordered = loop[smallest:] + loop[:smallest]
                found[(*ordered, ordered[0])] = None
                continue
            if child in done:
                continue
            on_path[child] = len(path)
            path.append(child)
            pending.append(list(includes.get(child, ())))
    return list(found)


def _group_files(catalog: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    root = catalog.root
    for name, group in catalog.names("groups").items():
        written = group.get("file")
        if not isinstance(written, str) or not written:
            continue
        problem = _file_problem(root, written)
        if problem is None and written.lower().endswith(".csv"):
            problem = csv_file_problem(
                Path(written) if Path(written).is_absolute() else root / written
            )
        if problem is not None:
            issues.append(ConfigIssue(catalog.locate("groups", name, ("file",)), problem))
    return issues


def _group_commands(catalog: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for name, group in catalog.names("groups").items():
        command = group.get("command")
        if not isinstance(command, list) or not command or not isinstance(command[0], str):
            continue
        if not command[0]:
            continue
        problem = program_problem(catalog.root, command[0], os.environ.get("PATH"))
        if problem is not None:
            issues.append(ConfigIssue(catalog.locate("groups", name, ("command", 0)), problem))
    return issues


def _file_problem(root: Path, written: str) -> str | None:
    """What is wrong with a group's member file, or None."""
    path = Path(written)
    if path.is_absolute():
        target = path
    else:
        target = root / path
        try:
            inside = target.resolve().is_relative_to(root.resolve())
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            return (
                f"the member file {written!r} is outside the pipeline directory; "
                "write it as an absolute path if you mean that file"
            )
    if not target.exists():
        return f"the member file {written!r} does not exist ({target}); create it or fix the path"
    if not target.is_file():
        return f"the member file {written!r} is not a file ({target}); name a file"
    return None


def _inline_attributes(group: Mapping[str, object]) -> set[str] | None:
    """The attributes a group's inline members supply; None when other sources add members
    (a file, a command, included groups), whose attributes are known only at run time."""
    if any(group.get(key) for key in ("file", "command", "include")):
        return None
    members = group.get("members")
    if not isinstance(members, list):
        return set()  # none, or a ';'-separated string of ids: no attributes
    return {key for m in members if isinstance(m, dict) for key in m if key != "id"}


def _limit_attributes(catalog: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    groups = catalog.names("groups")
    for task_name, task in catalog.names("tasks").items():
        limits, group = task.get("limits"), task.get("group")
        if not isinstance(limits, list) or not isinstance(group, str) or group not in groups:
            continue
        supplied = _inline_attributes(groups[group])
        if supplied is None:
            continue
        for index, limit in enumerate(limits):
            per = limit.get("per") if isinstance(limit, dict) else None
            if not isinstance(per, str) or per in supplied or not re.match(ATTRIBUTE_PATTERN, per):
                continue  # a malformed name is reported by the model
            have = ", ".join(sorted(supplied)) or "none"
            issues.append(
                ConfigIssue(
                    catalog.locate("tasks", task_name, ("limits", index, "per")),
                    f"group {group!r} supplies no attribute {per!r} (its members have: {have}); "
                    "every item would count under the empty value"
                    + (suggestion(per, sorted(supplied), "attributes") if supplied else ""),
                )
            )
    return issues
