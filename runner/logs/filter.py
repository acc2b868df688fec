"""Which log events to show: `LogFilter`, the conditions of `runner logs`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from runner.errors import UsageError
from runner.logs.levels import LEVELS, level_number


def _parse_ts(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class LogFilter:
    """Which events to show; every field that is set must match (None matches all).

    ``task``, ``run_id``, ``item``: exact values. ``level``: the minimum level
    (``warning`` shows warnings, errors and critical events; an event without
    a known level counts as ``info``). ``event``: an exact event name, or a
    pattern where ``*`` stands for any text (``item.*``). ``since``/``until``:
    the event's ``ts`` lies between them, both ends included; a datetime
    without a time zone is taken as UTC.
    """

    task: str | None = None
    run_id: str | None = None
    item: str | None = None
    level: str | None = None
    event: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.level is not None:
            level_number(self.level)  # raises UsageError for an unknown name
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                object.__setattr__(self, name, moment.replace(tzinfo=dt.UTC))
        if self.since is not None and self.until is not None and self.since > self.until:
            raise UsageError(
                f"the time range is empty: since {self.since.isoformat()} is after "
                f"until {self.until.isoformat()}; swap them"
            )

    @cached_property
    def _min_level(self) -> int:
        return level_number(self.level) if self.level is not None else 0

    @cached_property
    def _event_pattern(self) -> re.Pattern[str] | None:
        if self.event is None or "*" not in self.event:
            return None
        return re.compile(".*".join(re.escape(part) for part in self.event.split("*")), re.DOTALL)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when `event` passes every condition of this filter."""
        if self.task is not None and event.get("task") != self.task:
            return False
        if self.run_id is not None and event.get("run_id") != self.run_id:
            return False
        if self.item is not None and event.get("item") != self.item:
            return False
        if self.level is not None:
            level = event.get("level")
            rank = LEVELS.get(level, LEVELS["info"]) if isinstance(level, str) else LEVELS["info"]
            if rank < self._min_level:
                return False
        if self.event is not None:
            name = event.get("event")
            if not isinstance(name, str):
                return False
            pattern = self._event_pattern
            if pattern is None:
                if name != self.event:
                    return False
            elif pattern.fullmatch(name) is None:
                return False
        if self.since is not None or self.until is not None:
            moment = _parse_ts(event.get("ts"))
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment > self.until:
                return False
        return True

    def admits_day(self, day: dt.date) -> bool:
        """False when no event of this UTC day can fall between ``since`` and ``until``."""
        if self.since is not None and day < self.since.astimezone(dt.UTC).date():
            return False
        return not (self.until is not None and day > self.until.astimezone(dt.UTC).date())
