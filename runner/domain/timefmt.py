"""How instants and durations are written for people and JSON: one form each."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import overload


@overload
def iso(ts: float) -> str: ...
@overload
def iso(ts: None) -> None: ...
@overload
def iso(ts: float | None) -> str | None: ...
def iso(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC to the second (`2026-11-21T09:00:00Z`); None for None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """Return `seconds` in the compact written form (`1h30m`, `2d`, `45s`, `0.25s`) for display.

    Whole seconds give a form that `runner.config.durations.parse_duration` reads back to the
    same value; fractions of a second are kept to the millisecond.
    """
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"cannot format {seconds!r} as a duration: expected a finite number >= 0")
    millis = round(seconds * 1000)
    whole, fraction = divmod(millis, 1000)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value}{unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if value
    ]
    if fraction:
        parts.append(f"{secs}.{fraction:03d}".rstrip("0") + "s")
    elif secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)
