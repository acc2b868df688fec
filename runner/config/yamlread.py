"""Safe YAML reading: text -> plain Python data plus the line and column of every key and value.

The file is parsed into events by PyYAML's safe parser (the C one when available) and the
tree is built here, never by a YAML constructor, so no tag can create a Python object.
Plain scalars are resolved by the YAML 1.2 core rules; values that YAML 1.1 would read
differently (``NO``, ``on``, ``012``, ``0x1F``, ``1_000``, ``2024-01-01``, ``190:20:30``)
are reported and kept as the text written, never coerced. Every problem found is
collected as a :class:`~runner.errors.ConfigIssue`; reading does not stop at the first.

Over 400 lines on purpose: one event-stream reader whose handlers share its state (open
frames, anchors, positions, alias budgets); split, they would pass that state around.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml

from runner.errors import ConfigIssue, Location

KeyPath: TypeAlias = tuple[str | int, ...]
"""A path from the top of a file to a value: ``("tasks", "nightly", "before", 0, "timeout")``."""

Position: TypeAlias = tuple[int, int]
"""A 1-based (line, column)."""

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Pipeline files larger than this are refused (member lists that big belong in a group file)."""

MAX_DEPTH = 100
"""Deepest nesting of lists and mappings accepted, counting through aliases."""

MAX_ALIAS_USES = 100
"""How often one anchor may be referred to."""

MAX_EXPANDED_NODES = 10_000
"""How many values may be produced by expanding aliases, in all (a guard against alias bombs)."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG_PREFIX = "tag:yaml.org,2002:"
_STR_TAG = _TAG_PREFIX + "str"
_INT_TAG = _TAG_PREFIX + "int"
_FLOAT_TAG = _TAG_PREFIX + "float"
_BOOL_TAG = _TAG_PREFIX + "bool"
_NULL_TAG = _TAG_PREFIX + "null"
_MAP_TAG = _TAG_PREFIX + "map"
_SEQ_TAG = _TAG_PREFIX + "seq"
_SCALAR_TAGS = frozenset({_STR_TAG, _INT_TAG, _FLOAT_TAG, _BOOL_TAG, _NULL_TAG})

# YAML 1.2 core schema.
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_RE = re.compile(r"[-+]?[0-9]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_RE = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)")

# YAML 1.1 forms that the 1.2 core schema reads differently.
_BOOLS_11 = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"}
    | {"on", "On", "ON", "off", "Off", "OFF"}
)
_BASE_RE = re.compile(r"[-+]?0([xXoObB])[0-9a-fA-F_]+")
_LEADING_ZERO_RE = re.compile(r"[-+]?0[0-9_]+")
_UNDERSCORE_NUMBER_RE = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+][0-9]+)?"
)
_SEXAGESIMAL_RE = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_DURATION_LIKE_RE = re.compile(r"[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}")
"""HH:MM:SS, the duration form of SPEC §2 (`99:99:99`): kept as the text written. A two-field
`12:30` is refused like any other base-60 number (SPEC §2 names it): quote it."""
_TIMESTAMP_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?"
)
_BASE_NAMES = {"x": "hexadecimal", "o": "octal", "b": "binary"}
_SIMPLE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


def format_key_path(path: KeyPath) -> str:
    """Render a key path the way messages show it: ``tasks.nightly.before[0].timeout``.

    Keys holding characters other than letters, digits, ``_`` and ``-`` are quoted,
    e.g. ``groups["eu.west"].file``.
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY_RE.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def quote_hint(text: str) -> str:
    """Return ``text`` as it would be written quoted in YAML (single quotes unless it holds one)."""
    if "'" in text:
        return json.dumps(text, ensure_ascii=False)
    return f"'{text}'"


@dataclass(frozen=True)
class ReadFile:
    """One pipeline file read: its data, where each key and value was written, and its problems.

    ``positions`` maps a key path to the (line, column) of its value, ``key_positions`` to
    the (line, column) of its key (list elements have no key: they are only in
    ``positions``). ``fatal`` is true when the data could not be read at all (syntax error,
    empty file, not a mapping, alias bomb, too large): ``data`` is then empty. ``reported``
    holds the key paths (as printed) of values already reported and kept as written (YAML 1.1
    traps, refused tags), so validation does not report them a second time.
    """

    path: Path
    data: dict[str, Any]
    positions: dict[KeyPath, Position] = field(default_factory=dict)
    key_positions: dict[KeyPath, Position] = field(default_factory=dict)
    issues: tuple[ConfigIssue, ...] = ()
    fatal: bool = False
    reported: frozenset[str] = frozenset()

    def position(self, path: KeyPath, *, prefer_key: bool = False) -> Position | None:
        """Where ``path`` was written: its key (if asked and known), else its value, else the
        nearest parent's; ``None`` when nothing of it is known."""
        for length in range(len(path), -1, -1):
            prefix = path[:length]
            if prefer_key and prefix in self.key_positions:
                return self.key_positions[prefix]
            if prefix in self.positions:
                return self.positions[prefix]
            if prefix in self.key_positions:
                return self.key_positions[prefix]
        return None

    def location(self, path: KeyPath, *, prefer_key: bool = False) -> Location:
        """A :class:`Location` for ``path`` in this file (see :meth:`position`)."""
        pos = self.position(path, prefer_key=prefer_key)
        line, column = pos if pos is not None else (None, None)
        return Location(self.path, line, column, format_key_path(path))


def read_yaml_file(path: str | Path) -> ReadFile:
    """Read one pipeline file safely; every problem found is in the result's ``issues``.

    ``path`` is kept as given: it is what messages print.
    """
    file = Path(path)
    try:
        info = file.stat()
    except OSError as exc:
        return _fatal(file, _unreachable(file, exc))
    if not stat.S_ISREG(info.st_mode):
        return _fatal(file, f"{_kind(info.st_mode)}, not a file; {_FIX}")
    if info.st_size > MAX_FILE_BYTES:
        return _fatal(
            file,
            f"the file is {info.st_size / 1024 / 1024:.1f} MB; pipeline files may be at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB (put long member lists in a group file)",
        )
    try:
        raw = _read_regular(file)
    except _NotRegular as exc:
        return _fatal(file, f"{exc}, not a file; {_FIX}")
    except OSError as exc:
        return _fatal(file, f"cannot read the file: {exc.strerror or exc}; check its permissions")
    if len(raw) > MAX_FILE_BYTES:
        return _fatal(
            file, f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB; split it"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        issue = ConfigIssue(
            Location(file, line, column),
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
        )
        return ReadFile(file, {}, issues=(issue,), fatal=True)
    return read_yaml_text(text, file)


_FIX = "remove it from the pipeline directory or rename it so it does not end in .yaml/.yml"


class _NotRegular(Exception):
    """The path turned into something else than a regular file between stat and open."""


def _kind(mode: int) -> str:
    """`a directory`, `a FIFO`, ... for a file type that is not a regular file."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((label for test, label in kinds if test(mode)), "a special file")


def _unreachable(file: Path, exc: OSError) -> str:
    """Why stat failed, in words: a dangling symlink and a symlink loop are told apart."""
    if exc.errno == errno.ELOOP:
        return f"a symbolic link loop; {_FIX}"
    if exc.errno == errno.ENOENT and file.is_symlink():
        target = os.readlink(file)
        return f"a symbolic link to {target!r}, which does not exist; fix the link or {_FIX}"
    return f"cannot read the file: {exc.strerror or exc}; check the path"


def _read_regular(file: Path) -> bytes:
    """The bytes of a regular file, opened without blocking (a FIFO put there after the stat
    must not hang the runner) and checked to be a regular file once open."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _NotRegular(_kind(mode))
        return handle.read(MAX_FILE_BYTES + 1)


def read_yaml_text(text: str, path: str | Path) -> ReadFile:
    """Read pipeline YAML from ``text``; ``path`` names it in messages."""
    return _Reader(Path(path), text).read()


def _fatal(file: Path, message: str) -> ReadFile:
    return ReadFile(file, {}, issues=(ConfigIssue(Location(file), message),), fatal=True)


# --------------------------------------------------------------------------- the node tree


@dataclass(eq=False, slots=True)
class _Scalar:
    line: int
    column: int
    value: object
    text: str
    plain: bool


@dataclass(eq=False, slots=True)
class _Seq:
    line: int
    column: int
    items: list[_Node] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class _Map:
    line: int
    column: int
    pairs: list[tuple[_Node, _Node]] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class _Alias:
    line: int
    column: int
    target: _Node
    name: str


_Node: TypeAlias = "_Scalar | _Seq | _Map | _Alias"


@dataclass(slots=True)
class _Frame:
    node: _Seq | _Map
    anchor: str | None
    key: _Node | None = None
    keys: dict[tuple[type, object], _Scalar] = field(default_factory=dict)


class _Abort(Exception):
    """Stops reading: the rest of the file cannot be read meaningfully."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def describe_value(value: object) -> str:
    """A value as an error message names what was written: `the number 3`, `text 'x'`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _mark_position(mark: Any) -> Position:
    if mark is None:
        return (1, 1)
    return (int(mark.line) + 1, int(mark.column) + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


class _Reader:
    """Builds the data of one document from parser events, collecting every issue."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.issues: list[ConfigIssue] = []
        self.positions: dict[KeyPath, Position] = {}
        self.key_positions: dict[KeyPath, Position] = {}
        self.reported: set[str] = set()
        self.alias_uses: dict[int, int] = {}
        self.expanded = 0

    # ----------------------------------------------------------------- entry point

    def read(self) -> ReadFile:
        try:
            root = self._compose()
            if root is None:
                raise _Abort(
                    self._issue(
                        (1, 1), (), "the file is empty; a pipeline file needs at least 'version: 1'"
                    )
                )
            data = self._build(root, (), 1, False)
        except _Abort as abort:
            self.issues.append(abort.issue)
            return ReadFile(self.path, {}, issues=self._unique_issues(), fatal=True)
        if data is None:
            issue = self._issue(
                (root.line, root.column),
                (),
                "the file is empty; a pipeline file needs at least 'version: 1'",
            )
            return ReadFile(self.path, {}, issues=(*self._unique_issues(), issue), fatal=True)
        if not isinstance(data, dict):
            kind = "a list" if isinstance(data, list) else describe_value(data)
            if isinstance(data, str):
                kind = "text"
            issue = self._issue(
                (root.line, root.column),
                (),
                f"the top level must be a mapping of keys (version, settings, schedules, groups, "
                f"definitions, policies, tasks), got {kind}",
            )
            return ReadFile(self.path, {}, issues=(*self._unique_issues(), issue), fatal=True)
        return ReadFile(
            self.path,
            data,
            positions=self.positions,
            key_positions=self.key_positions,
            issues=self._unique_issues(),
            reported=frozenset(self.reported),
        )

    def _unique_issues(self) -> tuple[ConfigIssue, ...]:
        return tuple(dict.fromkeys(self.issues))

    def _issue(self, pos: Position, path: KeyPath, message: str) -> ConfigIssue:
        return ConfigIssue(Location(self.path, pos[0], pos[1], format_key_path(path)), message)

    # ----------------------------------------------------------------- composing

    def _events(self) -> Iterator[Any]:
        try:
            yield from yaml.parse(self.text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            message = f"YAML syntax error: {exc.problem or 'the text cannot be parsed'}"
            if exc.context:
                message += f" {exc.context}"
                context_mark = exc.context_mark
                if context_mark is not None and (context_mark.line, context_mark.column) != (
                    mark.line if mark is not None else -1,
                    mark.column if mark is not None else -1,
                ):
                    message += (
                        f" started at line {context_mark.line + 1}, "
                        f"column {context_mark.column + 1}"
                    )
            raise _Abort(self._issue(pos, (), message)) from None
        except yaml.reader.ReaderError as exc:
            before = self.text[: exc.position]
            line = before.count("\n") + 1
            column = exc.position - (before.rfind("\n") + 1) + 1
            raise _Abort(
                self._issue(
                    (line, column),
                    (),
                    f"the file holds a character YAML does not allow ({exc.reason}); remove it",
                )
            ) from None
        except yaml.YAMLError as exc:
            raise _Abort(self._issue((1, 1), (), f"YAML error: {exc}")) from None

    def _compose(self) -> _Node | None:
        stack: list[_Frame] = []
        anchors: dict[str, _Node] = {}
        open_nodes: set[int] = set()
        root: _Node | None = None
        documents = 0
        for event in self._events():
            kind = type(event)
            if kind is yaml.ScalarEvent:
                node: _Node = self._scalar(event, _mark_position(event.start_mark), stack)
                if event.anchor is not None:
                    anchors[event.anchor] = node
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                open_nodes.discard(id(frame.node))
                node = frame.node
                if frame.anchor is not None:
                    anchors[frame.anchor] = node
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                pos = _mark_position(event.start_mark)
                if len(stack) >= MAX_DEPTH:
                    raise _Abort(
                        self._issue(
                            pos,
                            (),
                            f"too deep: the data is nested more than {MAX_DEPTH} levels; "
                            "flatten it",
                        )
                    )
                is_map = kind is yaml.MappingStartEvent
                self._check_collection_tag(event.tag, _MAP_TAG if is_map else _SEQ_TAG, pos, stack)
                collection: _Seq | _Map = _Map(*pos) if is_map else _Seq(*pos)
                if event.anchor is not None:
                    anchors[event.anchor] = collection
                open_nodes.add(id(collection))
                stack.append(_Frame(collection, event.anchor))
                continue
            elif kind is yaml.AliasEvent:
                node = self._alias(event, stack, anchors, open_nodes)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Abort(
                        self._issue(
                            _mark_position(event.start_mark),
                            (),
                            "a pipeline file holds exactly one YAML document, and a second one "
                            "starts here; remove the '---' or move the rest to its own file",
                        )
                    )
                continue
            else:
                continue
            if stack:
                self._attach(stack, node)
            else:
                root = node
        return root

    def _alias(
        self, event: Any, stack: list[_Frame], anchors: dict[str, _Node], open_nodes: set[int]
    ) -> _Alias:
        pos = _mark_position(event.start_mark)
        name = str(event.anchor or "")
        target = anchors.get(name)
        if target is None:
            raise _Abort(
                self._issue(
                    pos,
                    self._path(stack),
                    f"the alias *{name} refers to no anchor defined before it; "
                    f"define &{name} first",
                )
            )
        if id(target) in open_nodes:
            raise _Abort(
                self._issue(
                    pos,
                    self._path(stack),
                    f"the alias *{name} is used inside its own anchor; recursive data is not "
                    "allowed",
                )
            )
        return _Alias(pos[0], pos[1], target, name)

    def _attach(self, stack: list[_Frame], node: _Node) -> None:
        frame = stack[-1]
        container = frame.node
        if type(container) is _Seq:
            container.items.append(node)
        elif frame.key is None:
            self._check_key(frame, node, stack)
            frame.key = node
        else:
            container.pairs.append((frame.key, node))  # type: ignore[union-attr]
            frame.key = None

    def _check_key(self, frame: _Frame, key: _Node, stack: list[_Frame]) -> None:
        pos = (key.line, key.column)
        if isinstance(key, _Alias):
            key = key.target
        if not isinstance(key, _Scalar):
            kind = "a list" if isinstance(key, _Seq) else "a mapping"
            self.issues.append(
                self._issue(pos, self._path(stack), f"mapping keys must be text, got {kind}")
            )
            return
        if not isinstance(key.value, str):
            self.issues.append(
                self._issue(
                    pos,
                    (*self._path(stack), key.text),
                    f"mapping keys must be text, got {describe_value(key.value)}; "
                    f"quote it ({quote_hint(key.text)})",
                )
            )
            return
        if key.plain and key.text == "<<":
            return  # merge keys are checked when the mapping is built
        identity = (type(key.value), key.value)
        first = frame.keys.get(identity)
        if first is not None:
            self.issues.append(
                self._issue(
                    pos,
                    (*self._path(stack), key.text),
                    f"duplicate key {quote_hint(key.text)}: written at line {first.line} and "
                    f"again at line {key.line}; keep one",
                )
            )
            return
        frame.keys[identity] = key

    def _path(self, stack: list[_Frame]) -> KeyPath:
        """The key path of the value being composed now (for messages)."""
        path: list[str | int] = []
        for frame in stack:
            if isinstance(frame.node, _Seq):
                path.append(len(frame.node.items))
            elif frame.key is not None:
                key = frame.key
                path.append(key.text if isinstance(key, _Scalar) else "?")
        return tuple(path)

    def _check_collection_tag(
        self, tag: str | None, standard: str, pos: Position, stack: list[_Frame]
    ) -> None:
        if tag is None or tag in ("!", standard):
            return
        self._value_issue(self._tag_issue(tag, pos, self._path(stack)))

    def _value_issue(self, issue: ConfigIssue) -> None:
        """Record an issue about a value kept as written: validation need not report it again."""
        self.issues.append(issue)
        self.reported.add(issue.location.key_path)

    def _tag_issue(self, tag: str, pos: Position, path: KeyPath) -> ConfigIssue:
        return self._issue(
            pos,
            path,
            f"tag {_short_tag(tag)} not allowed; pipeline files hold plain text, numbers, "
            "true/false, lists and mappings only",
        )

    def _scalar(self, event: Any, pos: Position, stack: list[_Frame]) -> _Scalar:
        text: str = event.value
        tag: str | None = event.tag
        plain_implicit: bool = bool(event.implicit[0])
        if tag is None and plain_implicit:
            value, problem = _resolve_plain(text)
            if problem is not None:
                self._value_issue(self._issue(pos, self._scalar_path(stack, text), problem))
            return _Scalar(pos[0], pos[1], value, text, True)
        if tag is None or tag in ("!", _STR_TAG):
            return _Scalar(pos[0], pos[1], text, text, False)
        if tag not in _SCALAR_TAGS:
            self._value_issue(self._tag_issue(tag, pos, self._scalar_path(stack, text)))
            return _Scalar(pos[0], pos[1], text, text, False)
        value, problem = _resolve_plain(text)
        wanted = {
            _INT_TAG: (int,),
            _FLOAT_TAG: (int, float),
            _BOOL_TAG: (bool,),
            _NULL_TAG: (type(None),),
        }[tag]
        is_bool = isinstance(value, bool)
        if problem is not None or not isinstance(value, wanted) or (is_bool and tag != _BOOL_TAG):
            self._value_issue(
                self._issue(
                    pos,
                    self._scalar_path(stack, text),
                    f"{quote_hint(text)} is not a valid {_short_tag(tag)}; "
                    "drop the tag and write the value plainly",
                )
            )
            return _Scalar(pos[0], pos[1], text, text, False)
        if tag == _FLOAT_TAG:
            value = float(value)  # type: ignore[arg-type]
        return _Scalar(pos[0], pos[1], value, text, False)

    def _scalar_path(self, stack: list[_Frame], text: str) -> KeyPath:
        path = self._path(stack)
        if stack and isinstance(stack[-1].node, _Map) and stack[-1].key is None:
            path = (*path, text)  # the scalar is a key
        return path

    # ----------------------------------------------------------------- building data

    def _build(self, node: _Node, path: KeyPath, depth: int, expanding: bool) -> object:
        pos = (node.line, node.column)
        if isinstance(node, _Alias):
            uses = self.alias_uses.get(id(node.target), 0) + 1
            self.alias_uses[id(node.target)] = uses
            if uses > MAX_ALIAS_USES:
                raise _Abort(
                    self._issue(
                        pos,
                        path,
                        f"too many aliases: *{node.name} is used more than {MAX_ALIAS_USES} "
                        "times; write the values out or use fewer aliases",
                    )
                )
            self.positions[path] = pos
            target = node.target
            value = self._build(target, path, depth, True)
            self.positions[path] = pos
            return value
        if expanding:
            self.expanded += 1
            if self.expanded > MAX_EXPANDED_NODES:
                raise _Abort(
                    self._issue(
                        pos,
                        path,
                        f"too many aliases: expanding them gives more than {MAX_EXPANDED_NODES} "
                        "values; write the values out or use fewer aliases",
                    )
                )
        self.positions[path] = pos
        if isinstance(node, _Scalar):
            return node.value
        if depth > MAX_DEPTH:
            raise _Abort(
                self._issue(
                    pos,
                    path,
                    f"too deep: the data is nested more than {MAX_DEPTH} levels (through aliases); "
                    "flatten it",
                )
            )
        if isinstance(node, _Seq):
            return [
                self._build(item, (*path, index), depth + 1, expanding)
                for index, item in enumerate(node.items)
            ]
        return self._build_map(node, path, depth, expanding)

    def _build_map(
        self, node: _Map, path: KeyPath, depth: int, expanding: bool
    ) -> dict[str, object]:
        data: dict[str, object] = {}
        merges: list[tuple[_Node, _Scalar]] = []
        explicit: list[tuple[_Scalar, _Node]] = []
        for key, value in node.pairs:
            key_node = key.target if isinstance(key, _Alias) else key
            if not isinstance(key_node, _Scalar) or not isinstance(key_node.value, str):
                continue  # reported while composing
            if key_node.plain and key_node.text == "<<":
                merges.append((value, key_node))
            else:
                explicit.append((key_node, value))
        for value, merge_key in reversed(merges):
            for merged_key, merged_value, merged_key_pos in self._merge_sources(
                value, merge_key, path
            ):
                data[merged_key] = self._build(merged_value, (*path, merged_key), depth + 1, True)
                self.key_positions[(*path, merged_key)] = merged_key_pos
        seen: set[str] = set()
        for key_node, value in explicit:
            name = key_node.value
            assert isinstance(name, str)
            if name in seen:
                continue  # a duplicate: reported while composing, the first one counts
            seen.add(name)
            data[name] = self._build(value, (*path, name), depth + 1, expanding)
            self.key_positions[(*path, name)] = (key_node.line, key_node.column)
        self.positions[path] = (node.line, node.column)
        return data

    def _merge_sources(
        self, value: _Node, merge_key: _Scalar, path: KeyPath
    ) -> list[tuple[str, _Node, Position]]:
        """The (key, value, key position) pairs a ``<<`` merge key brings in, first source first."""
        resolved = self._follow(value, path)
        sources = list(resolved.items) if isinstance(resolved, _Seq) else [value]
        pairs: dict[str, tuple[_Node, Position]] = {}
        for source in sources:
            mapping = self._follow(source, path)
            if not isinstance(mapping, _Map):
                self.issues.append(
                    self._issue(
                        (merge_key.line, merge_key.column),
                        (*path, "<<"),
                        "a merge key (<<) needs a mapping or a list of mappings",
                    )
                )
                continue
            for key, item in mapping.pairs:
                key_node = key.target if isinstance(key, _Alias) else key
                if isinstance(key_node, _Scalar) and isinstance(key_node.value, str):
                    if key_node.plain and key_node.text == "<<":
                        continue  # nested merges are not followed
                    pairs.setdefault(key_node.value, (item, (key_node.line, key_node.column)))
        return [(name, item, pos) for name, (item, pos) in reversed(pairs.items())]

    def _follow(self, node: _Node, path: KeyPath) -> _Node:
        if isinstance(node, _Alias):
            uses = self.alias_uses.get(id(node.target), 0) + 1
            self.alias_uses[id(node.target)] = uses
            if uses > MAX_ALIAS_USES:
                raise _Abort(
                    self._issue(
                        (node.line, node.column),
                        path,
                        f"too many aliases: *{node.name} is used more than {MAX_ALIAS_USES} "
                        "times; write the values out or use fewer aliases",
                    )
                )
            return node.target
        return node


def _resolve_plain(text: str) -> tuple[object, str | None]:
    """Resolve a plain scalar by the YAML 1.2 core schema.

    The second value explains a YAML 1.1 trap; a trap keeps the text as written.
    """
    if text in _NULLS:
        return None, None
    if text in _BOOLS:
        return _BOOLS[text], None
    if text in _BOOLS_11:
        return text, (
            f"YAML 1.1 reads {text} as a boolean; quote it ({quote_hint(text)}) if you meant "
            "text, or write true/false"
        )
    first = text[0]
    if not (first.isdigit() or first in "+-."):
        return text, None
    base = _BASE_RE.fullmatch(text)
    if base is not None:
        kind = _BASE_NAMES[base.group(1).lower()]
        article = "an" if kind == "octal" else "a"
        return text, (
            f"YAML reads {text} as {article} {kind} number; quote it ({quote_hint(text)}) if you "
            "meant text, or write the number in decimal"
        )
    if _LEADING_ZERO_RE.fullmatch(text):
        return text, (
            f"YAML 1.1 reads {text} as an octal number; quote it ({quote_hint(text)}) if you "
            "meant text, or write the number without the leading zero"
        )
    if _INT_RE.fullmatch(text):
        return int(text), None
    if _FLOAT_RE.fullmatch(text):
        return float(text), None
    inf = _INF_RE.fullmatch(text)
    if inf is not None:
        return (float("-inf") if inf.group(1) == "-" else float("inf")), None
    if _NAN_RE.fullmatch(text):
        return float("nan"), None
    if "_" in text and _UNDERSCORE_NUMBER_RE.fullmatch(text):
        return text, (
            f"YAML 1.1 reads {text} as the number {text.replace('_', '')}; quote it "
            f"({quote_hint(text)}) if you meant text, or write the number without '_'"
        )
    if _SEXAGESIMAL_RE.fullmatch(text):
        if _DURATION_LIKE_RE.fullmatch(text):
            return text, None  # HH:MM:SS: a duration, kept as the text written
        return text, (
            f"YAML 1.1 reads {text} as a base-60 number; quote it ({quote_hint(text)}) if you "
            "meant text"
        )
    if _TIMESTAMP_RE.fullmatch(text):
        return text, (
            f"YAML 1.1 reads {text} as a date; quote it ({quote_hint(text)}) if you meant text"
        )
    return text, None
