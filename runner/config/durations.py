"""Durations as operators write them (`90s`, `1h30m`, `2d`, `HH:MM:SS`) and as the models hold them.

The models keep every duration as `float` seconds. `Duration` is the pydantic type for a field that
accepts the written forms; `PositiveDuration` refuses zero (a timeout of zero would fire at once);
`StepTimeout` adds the ceiling of a step timeout, `99:99:99` (362,439 s).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from runner.domain.timefmt import format_duration

__all__ = [
    "DURATION_PATTERN",
    "MAX_STEP_TIMEOUT",
    "Duration",
    "PositiveDuration",
    "StepTimeout",
    "parse_duration",
]

MAX_STEP_TIMEOUT: Final = 99 * 3600 + 99 * 60 + 99
"""The longest step timeout an operator can type: `99:99:99` = 362,439 seconds."""

_UNIT_SECONDS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

_UNITS_RE: Final = re.compile(
    r"(?:(?P<d>[0-9]{1,9})d)?(?:(?P<h>[0-9]{1,9})h)?(?:(?P<m>[0-9]{1,9})m)?(?:(?P<s>[0-9]{1,9})s)?"
)
_CLOCK_RE: Final = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{1,2}):(?P<s>[0-9]{1,2})")
_LONG_CLOCK_RE: Final = re.compile(r"[0-9]+:[0-9]+:[0-9]+")

_N: Final = "[0-9]{1,9}"
DURATION_PATTERN: Final = (
    f"^(?:{_N}d(?:{_N}h)?(?:{_N}m)?(?:{_N}s)?"
    f"|{_N}h(?:{_N}m)?(?:{_N}s)?"
    f"|{_N}m(?:{_N}s)?"
    f"|{_N}s"
    "|[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2})$"
)
"""The JSON Schema pattern of a written duration: exactly the strings `parse_duration` accepts."""

_ACCEPTED_FORMS: Final = (
    "write a number of seconds (90), units d/h/m/s in that order each at most once "
    "(90s, 10m, 1h30m, 2d, 1d2h3m4s), or HH:MM:SS with each field 0-99 (01:30:00)"
)


def parse_duration(text: str | int) -> float:
    """Return the seconds that `text` stands for.

    Accepted: a non-negative int (seconds); `90s`, `10m`, `1h30m`, `2d`, `1d2h3m4s` (units d, h, m,
    s, each at most once, in that order); `HH:MM:SS` with each field 1-2 digits up to 99
    (`99:99:99` = 362439 s). Anything else raises ValueError with a message showing these forms.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration, got the boolean {text!r}; {_ACCEPTED_FORMS}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"a duration cannot be negative (got {text}); {_ACCEPTED_FORMS}")
        try:
            return float(text)
        except OverflowError:
            raise ValueError(f"the duration {text} is too large; {_ACCEPTED_FORMS}") from None
    if not isinstance(text, str):
        kind = type(text).__name__
        raise ValueError(f"expected a duration, got a value of type {kind}; {_ACCEPTED_FORMS}")
    clock = _CLOCK_RE.fullmatch(text)
    if clock is not None:
        return float(int(clock["h"]) * 3600 + int(clock["m"]) * 60 + int(clock["s"]))
    if _LONG_CLOCK_RE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a duration: each HH:MM:SS field has 1 or 2 digits, so the longest "
            f"is 99:99:99 ({MAX_STEP_TIMEOUT} s); for longer, write units such as 4d or 100h"
        )
    units = _UNITS_RE.fullmatch(text) if text else None
    if units is None or not any(units.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration; {_ACCEPTED_FORMS}")
    return float(
        sum(
            int(value) * _UNIT_SECONDS[unit]
            for unit, value in units.groupdict().items()
            if value is not None
        )
    )


def _require_positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than zero; write for example 30s or 10m")
    return seconds


def _require_step_timeout(seconds: float) -> float:
    if seconds > MAX_STEP_TIMEOUT:
        raise ValueError(
            f"a step timeout must be at most 99:99:99 ({MAX_STEP_TIMEOUT} s); "
            f"got {format_duration(seconds)} ({seconds:g} s)"
        )
    return seconds


def _duration_schema(*, maximum: int | None = None, minimum: int = 0) -> dict[str, Any]:
    integer: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        integer["maximum"] = maximum
    return {
        "anyOf": [
            {"type": "string", "pattern": DURATION_PATTERN},
            integer,
        ],
    }


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(_duration_schema()),
]
"""A duration field: written `90s`, `1h30m`, `2d`, `HH:MM:SS` or seconds; held as float seconds."""

PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_require_positive),
    WithJsonSchema(_duration_schema(minimum=1)),
]
"""A duration that must be longer than zero (timeouts, windows)."""

StepTimeout = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_require_positive),
    AfterValidator(_require_step_timeout),
    WithJsonSchema(_duration_schema(minimum=1, maximum=MAX_STEP_TIMEOUT)),
]
"""A step timeout: a positive duration of at most `99:99:99` (362,439 s)."""
