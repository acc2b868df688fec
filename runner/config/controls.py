"""A task's controls for a big migration: its brake (`halt_on`) and its limits per attribute."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
    model_validator,
)

from runner.config.fields import STRICT
from runner.domain.brakes import Brake
from runner.domain.limits import Limit

ATTRIBUTE_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
"""What an attribute a limit is per may look like."""

PERCENT_PATTERN: Final = r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$"


def parse_percent(value: Any) -> float:
    """`20%` -> 20.0: a ratio written as a percentage, more than 0% and at most 100%."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"a ratio is written as a percentage such as 20% (got {value!r})")
    match = re.match(PERCENT_PATTERN, value)
    if match is None:
        raise ValueError(f"a ratio is written as a percentage such as 20% (got {value!r})")
    percent = float(match.group(1))
    if not 0 < percent <= 100:
        raise ValueError(f"a ratio must be more than 0% and at most 100% (got {value})")
    return percent


Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN}),
]
"""A ratio written `20%` or `12.5%` (more than 0%, at most 100%); held as the percentage."""


class HaltOn(BaseModel):
    """When a task halts itself: a failure ratio after a minimum of attempts, N failures in a row,
    or both (whichever trips first)."""

    model_config = STRICT

    failed: Percent | None = Field(
        default=None,
        description="Halt once this share of the attempts in the brake window failed (e.g. 20%), "
        "counted only once min_attempts attempts ended. An attempt failed when its status is "
        "anything but ok; interrupted attempts do not count.",
    )
    min_attempts: int | None = Field(
        default=None,
        ge=1,
        description="How many attempts must have ended in the brake window before `failed` is "
        "looked at. Required with `failed`.",
    )
    consecutive: int | None = Field(
        default=None,
        ge=1,
        description="Halt once this many attempts in a row failed (interrupted attempts neither "
        "break nor extend the row).",
    )

    @model_validator(mode="after")
    def _complete(self) -> HaltOn:
        if self.failed is None and self.consecutive is None:
            raise ValueError("halt_on needs `failed` (with `min_attempts`), `consecutive`, or both")
        if (self.failed is None) != (self.min_attempts is None):
            raise ValueError(
                "halt_on.failed and halt_on.min_attempts go together: "
                "e.g. {failed: 20%, min_attempts: 50}"
            )
        return self

    def brake(self) -> Brake:
        """The domain rule this configuration stands for."""
        return Brake(self.failed, self.min_attempts, self.consecutive)


class LimitPer(BaseModel):
    """At most `max` items of the task at once per value of one item attribute."""

    model_config = STRICT

    per: str = Field(
        pattern=ATTRIBUTE_PATTERN,
        description="The item attribute whose values are limited (e.g. server). An item without "
        "it counts under the empty value: all such items share one cap.",
    )
    max: int = Field(
        ge=1,
        description="The most items with the same value running at once, across every run of "
        "the task and every runner (counted from launched attempts; attempts recorded ahead "
        "of a free slot wait for room).",
    )

    def limit(self) -> Limit:
        """The domain rule this configuration stands for."""
        return Limit(self.per, self.max)


def _no_repeated_attribute(limits: list[LimitPer]) -> list[LimitPer]:
    seen: set[str] = set()
    for entry in limits:
        if entry.per in seen:
            raise ValueError(f"two limits per {entry.per!r}: keep one (the smaller max)")
        seen.add(entry.per)
    return limits


Limits = Annotated[list[LimitPer], AfterValidator(_no_repeated_attribute)]
"""A task's limits per attribute, each attribute at most once."""
