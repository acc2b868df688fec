"""Load a pipeline: read its YAML files safely, validate them, merge them, check references.

`load_pipeline` collects every issue of every file (YAML problems, validation errors, names
defined twice, unknown references) and raises one ConfigError listing them all, sorted by
file, line and column. Group member files are not read here (runner.groups does that); only
their existence is checked.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from runner.config.definitions import Definition
from runner.config.groups import Group
from runner.config.messages import issues_from_validation
from runner.config.pipeline import Pipeline, PipelineFile
from runner.config.policies import Policy
from runner.config.references import Catalog, check_references
from runner.config.schedules import Schedule
from runner.config.settings import Settings
from runner.config.tasks import Task
from runner.config.yamlread import KeyPath, ReadFile, format_key_path, read_yaml_file
from runner.errors import ConfigError, ConfigIssue, Location

__all__ = ["SECTIONS", "YAML_SUFFIXES", "load_pipeline", "pipeline_files"]

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
        # Every visible *.yaml entry is a pipeline file, whatever it is: a dangling symlink, a
        # loop, a FIFO or a directory is reported by read_yaml_file, never silently skipped.
        files = tuple(
            entry
            for entry in entries
            if entry.suffix.lower() in YAML_SUFFIXES and not entry.name.startswith(".")
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
