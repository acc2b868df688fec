"""The `policies` section: retries, their backoff, and where an item goes when they are used up."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from runner.config.durations import Duration
from runner.config.fields import EXHAUSTED_QUEUE_NAMES, STRICT, check_queue, check_status
from runner.domain.queues import AWAITING_INTERVENTION
from runner.domain.statuses import OK


def _check_retry_status(status: str) -> str:
    check_status(status)
    if status == OK:
        raise ValueError("retry_on lists failure statuses; 'ok' is not one, remove it")
    return status


def _check_exhausted_queue(queue: str) -> str:
    return check_queue(queue, EXHAUSTED_QUEUE_NAMES, "exhausted_queue")


RetryStatus = Annotated[str, AfterValidator(_check_retry_status)]
ExhaustedQueue = Annotated[
    str,
    AfterValidator(_check_exhausted_queue),
    WithJsonSchema({"type": "string", "enum": list(EXHAUSTED_QUEUE_NAMES)}),
]


class Backoff(BaseModel):
    """How long a failed item waits before its next retry: initial * factor^(n-1), at most max."""

    model_config = STRICT

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

    model_config = STRICT

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
