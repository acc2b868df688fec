"""The `tasks` section: a definition tied to a group, on a schedule, with a policy and start/finish
steps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from runner.config.controls import HaltOn, Limits
from runner.config.durations import StepTimeout
from runner.config.fields import STRICT, Name, SettableEnvName, StepTemplate
from runner.domain.statuses import MODE_RECURRING


class Step(BaseModel):
    """A custom start process (`before`), run once per run before any item."""

    model_config = STRICT

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
        "even if it exits 0 early (for launchers); a failure (non-zero exit, a signal) is "
        "reported at once; nothing it left behind is killed.",
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

    model_config = STRICT

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
    limits: Limits = Field(
        default_factory=list,
        description="Limits per item attribute, e.g. [{per: server, max: 2}]: at most max items "
        "at once per value, with the task's and the runner's concurrency. An item held back lets "
        "the next one with another value start.",
    )
    halt_on: HaltOn | None = Field(
        default=None,
        description="The task's brake: when too many attempts fail it halts (no new item starts, "
        "running ones finish) until `runner resume`. Unset: no brake.",
    )
    enabled: bool = Field(
        default=True,
        description="false: the task is never started; its state is kept.",
    )
    description: str | None = Field(
        default=None,
        description="Free text for people reading the pipeline and `runner status`.",
    )
