"""The pipeline file format's shared field types: names, queues and statuses it speaks of, and the
checks behind the annotated types the section models use.

The models (`settings`, `schedules`, `groups`, `definitions`, `policies`, `tasks`, `pipeline`):
one model per YAML mapping, field names exactly the YAML keys. Every model forbids unknown keys, is
frozen (the engine gets immutable objects) and strict (no `"8"` -> 8, no boolean where text is
expected). Each field carries a description: the JSON Schema (schemas/pipeline.schema.json) and the
key reference (docs/reference.md) are generated from them. Templates are compiled at validation,
so a bad one fails `runner validate`.

Cross-section references (a task naming a schedule that exists, group include cycles) are checked
by runner.config.references once every file is loaded, not here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Annotated, Final

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema

from runner.domain import queues, statuses
from runner.templating import ITEM_NAMES, STEP_NAMES, compile_template

# --------------------------------------------------------------------------- vocabulary
# The queue and status names are runner.domain's; the pipeline format speaks them under these
# names (the JSON Schema's enums, the messages of the checks below).

QUEUE_NAMES: Final = queues.ALL_QUEUES
"""Every queue of SPEC §3, in the order of its table."""

ERROR_QUEUE_NAMES: Final = queues.ERROR_QUEUES
"""The error queues: never dispatched, counted in totals, a run ending with items here exits 3."""

OUTCOME_QUEUE_NAMES: Final = queues.OUTCOME_TARGETS
"""Queues an outcome rule may send an item to (not `run-now`, the operator's, nor `retry`)."""

EXHAUSTED_QUEUE_NAMES: Final = queues.EXHAUSTED_TARGETS
"""Queues a policy may send an item to once its retries are used up."""

BUILTIN_STATUSES: Final = statuses.BUILTIN_STATUSES
"""Statuses the runner itself gives an attempt; outcome rules may add others (`#001`, `locked`)."""

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""What a schedule, group, definition, policy, task or site name may look like."""

ENV_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""What an environment variable name may look like."""

CRON_NICKNAMES: Final = (
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)
"""The `@` forms a schedule's `cron` may use."""

_NAME_RE: Final = re.compile(NAME_PATTERN)
_ENV_NAME_RE: Final = re.compile(ENV_NAME_PATTERN)
_RESERVED_ENV_PREFIX: Final = "RUNNER_"

STRICT: Final = ConfigDict(extra="forbid", frozen=True, strict=True)
"""The configuration of every section model: unknown keys forbidden, frozen, strict."""


def suggest(value: str, choices: Sequence[str]) -> str:
    """The hint `; did you mean 'x'?` naming the choice nearest `value`, or '' when none is near."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------- field checks


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(
            f"the name {name!r} is not allowed: start with a letter or digit and use only "
            "letters, digits, '_', '.' and '-'"
        )
    return name


def _check_env_name(name: str) -> str:
    if not _ENV_NAME_RE.match(name):
        raise ValueError(
            f"{name!r} is not an environment variable name: use letters, digits and '_', "
            "not starting with a digit"
        )
    return name


def _check_settable_env_name(name: str) -> str:
    _check_env_name(name)
    if name.upper().startswith(_RESERVED_ENV_PREFIX):
        raise ValueError(
            f"{name!r} is reserved: the runner sets the {_RESERVED_ENV_PREFIX}* variables "
            "itself; choose another name"
        )
    return name


def check_item_id(item_id: str) -> str:
    if not item_id:
        raise ValueError("an item id cannot be empty")
    for char, label in (("\x00", "a NUL byte"), ("\n", "a line break"), ("\r", "a line break")):
        if char in item_id:
            raise ValueError(f"the item id {item_id!r} contains {label}; remove it")
    return item_id


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(
            f"{pattern!r} is not a valid regular expression: {exc}; fix it (Python `re` syntax)"
        ) from None
    return pattern


def check_status(status: str) -> str:
    if not status or any(char.isspace() for char in status):
        raise ValueError(
            f"a status must be a non-empty word without spaces (got {status!r}); use a built-in "
            f"status ({', '.join(BUILTIN_STATUSES)}) or a code such as '#001'"
        )
    return status


def check_queue(queue: str, allowed: Sequence[str], role: str) -> str:
    if queue in allowed:
        return queue
    if queue in QUEUE_NAMES:
        raise ValueError(f"{role} cannot be {queue!r}; use one of: {', '.join(allowed)}")
    raise ValueError(
        f"{queue!r} is not a queue; use one of: {', '.join(allowed)}{suggest(queue, allowed)}"
    )


def _item_template(source: str) -> str:
    compile_template(source, ITEM_NAMES)
    return source


def _step_template(source: str) -> str:
    compile_template(source, STEP_NAMES)
    return source


Name = Annotated[
    str,
    AfterValidator(_check_name),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN}),
]
EnvName = Annotated[
    str,
    AfterValidator(_check_env_name),
    WithJsonSchema({"type": "string", "pattern": ENV_NAME_PATTERN}),
]
SettableEnvName = Annotated[
    str,
    AfterValidator(_check_settable_env_name),
    WithJsonSchema({"type": "string", "pattern": ENV_NAME_PATTERN}),
]
ItemId = Annotated[
    str,
    AfterValidator(check_item_id),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": "^[^\\u0000\\r\\n]+$"}),
]
ItemTemplate = Annotated[str, AfterValidator(_item_template)]
StepTemplate = Annotated[str, AfterValidator(_step_template)]
Regex = Annotated[str, AfterValidator(_check_regex)]
Status = Annotated[
    str,
    AfterValidator(check_status),
    WithJsonSchema({"type": "string", "pattern": "^\\S+$"}),
]
ExitCode = Annotated[int, Field(ge=0, le=255)]
