"""Resolve a group to its items: inline members, csv/txt/jsonl files, commands, include/exclude.

An item is an id (unique within the group) plus string attributes (SPEC §2, groups).
Within one source a repeated id is an error naming both places; across sources and
included groups the first occurrence wins. Files are streamed line by line, so groups of
100,000 members resolve quickly and without holding the file text in memory.

Over 400 lines: one resolver and its sources (inline, files, commands) share the rules for
repeated ids, decoding and error wording, which are easier to keep alike side by side.
"""

from __future__ import annotations

import csv
import difflib
import json
import os
import shlex
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from runner.config.sources import csv_header_problem
from runner.domain.timefmt import format_duration
from runner.errors import GroupResolutionError
from runner.process import run_capture

if TYPE_CHECKING:
    from runner.config.groups import Group, Member
    from runner.config.pipeline import Pipeline

#: Most bytes a resolver command may print on stdout; more is an error, never a silent cut.
COMMAND_OUTPUT_LIMIT = 16 * 2**20

#: How many of a failed resolver's last stderr lines an error message quotes.
STDERR_LINES_SHOWN = 10

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})

_JSON = json.JSONDecoder()

_BOM = b"\xef\xbb\xbf"

_DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# (place, id, attributes): place is a line number or a list index, turned into text only for errors.
_Entry = tuple[int, str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Item:
    """One member of a group: its id and its string attributes (the id is not among them)."""

    id: str
    attributes: Mapping[str, str]


def resolve_group(
    pipeline: Pipeline,
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> list[Item]:
    """Resolve group ``name`` of ``pipeline`` to its items, in source order.

    Included groups come first (recursively; the first occurrence of an id wins), then this
    group's own members, file and command; ``exclude`` ids are dropped at the end. Resolver
    commands run in ``pipeline.root`` with ``env`` (default: this process's environment); when
    ``cancel`` is set (the runner is stopping) a running resolver's tree is killed at once.
    Raises GroupResolutionError naming the group, the place and what to do.
    """
    resolver = _Resolver(pipeline, dict(os.environ) if env is None else env, cancel)
    return list(resolver.resolve(name, ()).values())


class _Resolver:
    """One resolution: remembers groups already resolved, so a group included twice runs once."""

    def __init__(
        self, pipeline: Pipeline, env: Mapping[str, str], cancel: threading.Event | None
    ) -> None:
        self._pipeline = pipeline
        self._env = env
        self._cancel = cancel
        self._done: dict[str, dict[str, Item]] = {}

    def resolve(self, name: str, chain: tuple[str, ...]) -> dict[str, Item]:
        """Items of group ``name`` by id; ``chain`` is the include path that led here."""
        if name in chain:
            cycle = " -> ".join((*chain[chain.index(name) :], name))
            raise GroupResolutionError(
                f"groups include each other in a cycle: {cycle}; remove one of these includes"
            )
        if name in self._done:
            return self._done[name]
        group = self._group(name, chain)
        label = self._label(name)

        result: dict[str, Item] = {}
        for included in group.include:
            _merge(result, self.resolve(included, (*chain, name)))
        for source in self._own_sources(group, label):
            if result:
                _merge(result, source)
            else:
                result = source  # freshly built for this group: no copy needed
        for item_id in group.exclude:
            result.pop(item_id, None)
        self._done[name] = result
        return result

    def _group(self, name: str, chain: tuple[str, ...]) -> Group:
        """The model of group ``name``, or an error with the nearest defined name."""
        groups = self._pipeline.groups
        if name in groups:
            return groups[name]
        close = difflib.get_close_matches(name, list(groups), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        where = f" (included by group '{chain[-1]}')" if chain else ""
        known = ", ".join(sorted(groups)) or "none"
        raise GroupResolutionError(f"unknown group '{name}'{where}; {hint}defined groups: {known}")

    def _label(self, name: str) -> str:
        """``group 'x' (file:line:column)`` for messages (the place only when it is known)."""
        origin = self._pipeline.origin("groups", name)
        return f"group '{name}' ({origin})" if origin.file is not None else f"group '{name}'"

    def _own_sources(self, group: Group, label: str) -> Iterator[dict[str, Item]]:
        """Items of each of the group's own sources, in order: members, file, command."""
        if group.members is not None:
            yield _members(group.members, label)
        if group.file is not None:
            yield _file(self._pipeline.resolve_path(group.file), group.file, label)
        if group.command is not None:
            yield _command(
                group.command,
                cwd=self._pipeline.root,
                env=self._env,
                timeout=group.timeout,
                label=label,
                cancel=self._cancel,
            )


def _merge(into: dict[str, Item], items: Mapping[str, Item]) -> None:
    """Add ``items`` to ``into``, keeping the first occurrence of each id."""
    for item_id, item in items.items():
        if item_id not in into:
            into[item_id] = item


def _collect(entries: Iterable[_Entry], where: Callable[[int], str], label: str) -> dict[str, Item]:
    """Items of one source by id; an empty, multi-line or NUL id, or a repeated id, is an error."""
    items: dict[str, Item] = {}
    first_place: dict[str, int] = {}
    for place, item_id, attributes in entries:
        if not item_id or "\n" in item_id or "\r" in item_id or "\x00" in item_id:
            problem = (
                f"id {item_id!r}, which contains a NUL, CR or LF" if item_id else "an empty id"
            )
            raise GroupResolutionError(
                f"{label}: {where(place)}: {problem}; every member needs a one-line, non-empty id"
            )
        invisible = _invisible_edge(item_id)
        if invisible is not None:
            raise GroupResolutionError(
                f"{label}: {where(place)}: id {item_id!r} {invisible}, which would make it a "
                "different item than the one without it; remove the character from the source"
            )
        if item_id in items:
            raise GroupResolutionError(
                f"{label}: id {item_id!r} appears twice: {where(first_place[item_id])} and "
                f"{where(place)}; ids must be unique within a group, remove one"
            )
        items[item_id] = Item(item_id, attributes)
        first_place[item_id] = place
    return items


def _invisible_edge(item_id: str) -> str | None:
    """What is wrong with an id starting or ending in an invisible format character; else None.

    A byte-order mark, zero-width space, word joiner or direction mark (Unicode category Cf)
    at either end of an id is an artefact nobody typed; kept, it would turn `alice` into a new
    item while the real `alice` leaves the group. The explicit direction controls (embedding,
    override, isolate) are let through: they change how an id looks, not whether it is seen,
    and every display escapes them.
    """
    for edge, char in (("starts", item_id[0]), ("ends", item_id[-1])):
        if unicodedata.category(char) == "Cf" and char not in _DIRECTION_CONTROLS:
            name = unicodedata.name(char, "a format character")
            return f"{edge} with the invisible character U+{ord(char):04X} ({name})"
    return None


# --- inline members -----------------------------------------------------------------------


def _members(members: str | Sequence[str | Member], label: str) -> dict[str, Item]:
    """Items of an inline ``members:`` value (a ';'-separated string or a list)."""
    if isinstance(members, str):
        pieces = members.split(";")
        return _collect(
            (
                (n, piece.strip(), _NO_ATTRIBUTES)
                for n, piece in enumerate(pieces, 1)
                if piece.strip()
            ),
            lambda n: f"members (entry {n} of the ';'-separated list)",
            label,
        )
    return _collect(_member_entries(members), lambda i: f"members[{i}]", label)


def _member_entries(members: Sequence[str | Member]) -> Iterator[_Entry]:
    """(index, id, attributes) of a list of ids and ``{id: ..., attr: ...}`` mappings."""
    for index, member in enumerate(members):
        if isinstance(member, str):
            yield index, member, _NO_ATTRIBUTES
            continue
        yield index, member.id, member.attributes  # the model checked they are strings


# --- files --------------------------------------------------------------------------------


def _file(path: Path, written: str, label: str) -> dict[str, Item]:
    """Items of a csv, txt or jsonl file, streamed line by line."""
    suffix = path.suffix.lower()
    readers = {".csv": _csv_entries, ".txt": _txt_entries, ".jsonl": _jsonl_entries}
    if suffix not in readers:
        raise GroupResolutionError(
            f"{label}: file {written} has an unknown format; name it .csv, .txt or .jsonl"
        )
    newline = "" if suffix == ".csv" else None
    try:
        if path.exists() and not path.is_file():  # a FIFO would block the runner on open
            raise GroupResolutionError(
                f"{label}: cannot read file {written} ({path}): it is not a regular file; "
                "point the group's `file:` at a file"
            )
        with path.open("r", encoding="utf-8-sig", newline=newline) as handle:
            return _collect(
                readers[suffix](handle, path, label), lambda number: f"{path}:{number}", label
            )
    except UnicodeDecodeError as exc:
        raise GroupResolutionError(
            f"{label}: {path}:{_first_undecodable_line(path)}: not valid UTF-8 ({exc.reason}); "
            "save the file as UTF-8"
        ) from exc
    except OSError as exc:
        raise GroupResolutionError(
            f"{label}: cannot read file {written} ({path}): {exc.strerror or exc}; "
            "create the file or fix the group's `file:` path"
        ) from exc


def _first_undecodable_line(path: Path) -> int | str:
    """Line number of the first line that is not UTF-8 (only called once decoding failed)."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        pass
    return "?"


def _txt_entries(handle: Iterable[str], path: Path, label: str) -> Iterator[_Entry]:
    """One id a line; blank lines and lines starting with '#' are skipped."""
    for number, line in enumerate(handle, 1):
        text = line.strip()
        if text and text[0] != "#":
            yield number, text, _NO_ATTRIBUTES


def _csv_entries(handle: Iterable[str], path: Path, label: str) -> Iterator[_Entry]:
    """Rows of a csv file with a header naming an ``id`` column; other columns are attributes."""
    reader = csv.reader(handle, strict=True)  # an unclosed quote is an error, not a cell
    try:
        header = next(reader, None)
        if header is None:
            raise GroupResolutionError(
                f"{label}: {path} is empty; its first line must name the columns, one of them 'id'"
            )
        columns = [name.strip() for name in header]
        _check_header(columns, path, label)
        id_index = columns.index("id")
        attribute_columns = [(i, name) for i, name in enumerate(columns) if i != id_index]
        width = len(columns)
        previous = reader.line_num
        for row in reader:
            number = previous + 1
            previous = reader.line_num
            if not any(row):
                continue  # a blank line or a row of empty cells
            if len(row) > width and any(row[width:]):
                raise GroupResolutionError(
                    f"{label}: {path}:{number}: {len(row)} cells but the header names {width} "
                    "columns; quote cells that contain commas"
                )
            item_id = row[id_index].strip() if id_index < len(row) else ""
            cells = len(row)
            attributes = {name: row[i] for i, name in attribute_columns if i < cells and row[i]}
            yield number, item_id, attributes
    except csv.Error as exc:
        raise GroupResolutionError(
            f"{label}: {path}:{reader.line_num}: not valid CSV ({exc}); fix the quoting"
        ) from exc


def _check_header(columns: list[str], path: Path, label: str) -> None:
    """A csv header needs an ``id`` column and unique, non-empty column names."""
    problem = csv_header_problem(columns)
    if problem is not None:
        raise GroupResolutionError(f"{label}: {path}:1: {problem}")


def _jsonl_entries(handle: Iterable[str], path: Path, label: str) -> Iterator[_Entry]:
    """One JSON object a line with a string ``id`` and string attributes; blank lines skipped."""

    def where(number: int) -> str:
        return f"{path}:{number}"

    for number, line in enumerate(handle, 1):
        text = line.strip()
        if text:
            item_id, attributes = _json_member(text, label, where, number)
            yield number, item_id, attributes


def _json_member(
    text: str, label: str, where: Callable[[int], str], number: int
) -> tuple[str, dict[str, str]]:
    """Parse stripped line ``number`` (``{"id": ..., "attr": "value"}``) into (id, attributes).

    ``where(number)`` names the place in error messages.
    """
    try:
        value, end = _JSON.raw_decode(text)
        if end != len(text):
            raise json.JSONDecodeError("extra data after the object", text, end)
    except json.JSONDecodeError as exc:
        raise GroupResolutionError(
            f"{label}: {where(number)}: not valid JSON ({exc.msg} at column {exc.colno}); "
            'write one object a line, like {"id": "alice", "server": "ex01"}'
        ) from exc
    if not isinstance(value, dict):
        raise GroupResolutionError(
            f'{label}: {where(number)}: expected a JSON object with an "id", got '
            f'{type(value).__name__}; write one object a line, like {{"id": "alice"}}'
        )
    item_id = value.pop("id", None)
    if not isinstance(item_id, str):
        problem = 'has no "id"' if item_id is None else 'has an "id" that is not a string'
        raise GroupResolutionError(
            f'{label}: {where(number)}: the object {problem}; give every member a string "id"'
        )
    for key, attribute in value.items():
        if not isinstance(attribute, str):
            raise GroupResolutionError(
                f"{label}: {where(number)}: attribute '{key}' is {json.dumps(attribute)}, "
                "not a string; attributes must be JSON strings (quote the value)"
            )
    return item_id, value


# --- resolver commands --------------------------------------------------------------------


def _command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    label: str,
    cancel: threading.Event | None,
) -> dict[str, Item]:
    """Run a resolver command and read its stdout: JSON objects or plain ids, one a line."""
    shown = shlex.join(argv)
    result = run_capture(
        argv, cwd=cwd, env=env, timeout=timeout, limit=COMMAND_OUTPUT_LIMIT, cancel=cancel
    )
    failure: str | None = None
    if result.outcome == "interrupted":
        raise GroupResolutionError(
            f"{label}: resolver command `{shown}` was stopped because the runner is stopping"
        )
    if result.outcome == "start-failed":
        failure = (
            f"could not start: {result.error}; check the program path and that it is executable"
        )
    elif result.outcome == "timeout":
        failure = (
            f"did not finish within its timeout of {format_duration(timeout)}; "
            "raise the group's `timeout:` or make the resolver faster"
        )
    elif result.outcome != "exited":
        failure = f"ended with outcome {result.outcome}; run it again"
    elif result.exit_code is None:
        failure = f"was killed by signal {result.signal}; run it by hand to see why"
    elif result.exit_code != 0:
        failure = f"exited with code {result.exit_code}; run it by hand to see why"
    if result.stdout_truncated:
        raise GroupResolutionError(
            f"{label}: resolver command `{shown}` printed more than "
            f"{COMMAND_OUTPUT_LIMIT // 2**20} MiB and was stopped; print one member a line, "
            "nothing else, or use a group file"
        )
    if failure is not None:
        tail = _last_lines(result.stderr_tail, STDERR_LINES_SHOWN)
        stderr = f"\n  last lines of stderr:\n{tail}" if tail else " (stderr was empty)"
        raise GroupResolutionError(f"{label}: resolver command `{shown}` {failure}{stderr}")
    return _collect(
        _output_entries(result.stdout, label, shown),
        lambda number: f"line {number} of the output of `{shown}`",
        label,
    )


def _output_entries(data: bytes, label: str, shown: str) -> Iterator[_Entry]:
    """(line, id, attributes) of a resolver's stdout; a line starting with '{' is JSON."""
    try:
        text = data.decode("utf-8-sig")  # like member files: a leading byte-order mark is dropped
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start + (3 if data.startswith(_BOM) else 0)) + 1
        raise GroupResolutionError(
            f"{label}: line {bad_line} of the output of `{shown}` is not valid UTF-8 "
            f"({exc.reason}); make the resolver print UTF-8"
        ) from exc

    def where(number: int) -> str:
        return f"line {number} of the output of `{shown}`"

    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.removeprefix("\ufeff").strip()  # a mark starting a concatenated output
        if not stripped:
            continue
        if stripped[0] == "{":
            item_id, attributes = _json_member(stripped, label, where, number)
            yield number, item_id, attributes
        else:
            yield number, stripped, _NO_ATTRIBUTES


def _last_lines(text: str, count: int) -> str:
    """The last ``count`` non-empty lines of ``text``, indented for an error message."""
    lines = [line for line in text.splitlines() if line.strip()][-count:]
    return "\n".join(f"    {line}" for line in lines)
