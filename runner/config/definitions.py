"""The `definitions` section: what to do for one item, and the outcome rules that classify how it
ended."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, model_validator

from runner.config.durations import PositiveDuration
from runner.config.fields import (
    OUTCOME_QUEUE_NAMES,
    STRICT,
    ExitCode,
    ItemTemplate,
    Regex,
    SettableEnvName,
    Status,
    check_queue,
)
from runner.config.outputrules import OutputRule


class OutcomeWhen(BaseModel):
    """The conditions of an outcome rule; every condition given must match."""

    model_config = STRICT

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
    return check_queue(queue, OUTCOME_QUEUE_NAMES, "an outcome rule's queue")


OutcomeQueue = Annotated[
    str,
    AfterValidator(_check_outcome_queue),
    WithJsonSchema({"type": "string", "enum": list(OUTCOME_QUEUE_NAMES)}),
]


class OutcomeRule(BaseModel):
    """Turns how an attempt ended into a status and, optionally, the queue the item goes to."""

    model_config = STRICT

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

    model_config = STRICT

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
    output_events: list[OutputRule] = Field(
        default_factory=list,
        description="Rules turning lines of the tool's stdout/stderr into detail, progress, metric "
        "or processed events, as if it wrote them to RUNNER_EVENTS; every rule matching a line "
        "makes its event.",
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
        dumped = self.model_dump(mode="json")
        if not dumped["output_events"]:  # keys added later hash as before while unused
            del dumped["output_events"]
        canonical = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
