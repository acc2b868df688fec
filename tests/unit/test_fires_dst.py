"""Fire times across daylight saving changes: two years of fires in four zones, and the DST rule.

The rule (docs/scheduling.md): a local time that does not exist fires at the moment the
clocks jump (several such times of one jump are one fire); a local time that happens twice
fires once, at its first occurrence, unless the hour field is `*`, which fires in both passes.
"""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.schedule.fires import Fires, scheduled_run_id

ZONES = ["America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham"]
START = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
END = datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def _offset(zone: ZoneInfo, instant: float) -> float:
    offset = datetime.fromtimestamp(instant, UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return offset.total_seconds()


@functools.cache
def _transitions(name: str) -> list[tuple[float, float]]:
    """(instant, offset change in seconds) of every DST change of the zone in 2025-2026."""
    zone = ZoneInfo(name)
    found: list[tuple[float, float]] = []
    hour = START
    before = _offset(zone, hour)
    while hour < END:
        after = _offset(zone, hour + 3600)
        if after != before:
            minute = hour
            while _offset(zone, minute + 60) == before:
                minute += 60
            found.append((minute + 60, after - before))
        before, hour = after, hour + 3600
    return found


def _local(instant: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(instant, UTC).astimezone(zone)


@functools.cache
def _fields(cron: str) -> tuple[set[int], set[int]]:
    """The minutes and hours of a `M H * * *` expression."""
    minutes, hours = croniter(cron).expanded[:2]
    return (
        set(range(60)) if minutes == ["*"] else set(minutes),
        set(range(24)) if hours == ["*"] else set(hours),
    )


def _matches(cron: str, wall: datetime) -> bool:
    minutes, hours = _fields(cron)
    return wall.minute in minutes and wall.hour in hours


def _oracle(cron: str, name: str, start: float, end: float) -> set[float]:
    """The fires in (start, end] by the rule, found minute by minute on the UTC line."""
    zone = ZoneInfo(name)
    every_hour = croniter(cron).expanded[1] == ["*"]
    fires: set[float] = set()
    minute = (start // 60 + 1) * 60
    previous = _offset(zone, minute - 60)
    while minute <= end:
        local = _local(minute, zone)
        wall = local.replace(tzinfo=None)
        offset = _offset(zone, minute)
        if offset > previous:  # the clocks jumped forward at `minute`: the skipped walls fire now
            skipped = wall - timedelta(seconds=offset - previous)
            while skipped < wall:
                if _matches(cron, skipped):
                    fires.add(minute)
                skipped += timedelta(minutes=1)
        if _matches(cron, wall) and (local.fold == 0 or every_hour):
            fires.add(minute)
        previous, minute = offset, minute + 60
    return fires


MINUTES = st.one_of(st.integers(0, 59).map(str), st.sampled_from(["*/5", "*/15", "*/30", "0,45"]))
HOURS = st.one_of(
    st.integers(0, 4).map(str),
    st.sampled_from(["*", "1-3", "*/2", "2", "3"]),
    st.integers(0, 23).map(str),
)


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[str, str, float]:
    """A zone, a cron expression, and a start instant within a day before one of its DST changes."""
    name = draw(st.sampled_from(ZONES))
    cron = f"{draw(MINUTES)} {draw(HOURS)} * * *"
    instant, _ = draw(st.sampled_from(_transitions(name)))
    start = instant - draw(st.integers(0, 12 * 3600))
    return name, cron, float(start)


class TestTheRule:
    def test_the_zones_have_their_changes(self) -> None:
        """Each zone changes its clocks twice a year; Lord Howe by 30 minutes, the others by an hour."""
        for name in ZONES:
            shifts = {abs(shift) for _, shift in _transitions(name)}
            assert 4 == len(_transitions(name)), name
            assert ({1800.0} if name == "Australia/Lord_Howe" else {3600.0}) == shifts, name

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(near_a_change())
    def test_fires_near_a_change_follow_the_rule(self, case: tuple[str, str, float]) -> None:
        """Around every DST change, the fires (listed or walked one by one) are those the rule gives."""
        name, cron, start = case
        end = start + 24 * 3600
        fires = Fires(cron, name)
        expected = sorted(_oracle(cron, name, start, end))
        assert expected == list(fires.between(start, end))
        walked, instant = [], fires.next_after(start)
        while instant <= end:
            walked.append(instant)
            instant = fires.next_after(instant)
        assert expected == walked

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(near_a_change(), st.integers(0, 2 * 24 * 3600))
    def test_latest_and_next_agree(self, case: tuple[str, str, float], later: int) -> None:
        """The latest fire at an instant and the next fire after the one before it are the same fire."""
        name, cron, start = case
        fires = Fires(cron, name)
        at = start + later
        latest = fires.latest_at(at)
        assert latest <= at
        assert fires.next_after(latest) > at
        assert latest == fires.latest_at(latest)


class TestTwoYears:
    @pytest.mark.parametrize("name", ZONES)
    @settings(max_examples=12, deadline=None)
    @given(minute=st.integers(0, 59), hour=st.integers(0, 23))
    def test_a_daily_time_fires_once_every_local_day(
        self, name: str, minute: int, hour: int
    ) -> None:
        """A daily schedule fires exactly once per local calendar day, strictly later each time."""
        zone = ZoneInfo(name)
        start = datetime(2025, 1, 1, tzinfo=zone).timestamp() - 1
        end = datetime(2027, 1, 1, tzinfo=zone).timestamp() - 1
        fires = list(Fires(f"{minute} {hour} * * *", name).between(start, end))
        days = [_local(f, zone).date() for f in fires]
        expected = [date(2025, 1, 1) + timedelta(days=n) for n in range(730)]
        assert expected == days
        assert all(a < b for a, b in itertools.pairwise(fires))

    @pytest.mark.parametrize("name", ZONES)
    def test_hourly_fires_keep_their_rhythm(self, name: str) -> None:
        """Hourly fires over two years strictly increase, one run id each, an hour apart give or take the shift."""
        shift = max(abs(s) for _, s in _transitions(name))
        fires = list(Fires("20 * * * *", name).between(START, END))
        gaps = {b - a for a, b in itertools.pairwise(fires)}
        assert all(3600 - shift <= gap <= 3600 + shift for gap in gaps)
        assert len(fires) == len({scheduled_run_id("t", f) for f in fires})
        assert len(fires) > 2 * 365 * 24 - 2

    @pytest.mark.parametrize("name", ZONES)
    def test_each_fire_has_one_run_id_and_catch_up_finds_it(self, name: str) -> None:
        """Every fire of two years maps to its own run id, and the latest fire at it is itself."""
        fires_of = Fires("*/30 1-3 * * *", name)
        fires = list(fires_of.between(START, END))
        ids = [scheduled_run_id("t", f) for f in fires]
        assert len(ids) == len(set(ids))
        assert fires == [fires_of.latest_at(f) for f in fires]
        assert fires[:-1] == [fires_of.latest_at(f - 1) for f in fires[1:]]


def _at(name: str, text: str, fold: int = 0) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(name), fold=fold).timestamp()


def _walls(cron: str, name: str, start: str, end: str) -> list[str]:
    zone = ZoneInfo(name)
    fires = Fires(cron, name).between(_at(name, start), _at(name, end))
    return [_local(f, zone).strftime("%H:%M%z") for f in fires]


class TestExamples:
    def test_a_skipped_time_fires_when_the_clocks_jump(self) -> None:
        """Chicago skips 02:00-03:00 on 9 March 2025: a 02:30 fire happens at 03:00 CDT."""
        assert ["03:00-0500"] == _walls(
            "30 2 * * *", "America/Chicago", "2025-03-09 00:00", "2025-03-09 12:00"
        )

    def test_skipped_times_of_one_jump_are_one_fire(self) -> None:
        """Every 15 minutes in Lord Howe across its 30-minute jump: 02:00 and 02:15 become the 02:30 fire."""
        expected = ["01:30+1030", "01:45+1030", "02:30+1100", "02:45+1100"]
        assert expected == _walls(
            "*/15 * * * *", "Australia/Lord_Howe", "2025-10-05 01:15", "2025-10-05 02:45"
        )

    def test_a_repeated_time_fires_once(self) -> None:
        """Chicago repeats 01:00-02:00 on 2 November 2025: a 01:30 fire happens once, in the first pass."""
        assert ["01:30-0500"] == _walls(
            "30 1 * * *", "America/Chicago", "2025-11-02 00:00", "2025-11-02 12:00"
        )

    def test_an_every_hour_schedule_fires_in_both_passes(self) -> None:
        """Hour field `*`: every 30 minutes stays every 30 minutes through the repeated hour."""
        expected = ["01:00-0500", "01:30-0500", "01:00-0600", "01:30-0600", "02:00-0600"]
        assert expected == _walls(
            "*/30 * * * *", "America/Chicago", "2025-11-02 00:45", "2025-11-02 02:00"
        )

    def test_chatham_repeats_its_0245_hour(self) -> None:
        """Chatham goes back from 03:45 to 02:45 on 6 April 2025: a 03:00 fire happens once."""
        assert ["03:00+1345"] == _walls(
            "0 3 * * *", "Pacific/Chatham", "2025-04-06 00:00", "2025-04-06 12:00"
        )

    def test_latest_fire_inside_the_second_pass(self) -> None:
        """At 01:40 in the second pass, the latest fire of a fixed 01:30 schedule is the first pass's."""
        fires = Fires("30 1 * * *", "America/Chicago")
        second_pass = _at("America/Chicago", "2025-11-02 01:40", fold=1)
        assert _at("America/Chicago", "2025-11-02 01:30", fold=0) == fires.latest_at(second_pass)

    def test_the_jump_is_found_to_the_second(self) -> None:
        """The search for a spring-forward instant narrows to the second, from any bracket.

        Chicago jumps at 2025-03-09 08:00:00 UTC; a bracket one second either side must
        give that second, not the end of the bracket.
        """
        jump = datetime(2025, 3, 9, 8, 0, tzinfo=UTC).timestamp()
        fires = Fires("30 2 * * *", "America/Chicago")
        assert jump == fires._jump(jump - 1, jump + 1)
        assert jump == fires._jump(jump - 3601, jump + 1799)
