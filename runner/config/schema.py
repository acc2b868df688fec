"""The JSON Schema of a pipeline file and the key reference (docs/reference.md), both generated
from the section models of runner.config.

`python -m runner.config.schema --write [--root DIR]` regenerates schemas/pipeline.schema.json and
docs/reference.md; `--check` exits 1 if either differs from what the models give. With no option
the schema is printed.

Just over 400 lines: the two artifacts are generated from one walk over the same models and
share its labels and vocabulary tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from runner.config.definitions import Definition, OutcomeQueue, OutcomeRule, OutcomeWhen
from runner.config.durations import (
    DURATION_PATTERN,
    MAX_STEP_TIMEOUT,
    Duration,
    PositiveDuration,
    StepTimeout,
)
from runner.config.fields import (
    BUILTIN_STATUSES,
    ERROR_QUEUE_NAMES,
    EXHAUSTED_QUEUE_NAMES,
    NAME_PATTERN,
    OUTCOME_QUEUE_NAMES,
    QUEUE_NAMES,
    EnvName,
    ItemId,
    ItemTemplate,
    Name,
    Regex,
    SettableEnvName,
    Status,
    StepTemplate,
)
from runner.config.groups import Group, Member
from runner.config.notify import NotifyRule
from runner.config.outputrules import OutputRule
from runner.config.pipeline import PipelineFile
from runner.config.policies import Backoff, ExhaustedQueue, Policy, RetryStatus
from runner.config.schedules import CronExpression, Schedule, TimeZoneName
from runner.config.settings import Settings
from runner.config.tasks import AfterStep, Step, Task
from runner.templating import FIXED_FIELDS, ITEM_NAMES, STEP_NAMES

__all__ = [
    "REFERENCE_PATH",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "main",
    "pipeline_json_schema",
    "reference_markdown",
    "render_schema_text",
]

SCHEMA_PATH: Final = Path("schemas/pipeline.schema.json")
"""Where the schema is checked in, relative to the repository root."""

REFERENCE_PATH: Final = Path("docs/reference.md")
"""Where the key reference is checked in, relative to the repository root."""

SCHEMA_ID: Final = "urn:yaml-pipeline-runner:schema:pipeline:1"
"""The `$id` of the schema: format version 1 of the pipeline file."""

REGENERATE_COMMAND: Final = "python -m runner.config.schema --write"
"""The command that rewrites both generated files."""

_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
_DURATION_DEF: Final = "DurationText"


# --------------------------------------------------------------------------- JSON Schema


def pipeline_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one pipeline YAML file, generated from `PipelineFile`."""
    generated = PipelineFile.model_json_schema()
    body = _tidy(generated)
    definitions = dict(body.pop("$defs", {}))
    definitions[_DURATION_DEF] = {
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": "A duration written as 90s, 10m, 1h30m, 2d, 1d2h3m4s (units d, h, m, s in "
        "that order, each at most once) or HH:MM:SS with each field 0-99.",
    }
    body.pop("title", None)
    body.pop("description", None)
    return {
        "$schema": _DRAFT,
        "$id": SCHEMA_ID,
        "title": "Pipeline file",
        "description": "One pipeline YAML file (format version 1). A pipeline is one such file "
        "or a directory of them, merged into one namespace. Generated from the models; run "
        f"`{REGENERATE_COMMAND}` after changing them.",
        **body,
        "$defs": dict(sorted(definitions.items())),
    }


def _tidy(node: Any, *, in_properties: bool = False) -> Any:
    """Share the duration pattern, close pattern-keyed mappings, drop generated property titles."""
    if isinstance(node, list):
        return [_tidy(entry) for entry in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {key: _tidy_property(value) for key, value in node.items()}
    if node.get("type") == "string" and node.get("pattern") == DURATION_PATTERN and len(node) == 2:
        return {"$ref": f"#/$defs/{_DURATION_DEF}"}
    tidied = {key: _tidy(value, in_properties=key == "properties") for key, value in node.items()}
    if "patternProperties" in tidied and "additionalProperties" not in tidied:
        tidied["additionalProperties"] = False
    return tidied


def _tidy_property(node: Any) -> Any:
    tidied = _tidy(node)
    if isinstance(tidied, dict):
        tidied.pop("title", None)
    return tidied


def render_schema_text() -> str:
    """The schema as checked in: JSON indented by 2, keys in generation order, final newline."""
    return json.dumps(pipeline_json_schema(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- the key reference


def _labels() -> list[tuple[tuple[Any, ...], str]]:
    """Known annotated types (by their metadata) and how the reference names them."""
    named: list[tuple[Any, str]] = [
        (StepTimeout, f"duration, at most 99:99:99 ({MAX_STEP_TIMEOUT} s)"),
        (PositiveDuration, "duration > 0"),
        (Duration, "duration"),
        (Name, "name"),
        (SettableEnvName, "variable name"),
        (EnvName, "variable name"),
        (ItemId, "item id"),
        (ItemTemplate, "template"),
        (StepTemplate, "template"),
        (Regex, "regular expression"),
        (Status, "status"),
        (RetryStatus, "status"),
        (OutcomeQueue, "queue"),
        (ExhaustedQueue, "queue"),
        (CronExpression, "cron expression"),
        (TimeZoneName, "time zone"),
    ]
    return [(tuple(get_args(alias)[1:]), label) for alias, label in named]


_LABELS: Final = _labels()

_SCALARS: Final[dict[Any, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _constrained(base: str, metadata: Sequence[Any]) -> str:
    """`base` with the constraints in `metadata`: `non-empty string`, `integer >= 1`, `0 to 255`."""
    flat: list[Any] = []
    for entry in metadata:
        flat.extend(entry.metadata if isinstance(entry, FieldInfo) else [entry])
    low = next((entry.ge for entry in flat if isinstance(entry, annotated_types.Ge)), None)
    high = next((entry.le for entry in flat if isinstance(entry, annotated_types.Le)), None)
    non_empty = any(
        isinstance(entry, annotated_types.MinLen) and entry.min_length == 1 for entry in flat
    )
    text = f"non-empty {base}" if non_empty else base
    if low is not None and high is not None:
        return f"{text} from {low} to {high}"
    if low is not None:
        return f"{text} >= {low}"
    if high is not None:
        return f"{text} <= {high}"
    return text


def _type_text(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """A short human description of a field's type, e.g. `non-empty list of template`."""
    if metadata:
        for known, label in _LABELS:
            if tuple(metadata[: len(known)]) == known:
                return label
        return _constrained(_type_text(annotation), metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *rest = get_args(annotation)
        return _type_text(inner, rest)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(_type_text(arg) for arg in options)
    if origin is Literal:
        return " | ".join(f"`{value}`" for value in get_args(annotation))
    if origin is list:
        (entry,) = get_args(annotation)
        return f"list of {_type_text(entry)}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"mapping of {_type_text(key)} to {_type_text(value)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        factory: Callable[[], Any] = info.default_factory  # type: ignore[assignment]
        value = factory()
        if isinstance(value, BaseModel):
            return "all defaults"
        return f"`{json.dumps(value)}`"
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "unset"
    if isinstance(info.default, bool):
        return f"`{str(info.default).lower()}`"
    if isinstance(info.default, float) and info.default.is_integer():
        return f"`{int(info.default)}`"
    return f"`{info.default}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _field_rows(model: type[BaseModel]) -> Iterator[str]:
    yield "| key | type | default | description |"
    yield "|---|---|---|---|"
    for name, info in model.model_fields.items():
        key = info.alias or name
        kind = _cell(_type_text(info.annotation, info.metadata))
        description = _cell(info.description or "")
        yield f"| `{key}` | {kind} | {_default_text(info)} | {description} |"


def _model_section(title: str, model: type[BaseModel], where: str) -> Iterator[str]:
    yield f'<a id="{_anchor(model)}"></a>'
    yield ""
    yield f"## {title}"
    yield ""
    yield (f"Written at `{where}`. " if where else "") + _cell(model.__doc__ or "")
    yield ""
    if model.model_config.get("extra") == "allow":
        yield "Any other key is an attribute of the item; its value must be a string."
    else:
        yield "Any other key is an error."
    yield ""
    yield from _field_rows(model)
    yield ""


_SECTIONS: Final[tuple[tuple[str, type[BaseModel], str], ...]] = (
    ("Pipeline file (top level)", PipelineFile, ""),
    ("settings", Settings, "settings"),
    ("Notification rule", NotifyRule, "settings.notify[]"),
    ("schedules", Schedule, "schedules.<name>"),
    ("groups", Group, "groups.<name>"),
    ("Group member", Member, "groups.<name>.members[]"),
    ("definitions", Definition, "definitions.<name>"),
    ("Outcome rule", OutcomeRule, "definitions.<name>.outcomes[]"),
    ("Outcome conditions", OutcomeWhen, "definitions.<name>.outcomes[].when"),
    ("Output rule", OutputRule, "definitions.<name>.output_events[]"),
    ("policies", Policy, "policies.<name>"),
    ("Backoff", Backoff, "policies.<name>.backoff"),
    ("tasks", Task, "tasks.<name>"),
    ("Start step", Step, "tasks.<name>.before[]"),
    ("Finish step", AfterStep, "tasks.<name>.after[]"),
)


def _vocabulary() -> Iterator[str]:
    not_error = ", ".join(f"`{q}`" for q in QUEUE_NAMES if q not in ERROR_QUEUE_NAMES)
    yield "## Value forms"
    yield ""
    yield (
        "- **duration**: `90s`, `10m`, `1h30m`, `2d`, `1d2h3m4s` (units d, h, m, s in that "
        "order, each at most once), `HH:MM:SS` with each field 0-99 (`99:99:99` is "
        f"{MAX_STEP_TIMEOUT} s), or a whole number of seconds. **duration > 0** refuses zero."
    )
    yield (
        f"- **name**: a schedule, group, definition, policy, task or site name matching "
        f"`{NAME_PATTERN}`."
    )
    yield "- **variable name**: an environment variable name; `env` keys may not start RUNNER_."
    yield "- **item id**: non-empty, without a NUL byte or a line break."
    item_names = ", ".join(
        f"`{n}`" for n in ("item", "task", "run", "attempt", "env") if n in ITEM_NAMES
    )
    step_names = ", ".join(f"`{n}`" for n in ("task", "run", "env") if n in STEP_NAMES)
    yield (
        f"- **template**: a Jinja2 template rendered in a sandbox; an undefined name is an "
        f"error. Definitions may use {item_names}; steps may use {step_names}. Templates "
        "are compiled by `runner validate`. The `shquote` filter quotes a value for a "
        "`shell: true` script. "
        + "; ".join(
            f"`{name}` has {', '.join(f'`{f}`' for f in fields)}"
            if fields
            else f"`{name}` is the attempt number"
            for name, fields in FIXED_FIELDS.items()
        )
        + ": reading any other attribute of these is refused by `runner validate`; `{{ task }}` "
        "renders the task's name and `{{ run }}` the run's id. `item` has `id` and the "
        "attributes its group gives it."
    )
    yield (
        "- **regular expression**: Python `re` syntax, searched for (not anchored) in the "
        "output tail."
    )
    yield (
        "- **status**: a word without spaces: a built-in status ("
        + ", ".join(f"`{s}`" for s in BUILTIN_STATUSES)
        + ") or a custom one such as `#001` or `locked`."
    )
    yield (
        "- **cron expression**: 5 fields, or `@yearly`, `@annually`, `@monthly`, `@weekly`, "
        "`@daily`, `@midnight`, `@hourly`."
    )
    yield "- **time zone**: an IANA name such as `Europe/London`."
    yield (
        "- **queue**: an outcome rule may name "
        + ", ".join(f"`{q}`" for q in OUTCOME_QUEUE_NAMES)
        + "; a policy's `exhausted_queue` may name "
        + ", ".join(f"`{q}`" for q in EXHAUSTED_QUEUE_NAMES)
        + "."
    )
    yield ""
    yield (
        f"All queues: {not_error}, and the error queues "
        + ", ".join(f"`{q}`" for q in ERROR_QUEUE_NAMES)
        + "."
    )
    yield ""


def reference_markdown() -> str:
    """docs/reference.md: every section and key of a pipeline file with its type, default and
    description, generated from the models."""
    lines: list[str] = [
        "# Pipeline file reference",
        "",
        "<!-- Generated from the models in runner/config/; do not edit by hand. -->",
        f"<!-- Regenerate with: {REGENERATE_COMMAND} -->",
        "",
        "A pipeline is one YAML file or a directory of them (`*.yaml`, `*.yml`, read in name order "
        "and merged into one namespace). Keys are exactly as below; an unknown key is an error. "
        "Values that YAML 1.1 would turn into booleans or numbers (`NO`, `on`, `012`) where text "
        "is expected are rejected: quote them. The same rules are published as a JSON Schema in "
        f"`{SCHEMA_PATH.as_posix()}` for editors.",
        "",
        "Contents: "
        + ", ".join(f"[{title}](#{_anchor(model)})" for title, model, _ in _SECTIONS)
        + ", [value forms](#value-forms).",
        "",
    ]
    for title, model, where in _SECTIONS:
        lines.extend(_model_section(title, model, where))
    lines.extend(_vocabulary())
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- command line


def _generated(root: Path) -> dict[Path, str]:
    return {
        root / SCHEMA_PATH: render_schema_text(),
        root / REFERENCE_PATH: reference_markdown(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the schema, or write (`--write`) or check (`--check`) both generated files."""
    parser = argparse.ArgumentParser(
        prog="python -m runner.config.schema",
        description="Generate the pipeline JSON Schema and the key reference from the models.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write both files under --root")
    action.add_argument(
        "--check", action="store_true", help="exit 1 if a file under --root is out of date"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the repository root (default: the current directory)",
    )
    options = parser.parse_args(argv)
    files = _generated(options.root)
    if options.write:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        return 0
    if options.check:
        stale = [
            path
            for path, text in files.items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path} is out of date; run `{REGENERATE_COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(render_schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
