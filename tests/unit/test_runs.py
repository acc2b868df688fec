"""Run ids: one per fire, named by its UTC instant, whatever the machine's time zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from runner.domain.runs import TRIGGER_NOW, TRIGGER_SCHEDULE, run_id_for


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process runs in a zone nine hours east of UTC, as a server configured locally may."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


INSTANT = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC).timestamp()


class TestRunIdFor:
    def test_a_fire_is_named_by_its_utc_instant(self, far_from_utc: None) -> None:
        """A scheduled run's id is the fire's UTC time, not the machine's local time."""
        assert "nightly@20261121T090000Z" == run_id_for("nightly", INSTANT, TRIGGER_SCHEDULE)

    def test_a_manual_run_is_named_by_its_utc_start(self, far_from_utc: None) -> None:
        """A manual run's id is its UTC start time to the microsecond, then its trigger."""
        actual = run_id_for("nightly", INSTANT + 1.25, TRIGGER_NOW)
        assert "nightly@20261121T090001.250000Z-now" == actual

    def test_the_microseconds_keep_six_digits_up_to_the_last_one(self) -> None:
        """A start in the last microsecond of a second still reads `.999999`, never 7 digits."""
        assert "t@19700101T000000.999999Z-now" == run_id_for("t", 0.9999994, TRIGGER_NOW)

    def test_the_last_half_microsecond_of_a_second_rounds_up_whole(self) -> None:
        """A start at x.9999996 s reads as the next second's .000000, never nearly a second late."""
        start = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC).timestamp() - 0.0000004
        assert "t@20261121T090000.000000Z-now" == run_id_for("t", start, TRIGGER_NOW)
