"""Cron fires in a time zone, by the DST rule.

Fires are computed on the schedule's local wall clock (croniter on naive local
times) and each wall time is then placed on the UTC time line by one rule:

- a local time that does not exist (the clocks jump forward over it) fires at
  the first instant after the jump; several such times of one jump are one fire;
- a local time that happens twice (the clocks go back) fires once, at its first
  occurrence, unless the schedule's hour field is `*` (it fires every hour or
  more often): such a schedule keeps its rhythm and fires in both passes.

A fire is identified by its UTC instant, and the run id of a scheduled run is
derived from it, so one fire can never start two runs. The clock is always
passed in; nothing here sleeps.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from croniter import croniter

from runner.config.schedules import Schedule
from runner.domain.runs import TRIGGER_SCHEDULE, run_id_for
from runner.domain.timefmt import iso

_EPOCH: Final = datetime(1970, 1, 1)
_MINUTE: Final = timedelta(minutes=1)
_OFFSET_PROBE: Final = 26 * 3600.0
"""How far around an instant offsets are sampled: longer than any fold or gap of a real zone."""


# -- fires ---------------------------------------------------------------------


def _wall(instant: float) -> datetime:
    """The naive UTC datetime of an instant (exact for whole seconds)."""
    return _EPOCH + timedelta(seconds=instant)


class Fires:
    """The fire instants (UTC seconds) of one cron expression in one IANA zone, by the DST rule."""

    def __init__(self, cron: str, timezone: str) -> None:
        self.cron = cron
        self.zone = ZoneInfo(timezone)
        expanded: list[list[Any]] = croniter(cron).expanded
        self.every_hour = expanded[1] == ["*"]
        """The hour field is `*`: in a repeated hour, fires in both passes."""
        self._last_next = (math.nan, math.nan)
        self._last_latest = (math.nan, math.nan)
        """The last query and answer of each kind: many tasks share a schedule and ask alike."""

    # The mapping from a naive local wall time to its fire instants.

    def instants(self, wall: datetime) -> tuple[float, ...]:
        """The fire instants of the local wall time `wall` (naive), in increasing order."""
        first = wall.replace(tzinfo=self.zone, fold=0).timestamp()
        second = wall.replace(tzinfo=self.zone, fold=1).timestamp()
        if first == second:
            return (first,)
        if first < second:  # the time happens twice: first is before the clocks go back
            return (first, second) if self.every_hour else (first,)
        # the time does not exist: `second` is before the jump, `first` after it
        return (self._jump(second, first),)

    def _offset(self, instant: float) -> float:
        local = datetime.fromtimestamp(instant, UTC).astimezone(self.zone)
        offset = local.utcoffset()
        return offset.total_seconds() if offset is not None else 0.0

    def _jump(self, before: float, after: float) -> float:
        """The instant the clocks jump forward, known to lie in (before, after]."""
        low, high = math.floor(before), math.ceil(after)
        target = self._offset(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(middle) == target:
                high = middle
            else:
                low = middle
        return float(high)

    def _local_bound(self, instant: float, *, low: bool) -> datetime:
        """A naive local time at or before (low) / at or after (high) every wall time that can map
        near `instant`, whatever DST change is close."""
        probes = (instant - _OFFSET_PROBE, instant, instant + _OFFSET_PROBE)
        offsets = [self._offset(p) for p in probes]
        shift = min(offsets) if low else max(offsets)
        return _wall(math.floor(instant) if low else math.ceil(instant)) + timedelta(seconds=shift)

    # Queries.

    def next_after(self, after: float) -> float:
        """The first fire strictly after the instant `after`."""
        asked, answer = self._last_next
        if asked == after:
            return answer
        answer = self._next_after(after)
        self._last_next = (after, answer)
        return answer

    def latest_at(self, at: float) -> float:
        """The last fire at or before the instant `at`."""
        asked, answer = self._last_latest
        if asked == at:
            return answer
        answer = self._latest_at(at)
        self._last_latest = (at, answer)
        return answer

    def _next_after(self, after: float) -> float:
        walls = croniter(self.cron, self._local_bound(after, low=True) - _MINUTE)
        best = math.inf
        while True:
            found = self.instants(walls.get_next(datetime))
            for instant in found:
                if after < instant < best:
                    best = instant
            if found[0] >= best:  # the earliest instant of a wall time never decreases
                return best

    def _latest_at(self, at: float) -> float:
        walls = croniter(self.cron, self._local_bound(at, low=False) + _MINUTE)
        best = -math.inf
        while True:
            found = self.instants(walls.get_prev(datetime))
            for instant in found:
                if best < instant <= at:
                    best = instant
            if found[-1] <= best:  # the latest instant of a wall time never increases going back
                return best

    def between(self, start: float, end: float) -> Iterator[float]:
        """Every fire in (start, end], in increasing order (one pass over the wall times)."""
        walls = croniter(self.cron, self._local_bound(start, low=True) - _MINUTE)
        pending: list[float] = []
        last = start
        while True:
            found = self.instants(walls.get_next(datetime))
            while pending and pending[0] < found[0]:  # no later wall time gives an earlier instant
                instant = heapq.heappop(pending)
                if instant > end:
                    return
                if instant > last:
                    yield instant
                    last = instant
            if found[0] > end:
                return
            for instant in found:
                heapq.heappush(pending, instant)


@functools.lru_cache(maxsize=4096)
def _fires(cron: str, timezone: str) -> Fires:
    return Fires(cron, timezone)


def fires_of(schedule: Schedule) -> Fires:
    """The (cached) fire calculator of a schedule."""
    return _fires(schedule.cron, schedule.timezone)


def previous_fire(schedule: Schedule, at: float) -> float:
    """The latest fire of `schedule` at or before the instant `at` (UTC seconds)."""
    return fires_of(schedule).latest_at(at)


def next_fire(schedule: Schedule, after: float) -> float:
    """The first fire of `schedule` strictly after the instant `after` (UTC seconds)."""
    return fires_of(schedule).next_after(after)


def scheduled_run_id(task: str, fire: float) -> str:
    """The id of the run a fire starts: the same fire always gives the same id."""
    return run_id_for(task, fire, TRIGGER_SCHEDULE)


# -- text ----------------------------------------------------------------------


def describe_next(schedule: Schedule, after: float) -> tuple[str, str]:
    """The next fire, for `plan`: the ISO instant in UTC, and its local time in the schedule's zone.

    The local rendering is for people (``2026-01-05T23:00+01:00 Europe/Paris``); the first
    value is the machine one.
    """
    fire = next_fire(schedule, after)
    local = datetime.fromtimestamp(fire, UTC).astimezone(ZoneInfo(schedule.timezone))
    return iso(fire), f"{local.isoformat(timespec='minutes')} {schedule.timezone}"
