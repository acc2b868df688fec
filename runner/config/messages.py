"""Pydantic's validation errors about a pipeline file, turned into located, plainly worded issues.

Each error is placed at its line and column in the YAML, union branches that did not apply to
what was written are dropped, wrong-type errors say what was written and what would have been
accepted, and unknown keys get the nearest known key suggested.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from runner.config.definitions import Definition, OutcomeRule, OutcomeWhen
from runner.config.groups import Group, Member
from runner.config.outputrules import OutputRule
from runner.config.pipeline import PipelineFile
from runner.config.policies import Backoff, Policy
from runner.config.schedules import Schedule
from runner.config.settings import Settings
from runner.config.tasks import AfterStep, Step, Task
from runner.config.yamlread import KeyPath, ReadFile, describe_value
from runner.errors import ConfigIssue

__all__ = ["issues_from_validation"]

_MODEL_NOUNS: Final[Mapping[type[BaseModel], str]] = {
    PipelineFile: "the top level of a pipeline file",
    Settings: "settings",
    Schedule: "a schedule",
    Group: "a group",
    Member: "a member",
    Definition: "a definition",
    OutcomeRule: "an outcome rule",
    OutcomeWhen: "an outcome rule's when",
    OutputRule: "an output rule",
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


def _type_issue(read: ReadFile, path: KeyPath, errors: list[_Error]) -> ConfigIssue:
    value = errors[0].details["input"]
    wanted = list(dict.fromkeys(_TYPE_NOUNS[e.details["type"]] for e in errors))
    expected = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
    message = f"expected {expected}, got {describe_value(value)}"
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
        message = f"must be {words[0]} {ctx.get(words[1])}, got {describe_value(value)}"
    elif kind in ("too_short", "string_too_short"):
        message = "must not be empty" if ctx.get("min_length") == 1 else details["msg"]
    elif kind == "too_long" or kind == "string_too_long":
        message = f"must have at most {ctx.get('max_length')} entries"
    elif kind == "finite_number":
        message = f"expected a finite number, got {describe_value(value)}"
    elif kind == "string_pattern_mismatch":
        message = f"{value!r} does not have the expected form ({ctx.get('pattern')})"
    else:
        message = f"{details['msg']} (got {describe_value(value)})"
    return ConfigIssue(location, message)


def _literal_message(path: KeyPath, value: object, expected: str) -> str:
    if path == ("version",):
        return f"version must be 1, got {describe_value(value)}: this runner reads version 1 pipeline files"
    choices = [part.strip().strip("'") for part in expected.replace(" or ", ", ").split(",")]
    choices = [choice for choice in choices if choice]
    message = f"expected one of: {', '.join(choices)}; got {describe_value(value)}"
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
