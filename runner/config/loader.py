"""Load a pipeline: read its YAML files safely, validate them, merge them, check references.

`load_pipeline` collects every issue of every file (YAML problems, validation errors, names
defined twice, unknown references) and raises one ConfigError listing them all, sorted by
file, line and column. Group member files are not read here (runner.groups does that); only
their existence is checked.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from runner.config.models import (
    AfterStep,
    Backoff,
    Definition,
    Group,
    Member,
    OutcomeRule,
    OutcomeWhen,
    Pipeline,
    PipelineFile,
    Policy,
    Schedule,
    Settings,
    Step,
    Task,
)
from runner.config.references import Catalog, check_references
from runner.config.yamlread import KeyPath, ReadFile, format_key_path, read_yaml_file
from runner.errors import ConfigError, ConfigIssue, Location

__all__ = ["SECTIONS", "YAML_SUFFIXES", "issues_from_validation", "load_pipeline", "pipeline_files"]

_M = TypeVar("_M", bound=BaseModel)

YAML_SUFFIXES: Final = (".yaml", ".yml")
"""The file name endings read from a pipeline directory."""

SECTIONS: Final = ("schedules", "groups", "definitions", "policies", "tasks")
"""The named sections of a pipeline file, merged across files."""

_SINGULAR: Final = {
    "schedules": "schedule",
    "groups": "group",
    "definitions": "definition",
    "policies": "policy",
    "tasks": "task",
}

_MODEL_NOUNS: Final[Mapping[type[BaseModel], str]] = {
    PipelineFile: "the top level of a pipeline file",
    Settings: "settings",
    Schedule: "a schedule",
    Group: "a group",
    Member: "a member",
    Definition: "a definition",
    OutcomeRule: "an outcome rule",
    OutcomeWhen: "an outcome rule's when",
    Policy: "a policy",
    Backoff: "a backoff",
    Task: "a task",
    Step: "a step",
    AfterStep: "an after step",
}

_TYPE_NOUNS: Final = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "nothing (null)",
}
"""Pydantic error types that only say "this is the wrong type", and what was expected."""


# --------------------------------------------------------------------------- discovery


def pipeline_files(path: str | Path) -> tuple[Path, tuple[Path, ...]]:
    """The pipeline root directory and the files to read for ``path`` (a file or a directory).

    A directory contributes every ``*.yaml``/``*.yml`` file directly inside it (not
    recursively; hidden files skipped), in name order. The file paths keep the form
    ``path`` was given in, so messages print them as the operator typed them.
    Raises ConfigError when the path does not exist or a directory holds no YAML file.
    """
    given = Path(path)
    if given.is_dir():
        try:
            entries = sorted(given.iterdir(), key=lambda entry: entry.name)
        except OSError as exc:
            raise _single(given, f"cannot list the directory: {exc.strerror or exc}") from None
        files = tuple(
            entry
            for entry in entries
            if entry.suffix.lower() in YAML_SUFFIXES
            and not entry.name.startswith(".")
            and entry.is_file()
        )
        if not files:
            raise _single(
                given,
                "the directory holds no pipeline file (*.yaml or *.yml); "
                "give a pipeline file or a directory of them",
            )
        return given.absolute(), files
    if given.is_file():
        return given.absolute().parent, (given,)
    if given.exists():
        raise _single(given, "not a file or directory; give a pipeline file or a directory")
    raise _single(given, "no such file or directory; give a pipeline file or a directory of them")


def _single(path: Path, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(Location(path), message)])


# --------------------------------------------------------------------------- loading


@dataclass
class _Entry:
    read: ReadFile
    raw: Mapping[str, object]
    model: BaseModel | None


@dataclass
class _Merge:
    """What has been gathered from the files read so far."""

    issues: list[ConfigIssue] = field(default_factory=list)
    entries: dict[str, dict[str, _Entry]] = field(
        default_factory=lambda: {section: {} for section in SECTIONS}
    )
    origins: dict[tuple[str, str], Location] = field(default_factory=dict)
    settings: Settings | None = None
    settings_at: Location | None = None
    complete: bool = True


def load_pipeline(path: str | Path) -> Pipeline:
    """Load, validate and merge the pipeline at ``path`` (a YAML file or a directory of them).

    Raises ConfigError carrying every issue found in every file, sorted by file, line and
    column; returns the frozen Pipeline when there is none.
    """
    root, files = pipeline_files(path)
    merge = _Merge()
    for file in files:
        read = read_yaml_file(file)
        merge.issues.extend(read.issues)
        if read.fatal:
            merge.complete = False
            continue
        parsed, issues = _validate_file(read)
        merge.issues.extend(issues)
        _merge_file(merge, read, parsed)
    catalog = Catalog(
        root=root,
        sections={
            section: {name: entry.raw for name, entry in entries.items()}
            for section, entries in merge.entries.items()
        },
        locate=lambda section, name, sub: _locate(merge, section, name, sub),
        complete=merge.complete,
    )
    merge.issues.extend(check_references(catalog))
    if merge.issues:
        raise ConfigError(sorted(dict.fromkeys(merge.issues), key=_issue_order))
    return Pipeline(
        root=root,
        files=files,
        settings=merge.settings if merge.settings is not None else Settings(),
        schedules=_models(merge, "schedules", Schedule),
        groups=_models(merge, "groups", Group),
        definitions=_models(merge, "definitions", Definition),
        policies=_models(merge, "policies", Policy),
        tasks=_models(merge, "tasks", Task),
        origins=types.MappingProxyType(dict(merge.origins)),
    )


def _models(merge: _Merge, section: str, kind: type[_M]) -> Mapping[str, _M]:
    found: dict[str, _M] = {}
    for name, entry in merge.entries[section].items():
        if not isinstance(entry.model, kind):  # pragma: no cover - only reached without issues
            raise ConfigError(
                [ConfigIssue(Location(key_path=f"{section}.{name}"), "was not validated")]
            )
        found[name] = entry.model
    return types.MappingProxyType(found)


def _issue_order(issue: ConfigIssue) -> tuple[str, int, int, str]:
    place = issue.location
    return (
        str(place.file) if place.file is not None else "",
        place.line if place.line is not None else 0,
        place.column if place.column is not None else 0,
        issue.message,
    )


def _locate(merge: _Merge, section: str, name: str, sub: KeyPath) -> Location:
    entry = merge.entries.get(section, {}).get(name)
    if entry is None:
        return Location(key_path=format_key_path((section, name, *sub)))
    return entry.read.location((section, name, *sub))


def _validate_file(read: ReadFile) -> tuple[PipelineFile | None, list[ConfigIssue]]:
    try:
        return PipelineFile.model_validate(read.data), []
    except ValidationError as exc:
        issues = issues_from_validation(read, exc.errors(include_url=False))
        return None, [issue for issue in issues if not _already_reported(issue, read.reported)]


def _already_reported(issue: ConfigIssue, reported: Iterable[str]) -> bool:
    """Whether a validation issue is about a value yamlread already reported (or inside one)."""
    path = issue.location.key_path
    return any(
        path == prefix or path.startswith((prefix + ".", prefix + "[")) for prefix in reported
    )


def _merge_file(merge: _Merge, read: ReadFile, parsed: PipelineFile | None) -> None:
    data = read.data
    if "settings" in data:
        where = read.location(("settings",), prefer_key=True)
        if merge.settings_at is not None:
            merge.issues.append(
                ConfigIssue(
                    where,
                    f"settings are set in two files: {merge.settings_at} and {where}; "
                    "keep them in one file",
                )
            )
        else:
            merge.settings_at = where
            merge.settings = parsed.settings if parsed is not None else None
    for section in SECTIONS:
        raw = data.get(section)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            merge.complete = False
            continue
        validated: Mapping[str, BaseModel] | None = (
            getattr(parsed, section) if parsed is not None else None
        )
        for name, value in raw.items():
            where = read.location((section, name), prefer_key=True)
            first = merge.origins.get((section, name))
            if first is not None:
                merge.issues.append(
                    ConfigIssue(
                        where,
                        f"{_SINGULAR[section]} {name!r} is defined twice: {first} and {where}; "
                        "rename or remove one",
                    )
                )
                continue
            merge.origins[(section, name)] = where
            model = validated[name] if validated is not None else None
            written = value if isinstance(value, dict) else {}
            merge.entries[section][name] = _Entry(read, written, model)


# --------------------------------------------------------------------------- validation messages


@dataclass
class _Error:
    """One pydantic error with its place in the data worked out."""

    details: ErrorDetails
    path: KeyPath
    is_key: bool
    missing: str | None
    sites: list[tuple[tuple[Any, ...], Any]]


def issues_from_validation(read: ReadFile, errors: Iterable[ErrorDetails]) -> list[ConfigIssue]:
    """Turn pydantic errors about ``read.data`` into located, plainly worded issues.

    Union branches that did not apply to the value written are dropped; when every branch
    only disagreed about the type, one issue lists what would have been accepted.
    """
    resolved = [_resolve(read.data, details) for details in errors]
    kept = _drop_unmatched_branches(resolved)
    grouped: dict[tuple[KeyPath, bool, str | None], list[_Error]] = {}
    for error in kept:
        grouped.setdefault((error.path, error.is_key, error.missing), []).append(error)
    issues: list[ConfigIssue] = []
    for group in grouped.values():
        others = [e for e in group if e.details["type"] not in _TYPE_NOUNS]
        if others:
            issues.extend(_issue(read, error) for error in others)
        else:
            issues.append(_type_issue(read, group[0].path, group))
    return list(dict.fromkeys(issues))


def _resolve(data: object, details: ErrorDetails) -> _Error:
    loc = tuple(details["loc"])
    missing: str | None = None
    if details["type"] == "missing" and loc and isinstance(loc[-1], str):
        missing = loc[-1]
        loc = loc[:-1]
    current: object = data
    path: list[str | int] = []
    sites: list[tuple[tuple[Any, ...], Any]] = []
    is_key = False
    for index, part in enumerate(loc):
        if part == "[key]":
            is_key = True
            continue
        in_dict = isinstance(current, dict) and isinstance(part, str) and part in current
        in_list = (
            isinstance(current, list)
            and isinstance(part, int)
            and not isinstance(part, bool)
            and 0 <= part < len(current)
        )
        if in_dict or in_list:
            current = current[part]  # type: ignore[index]
            path.append(part)
        else:
            sites.append((loc[:index], part))  # a union branch or a validator's name
    return _Error(details, tuple(path), is_key, missing, sites)


def _drop_unmatched_branches(errors: list[_Error]) -> list[_Error]:
    """Drop type errors of union branches when another branch of the same union got further."""
    further: dict[tuple[Any, ...], set[Any]] = {}
    depth: dict[tuple[Any, ...], int] = {}
    for error in errors:
        for site, _branch in error.sites:
            depth.setdefault(site, len(error.path))
            depth[site] = min(depth[site], len(error.path))
    for error in errors:
        for site, branch in error.sites:
            if error.details["type"] not in _TYPE_NOUNS or len(error.path) > depth[site]:
                further.setdefault(site, set()).add(branch)
    kept: list[_Error] = []
    for error in errors:
        unmatched = any(
            branch not in further.get(site, {branch})
            for site, branch in error.sites
            if error.details["type"] in _TYPE_NOUNS
        )
        if not unmatched:
            kept.append(error)
    return kept


def _got(value: object) -> str:
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


def _type_issue(read: ReadFile, path: KeyPath, errors: list[_Error]) -> ConfigIssue:
    value = errors[0].details["input"]
    wanted = list(dict.fromkeys(_TYPE_NOUNS[e.details["type"]] for e in errors))
    expected = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
    message = f"expected {expected}, got {_got(value)}"
    if "a string" in wanted and isinstance(value, int | float) and not isinstance(value, bool):
        message += f": quote it ('{value}')"
    elif "a string" in wanted and isinstance(value, bool):
        message += f": quote it ('{'true' if value else 'false'}') if you meant text"
    elif isinstance(value, str) and ("an integer" in wanted or "a number" in wanted):
        if _is_number(value):
            message += ": remove the quotes"
    elif isinstance(value, str) and wanted == ["true or false"]:
        message += ": write true or false without quotes"
    elif isinstance(value, str) and wanted == ["a list"]:
        message += f": write it as a list, e.g. [{value}]"
    elif value is None and wanted == ["a mapping"]:
        message += ": write {} for an empty one, or remove the key"
    return ConfigIssue(read.location(path), message)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _issue(read: ReadFile, error: _Error) -> ConfigIssue:
    details = error.details
    kind = details["type"]
    ctx: Mapping[str, Any] = details.get("ctx") or {}
    value = details["input"]
    path = error.path
    if kind == "missing" and error.missing is not None:
        model = _model_at(path)
        noun = _MODEL_NOUNS.get(model, "this mapping") if model is not None else "this mapping"
        if path == () and error.missing == "version":
            message = "missing required key 'version'; add 'version: 1' at the top of the file"
        else:
            message = f"missing required key {error.missing!r} in {noun}"
        return ConfigIssue(read.location(path, prefer_key=True), message)
    if kind == "extra_forbidden":
        return ConfigIssue(read.location(path, prefer_key=True), _unknown_key(path))
    location = read.location(path, prefer_key=error.is_key)
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", details["msg"]))
    elif kind == "literal_error":
        message = _literal_message(path, value, str(ctx.get("expected", "")))
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        message = f"must be {words[0]} {ctx.get(words[1])}, got {_got(value)}"
    elif kind in ("too_short", "string_too_short"):
        message = "must not be empty" if ctx.get("min_length") == 1 else details["msg"]
    elif kind == "too_long" or kind == "string_too_long":
        message = f"must have at most {ctx.get('max_length')} entries"
    elif kind == "finite_number":
        message = f"expected a finite number, got {_got(value)}"
    elif kind == "string_pattern_mismatch":
        message = f"{value!r} does not have the expected form ({ctx.get('pattern')})"
    else:
        message = f"{details['msg']} (got {_got(value)})"
    return ConfigIssue(location, message)


def _literal_message(path: KeyPath, value: object, expected: str) -> str:
    if path == ("version",):
        return f"version must be 1, got {_got(value)}: this runner reads version 1 pipeline files"
    choices = [part.strip().strip("'") for part in expected.replace(" or ", ", ").split(",")]
    choices = [choice for choice in choices if choice]
    message = f"expected one of: {', '.join(choices)}; got {_got(value)}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return message


def _unknown_key(path: KeyPath) -> str:
    key = str(path[-1]) if path else "?"
    model = _model_at(path[:-1])
    if model is None:
        return f"unknown key {key!r}; remove it"
    names = [info.alias or name for name, info in model.model_fields.items()]
    noun = _MODEL_NOUNS.get(model, "this mapping")
    message = f"unknown key {key!r} in {noun}; expected one of: {', '.join(names)}"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` of a pipeline file, if any."""
    annotation: Any = PipelineFile
    for part in path:
        annotation = _step_into(annotation, part)
        if annotation is None:
            return None
    models = _model_classes(annotation)
    return models[0] if models else None


def _step_into(annotation: Any, part: str | int) -> Any:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, str):
                for name, info in candidate.model_fields.items():
                    if part in (name, info.alias):
                        return info.annotation
            continue
        origin = typing.get_origin(candidate)
        args = typing.get_args(candidate)
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
        if origin in (list, tuple) and isinstance(part, int) and args:
            return args[0]
    return None


def _candidates(annotation: Any) -> list[Any]:
    """The alternatives of a (possibly Annotated, possibly union) annotation."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_candidates(arg))
        return found
    return [annotation]


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    return [
        candidate
        for candidate in _candidates(annotation)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel)
    ]
