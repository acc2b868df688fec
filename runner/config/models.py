"""The pipeline file format as pydantic models: one model per YAML mapping, field names exactly the
YAML keys.

Every model forbids unknown keys, is frozen (the engine gets immutable objects) and strict (no
`"8"` -> 8, no boolean where text is expected). Each field carries a description: the JSON Schema
(schemas/pipeline.schema.json) and the key reference (docs/reference.md) are generated from them.
Templates are compiled here, at validation, so a bad one fails `runner validate`.

Cross-section references (a task naming a schedule that exists, group include cycles) are checked
by runner.config.references once every file is loaded, not here.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from runner.config.durations import Duration, PositiveDuration, StepTimeout
from runner.domain.queues import ALL_QUEUES as QUEUE_NAMES
from runner.domain.queues import AWAITING_INTERVENTION
from runner.domain.queues import ERROR_QUEUES as ERROR_QUEUE_NAMES
from runner.domain.queues import EXHAUSTED_TARGETS as EXHAUSTED_QUEUE_NAMES
from runner.domain.queues import OUTCOME_TARGETS as OUTCOME_QUEUE_NAMES
from runner.domain.statuses import BUILTIN_STATUSES, MODE_RECURRING, OK
from runner.errors import Location, UsageError
from runner.templating import ITEM_NAMES, STEP_NAMES, compile_template

__all__ = [
    "BUILTIN_STATUSES",
    "ENV_NAME_PATTERN",
    "ERROR_QUEUE_NAMES",
    "EXHAUSTED_QUEUE_NAMES",
    "NAME_PATTERN",
    "OUTCOME_QUEUE_NAMES",
    "QUEUE_NAMES",
    "AfterStep",
    "Backoff",
    "Definition",
    "Group",
    "Member",
    "OutcomeRule",
    "OutcomeWhen",
    "Pipeline",
    "PipelineFile",
    "Policy",
    "Schedule",
    "Settings",
    "Step",
    "Task",
]

# --------------------------------------------------------------------------- vocabulary

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
_FILE_SUFFIXES: Final = (".csv", ".txt", ".jsonl")

_STRICT: Final = ConfigDict(extra="forbid", frozen=True, strict=True)


def _suggest(value: str, choices: Sequence[str]) -> str:
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


def _check_item_id(item_id: str) -> str:
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


def _check_status(status: str) -> str:
    if not status or any(char.isspace() for char in status):
        raise ValueError(
            f"a status must be a non-empty word without spaces (got {status!r}); use a built-in "
            f"status ({', '.join(BUILTIN_STATUSES)}) or a code such as '#001'"
        )
    return status


def _check_queue(queue: str, allowed: Sequence[str], role: str) -> str:
    if queue in allowed:
        return queue
    if queue in QUEUE_NAMES:
        raise ValueError(f"{role} cannot be {queue!r}; use one of: {', '.join(allowed)}")
    raise ValueError(
        f"{queue!r} is not a queue; use one of: {', '.join(allowed)}{_suggest(queue, allowed)}"
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
    AfterValidator(_check_item_id),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": "^[^\\u0000\\r\\n]+$"}),
]
ItemTemplate = Annotated[str, AfterValidator(_item_template)]
StepTemplate = Annotated[str, AfterValidator(_step_template)]
Regex = Annotated[str, AfterValidator(_check_regex)]
Status = Annotated[
    str,
    AfterValidator(_check_status),
    WithJsonSchema({"type": "string", "pattern": "^\\S+$"}),
]
ExitCode = Annotated[int, Field(ge=0, le=255)]


def _section(description: str) -> Any:
    """A name -> model section of a pipeline file; names must match NAME_PATTERN."""
    return Field(default_factory=dict, description=description)


# --------------------------------------------------------------------------- settings


class Settings(BaseModel):
    """Runner-wide settings: where state and logs live, this runner's site and its caps.

    At most one file of a pipeline may carry `settings`; paths are relative to the pipeline
    directory.
    """

    model_config = _STRICT

    state: str = Field(
        default=".runner/state.db",
        min_length=1,
        description="The resume-state file (SQLite), relative to the pipeline directory.",
    )
    logs: str = Field(
        default=".runner/logs",
        min_length=1,
        description="Directory for the JSON log files and the per-attempt output, relative to the "
        "pipeline directory.",
    )
    site: Name = Field(
        default="default",
        description="This runner's site: it runs the tasks of this site only; `--site` overrides "
        "it.",
    )
    concurrency: int = Field(
        default=8,
        ge=1,
        description="The most processes (items and steps) this runner runs at once, over all "
        "tasks.",
    )
    secrets: list[EnvName] = Field(
        default_factory=list,
        description="Names of environment variables whose values are masked in logs, output files "
        "and state.",
    )
    output_limit: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Bytes of output kept per stream (stdout, stderr) per attempt; the tail is "
        "kept (default 10 MiB).",
    )
    grace: Duration = Field(
        default="5s",
        validate_default=True,
        description="How long a process is given to exit after TERM before it is killed.",
    )
    min_free_disk: int = Field(
        default=100 * 1024 * 1024,
        ge=0,
        description="Free bytes required on the disks of `state` and `logs`; below this the runner "
        "starts nothing new and says so (default 100 MiB).",
    )


# --------------------------------------------------------------------------- schedules


def _check_cron(expression: str) -> str:
    fields = expression.split()
    if not fields:
        raise ValueError("a cron expression cannot be empty; write e.g. '0 18 * * 1-5' or '@daily'")
    if fields[0].startswith("@"):
        if len(fields) != 1 or fields[0].lower() not in CRON_NICKNAMES:
            raise ValueError(
                f"{expression!r} is not a cron nickname; use one of: {', '.join(CRON_NICKNAMES)}"
            )
        return expression
    if len(fields) != 5:
        extra = " (seconds and years are not supported)" if len(fields) in (6, 7) else ""
        raise ValueError(
            f"the cron expression {expression!r} has {len(fields)} fields; write the 5 fields "
            f"'minute hour day-of-month month day-of-week'{extra}, or a nickname such as @daily"
        )
    # Imported here: croniter loads subprocess, which `import runner.config` must not.
    from croniter import CroniterBadDateError, croniter

    try:
        iterator = croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{expression!r} is not a valid cron expression ({exc}); write the 5 fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 18 * * 1-5'"
        ) from None
    try:
        iterator.get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(
            f"the cron expression {expression!r} never fires; check the day of month and month"
        ) from None
    return expression


def _check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zones = sorted(zoneinfo.available_timezones())
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/London' or 'UTC'"
            f"{_suggest(name, zones)}"
        ) from None
    return name


CronExpression = Annotated[str, AfterValidator(_check_cron)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


class Schedule(BaseModel):
    """When tasks on this schedule start: a cron expression in a time zone, and an optional window
    after each fire within which items may start."""

    model_config = _STRICT

    cron: CronExpression = Field(
        description="A 5-field cron expression ('minute hour day-of-month month day-of-week', e.g. "
        "'0 18 * * 1-5') or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
        "@hourly.",
    )
    timezone: TimeZoneName = Field(
        default="UTC",
        description="The IANA time zone the cron expression is read in (e.g. Europe/London); "
        "daylight saving changes are handled.",
    )
    window: PositiveDuration | None = Field(
        default=None,
        description="If set, items may START only within this long after a fire; running items "
        "finish. Unset: no limit.",
    )


# --------------------------------------------------------------------------- groups


class Member(BaseModel):
    """One inline group member: an `id` plus string attributes (any other key, e.g. `server`)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    __pydantic_extra__: dict[str, str] = Field(init=False)

    id: ItemId = Field(
        description="The item's id, unique within the group: non-empty, no NUL byte, no line break."
    )

    @model_validator(mode="before")
    @classmethod
    def _attributes_are_strings(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, value in data.items():
                if key != "id" and not isinstance(value, str):
                    raise ValueError(f"attribute {key!r} must be a string, quote it")
        return data

    @property
    def attributes(self) -> dict[str, str]:
        """The member's attributes, without `id`."""
        return dict(self.__pydantic_extra__ or {})


def _check_members(value: str | list[str | Member] | None) -> str | list[str | Member] | None:
    if value is None:
        return None
    if isinstance(value, str):
        ids = [piece.strip() for piece in value.split(";") if piece.strip()]
    else:
        ids = [entry if isinstance(entry, str) else entry.id for entry in value]
    for item_id in ids:
        _check_item_id(item_id)
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"the member {item_id!r} is listed twice; list each id once")
        seen.add(item_id)
    return value


class Group(BaseModel):
    """Which items a task works on: inline members, a file, a resolver command, other groups, or
    a mix of them, minus `exclude`."""

    model_config = _STRICT

    members: Annotated[str | list[str | Member] | None, AfterValidator(_check_members)] = Field(
        default=None,
        description="Inline members: a ';'-separated string of ids, or a list whose entries are "
        "ids or mappings with `id` and string attributes.",
    )
    file: str | None = Field(
        default=None,
        min_length=1,
        description="A member file relative to the pipeline directory: .csv (a header row with an "
        "`id` column; other columns are attributes), .txt (one id a line) or .jsonl (one JSON "
        "object with `id` a line).",
    )
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        description="A resolver command (argv list, no shell) run in the pipeline directory; it "
        'prints JSON lines ({"id": ...}) or one id a line. Its failure fails the resolution.',
    )
    timeout: PositiveDuration = Field(
        default="2m",
        validate_default=True,
        description="How long the resolver `command` may run; only allowed with `command`.",
    )
    include: list[Name] = Field(
        default_factory=list,
        description="Names of other groups whose items are added to this one (cycles are errors).",
    )
    exclude: list[ItemId] = Field(
        default_factory=list,
        description="Ids dropped from the group after every source is read.",
    )

    @field_validator("file")
    @classmethod
    def _file_suffix(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(_FILE_SUFFIXES):
            raise ValueError(
                f"the member file {value!r} must end in .csv, .txt or .jsonl, which say how it "
                "is read"
            )
        return value

    @model_validator(mode="after")
    def _has_a_source(self) -> Group:
        if self.members is None and self.file is None and self.command is None and not self.include:
            raise ValueError("a group needs at least one source: members, file, command or include")
        if "timeout" in self.model_fields_set and self.command is None:
            raise ValueError(
                "timeout applies only to a resolver command; remove it or add `command`"
            )
        return self


# --------------------------------------------------------------------------- definitions


class OutcomeWhen(BaseModel):
    """The conditions of an outcome rule; every condition given must match."""

    model_config = _STRICT

    exit_code: ExitCode | Annotated[list[ExitCode], Field(min_length=1)] | None = Field(
        default=None,
        description="The exit code, or a list of exit codes, that matches (0-255).",
    )
    stdout: Regex | None = Field(
        default=None,
        description="A regular expression searched for in the tail of the attempt's stdout "
        "(Python `re` syntax; `(?i)` for case-insensitive).",
    )
    stderr: Regex | None = Field(
        default=None,
        description="A regular expression searched for in the tail of the attempt's stderr.",
    )

    @model_validator(mode="after")
    def _has_a_condition(self) -> OutcomeWhen:
        if self.exit_code is None and self.stdout is None and self.stderr is None:
            raise ValueError(
                "an outcome rule needs at least one condition: exit_code, stdout or stderr"
            )
        return self


def _check_outcome_queue(queue: str) -> str:
    return _check_queue(queue, OUTCOME_QUEUE_NAMES, "an outcome rule's queue")


OutcomeQueue = Annotated[
    str,
    AfterValidator(_check_outcome_queue),
    WithJsonSchema({"type": "string", "enum": list(OUTCOME_QUEUE_NAMES)}),
]


class OutcomeRule(BaseModel):
    """Turns how an attempt ended into a status and, optionally, the queue the item goes to."""

    model_config = _STRICT

    when: OutcomeWhen = Field(description="The conditions of this rule; all must match.")
    status: Status = Field(
        description="The status an attempt matching this rule gets: a built-in one (ok, failed, "
        "timeout, hung, start-failed, interrupted) or a custom word or code such as '#001'.",
    )
    queue: OutcomeQueue | None = Field(
        default=None,
        description="The queue the item goes to when the attempt is not retried (any queue except "
        "run-now and retry). Unset: successful for ok, else the policy's exhausted_queue.",
    )


class Definition(BaseModel):
    """What to do for one item: the command, its limits, its environment and how its ending is
    classified."""

    model_config = _STRICT

    command: list[ItemTemplate] = Field(
        min_length=1,
        description="The argv list; each element is a Jinja2 template (names: item, task, run, "
        "attempt, env) rendered into exactly one argument. With shell: true, the one element is "
        "the script; quote item values in it with `| shquote`.",
    )
    shell: bool = Field(
        default=False,
        description="Run the single `command` element as a /bin/sh script. Off by default: no "
        "shell is used, so an item id is always one argument.",
    )
    requires: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Attributes every item must have; items lacking one go to the incomplete "
        "queue.",
    )
    timeout: PositiveDuration | None = Field(
        default=None,
        description="The longest an attempt may run; then its whole process tree is killed and the "
        "status is timeout. Unset: no limit.",
    )
    idle_timeout: PositiveDuration | None = Field(
        default=None,
        description="An attempt with no output and no event for this long is killed with the "
        "status hung. Unset: no limit.",
    )
    env: dict[SettableEnvName, ItemTemplate] = Field(
        default_factory=dict,
        description="Extra environment variables; each value is a template like `command`. Names "
        "starting with RUNNER_ are reserved.",
    )
    cwd: str = Field(
        default=".",
        min_length=1,
        description="The working directory of the command, relative to the pipeline directory.",
    )
    outcomes: list[OutcomeRule] = Field(
        default_factory=list,
        description="Rules tried in order, first match wins; when none matches, exit 0 is ok and "
        "anything else failed.",
    )

    @model_validator(mode="after")
    def _shell_takes_one_script(self) -> Definition:
        if self.shell and len(self.command) != 1:
            raise ValueError(
                f"with shell: true, command must have exactly one element, the script "
                f"(got {len(self.command)}); join them into one string or set shell: false"
            )
        return self

    def fingerprint(self) -> str:
        """A stable hash of this definition (sha256 hex, first 16), recorded with each attempt."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- policies


def _check_retry_status(status: str) -> str:
    _check_status(status)
    if status == OK:
        raise ValueError("retry_on lists failure statuses; 'ok' is not one, remove it")
    return status


def _check_exhausted_queue(queue: str) -> str:
    return _check_queue(queue, EXHAUSTED_QUEUE_NAMES, "exhausted_queue")


RetryStatus = Annotated[str, AfterValidator(_check_retry_status)]
ExhaustedQueue = Annotated[
    str,
    AfterValidator(_check_exhausted_queue),
    WithJsonSchema({"type": "string", "enum": list(EXHAUSTED_QUEUE_NAMES)}),
]


class Backoff(BaseModel):
    """How long a failed item waits before its next retry: initial * factor^(n-1), at most max."""

    model_config = _STRICT

    initial: Duration = Field(
        default="1m",
        validate_default=True,
        description="The wait before the first retry.",
    )
    factor: float = Field(
        default=2.0,
        ge=1,
        allow_inf_nan=False,
        description="Each further retry waits this many times longer than the one before (>= 1).",
    )
    max: Duration = Field(
        default="1h",
        validate_default=True,
        description="The longest wait between retries.",
    )


class Policy(BaseModel):
    """What happens to an item after a failed attempt: retries, their backoff, and where it goes
    when they are used up."""

    model_config = _STRICT

    max_retries: int = Field(
        default=5,
        description="Automatic retries after the first attempt; 0 or negative disables retries.",
    )
    retry_on: list[RetryStatus] | None = Field(
        default=None,
        description="Statuses that are retried (built-in or custom, e.g. '#001', timeout). Unset: "
        "every failure status.",
    )
    backoff: Backoff = Field(
        default_factory=Backoff,
        description="The wait before each retry.",
    )
    exhausted_queue: ExhaustedQueue = Field(
        default=AWAITING_INTERVENTION,
        description="Where an item goes when it is not retried and its outcome rule names no "
        "queue: an error queue or paused.",
    )


# --------------------------------------------------------------------------- tasks


class Step(BaseModel):
    """A custom start process (`before`), run once per run before any item."""

    model_config = _STRICT

    run: list[StepTemplate] = Field(
        min_length=1,
        description="The argv list; each element is a Jinja2 template (names: task, run, env). "
        "With shell: true, the one element is the script.",
    )
    shell: bool = Field(
        default=False,
        description="Run the single `run` element as a /bin/sh script.",
    )
    timeout: StepTimeout = Field(
        default="10m",
        validate_default=True,
        description="The longest the step may run, at most 99:99:99; then its process tree is "
        "killed and the step fails.",
    )
    wait: Literal["completion", "timeout"] = Field(
        default="completion",
        description="completion: go on when the process exits. timeout: wait the whole timeout "
        "even if it exits early (for launchers); nothing it left behind is killed.",
    )
    on_failure: Literal["error", "warn"] = Field(
        default="warn",
        description="error: a failed step stops every remaining step and the run fails. warn: "
        "log a warning and go on. A step fails if it cannot start, exits non-zero or times out.",
    )
    env: dict[SettableEnvName, StepTemplate] = Field(
        default_factory=dict,
        description="Extra environment variables; each value is a template like `run`.",
    )
    cwd: str = Field(
        default=".",
        min_length=1,
        description="The working directory of the step, relative to the pipeline directory.",
    )

    @model_validator(mode="after")
    def _shell_takes_one_script(self) -> Step:
        if self.shell and len(self.run) != 1:
            raise ValueError(
                f"with shell: true, run must have exactly one element, the script "
                f"(got {len(self.run)}); join them into one string or set shell: false"
            )
        return self


class AfterStep(Step):
    """A custom finish process (`after`), run once per run after the items, depending on `when`."""

    when: Literal["always", "success", "failure"] = Field(
        default="always",
        description="Run this step always, only when the run succeeded, or only when it failed.",
    )


class Task(BaseModel):
    """Ties a definition to a group, on a schedule, with a policy and start/finish steps."""

    model_config = _STRICT

    site: Name | None = Field(
        default=None,
        description="The site whose runner runs this task. Unset: settings.site.",
    )
    schedule: str | None = Field(
        default=None,
        description="The name of a schedule. Unset: the task runs only when asked (run --now, or "
        "items in run-now).",
    )
    definition: str = Field(description="The name of the definition run for each item.")
    group: str = Field(description="The name of the group whose items this task works on.")
    policy: str | None = Field(
        default=None,
        description="The name of a policy. Unset: the default policy (5 retries, backoff 1m x2 up "
        "to 1h, then awaiting-intervention).",
    )
    mode: Literal["recurring", "once"] = Field(
        default=MODE_RECURRING,
        description="recurring: every run processes every item again. once: an item that reached "
        "successful stays done (migrations).",
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        description="The most items of this task running at once. Unset: only the runner's cap.",
    )
    before: list[Step] = Field(
        default_factory=list,
        description="Custom start processes, run in order before the items.",
    )
    after: list[AfterStep] = Field(
        default_factory=list,
        description="Custom finish processes, run in order after the items.",
    )
    enabled: bool = Field(
        default=True,
        description="false: the task is never started; its state is kept.",
    )
    description: str | None = Field(
        default=None,
        description="Free text for people reading the pipeline and `runner status`.",
    )


# --------------------------------------------------------------------------- files


class PipelineFile(BaseModel):
    """One pipeline YAML file. A pipeline directory's files are merged into one namespace."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="Pipeline file",
    )

    version: Literal[1] = Field(description="The format version; must be 1.")
    settings: Settings | None = Field(
        default=None,
        description="Runner-wide settings; at most one file of a pipeline may set them.",
    )
    schedules: dict[Name, Schedule] = _section("Named schedules tasks can start on.")
    groups: dict[Name, Group] = _section("Named groups of items tasks work on.")
    definitions: dict[Name, Definition] = _section("Named definitions of what to do for one item.")
    policies: dict[Name, Policy] = _section("Named policies: what happens after a failed attempt.")
    tasks: dict[Name, Task] = _section(
        "Named tasks, each tying a definition to a group, on a schedule, with a policy."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("version must be the number 1")
        return value


# --------------------------------------------------------------------------- the loaded pipeline


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: every file merged, every reference checked; see `load_pipeline`."""

    root: Path
    """The pipeline directory (a single file's parent); relative paths are resolved against it."""
    files: tuple[Path, ...]
    """The files read, in the order they were read."""
    settings: Settings
    schedules: Mapping[str, Schedule]
    groups: Mapping[str, Group]
    definitions: Mapping[str, Definition]
    policies: Mapping[str, Policy]
    tasks: Mapping[str, Task]
    origins: Mapping[tuple[str, str], Location] = field(default_factory=dict)
    """Where each (section, name) was defined."""

    def origin(self, section: str, name: str) -> Location:
        """Where `name` of `section` was defined (a location without a file if unknown)."""
        found = self.origins.get((section, name))
        return found if found is not None else Location(key_path=f"{section}.{name}")

    def resolve_path(self, rel: str) -> Path:
        """`rel` relative to the pipeline directory; an absolute path is kept as it is."""
        path = Path(rel)
        return path if path.is_absolute() else self.root / path

    @property
    def state_file(self) -> Path:
        """The resume-state file (`settings.state`, relative to the pipeline directory)."""
        return self.resolve_path(self.settings.state)

    @property
    def logs_dir(self) -> Path:
        """Where JSON logs and attempt outputs go (`settings.logs`, relative to the pipeline directory)."""
        return self.resolve_path(self.settings.logs)

    def task(self, task_name: str) -> Task:
        """The task called `task_name`; UsageError naming the nearest task if there is none."""
        try:
            return self.tasks[task_name]
        except KeyError:
            names = sorted(self.tasks)
            known = ", ".join(names) if names else "none"
            raise UsageError(
                f"no task {task_name!r} in this pipeline (tasks: {known})"
                f"{_suggest(task_name, names)}"
            ) from None

    def task_site(self, task_name: str) -> str:
        """The site the task runs on: its own `site`, else `settings.site`."""
        site = self.task(task_name).site
        return site if site is not None else self.settings.site

    def policy_for(self, task_name: str) -> Policy:
        """The task's named policy, or the default `Policy()` when it names none."""
        name = self.task(task_name).policy
        return self.policies[name] if name is not None else Policy()
