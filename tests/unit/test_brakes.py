"""Brakes: which attempts count, the window, when it trips; `halt_on` validation; the store's
task controls (audit, current halt, brake window)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.config.loader import load_pipeline
from runner.domain.brakes import HALTED, PAUSED, RESUMED, Brake, BrakeWindow, counted, holds
from runner.domain.statuses import FAILED, HUNG, INTERRUPTED, OK, START_FAILED, TIMEOUT
from runner.errors import ConfigError
from runner.state import open_store
from runner.state.sqlite.migrations import MIGRATIONS

PIPELINE = """\
version: 1
groups:
  g: {members: [a]}
definitions:
  d: {command: ["true"]}
tasks:
  t:
    definition: d
    group: g
    halt_on: HALT_ON
"""


def load_with(tmp_path: Path, halt_on: str) -> object:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.replace("HALT_ON", halt_on))
    return load_pipeline(path).tasks["t"].halt_on


def issues_with(tmp_path: Path, halt_on: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_with(tmp_path, halt_on)
    return [f"{i.location.line}: {i.message}" for i in caught.value.issues]


class TestCounting:
    def test_only_ok_succeeds_and_interrupted_does_not_count(self) -> None:
        assert (False, None) == (counted(OK), counted(INTERRUPTED))
        for status in (FAILED, TIMEOUT, HUNG, START_FAILED, "#001", "locked"):
            assert counted(status) is True

    def test_holding_actions(self) -> None:
        assert (True, True, False) == (holds(HALTED), holds(PAUSED), holds(RESUMED))

    def test_a_success_breaks_the_row(self) -> None:
        window = BrakeWindow().add([True, True, False, True])
        assert BrakeWindow(4, 3, 1) == window

    @given(st.lists(st.lists(st.booleans())))
    def test_adding_in_batches_equals_adding_at_once(self, batches: list[list[bool]]) -> None:
        """The engine counts each cycle's outcomes as one batch: batching changes nothing."""
        window = BrakeWindow()
        for batch in batches:
            window = window.add(batch)
        assert BrakeWindow().add([x for batch in batches for x in batch]) == window


class TestTripping:
    def test_consecutive(self) -> None:
        brake = Brake(consecutive=3)
        assert brake.tripped(BrakeWindow(10, 9, 2)) is None
        assert "3 consecutive attempts failed" in (brake.tripped(BrakeWindow(3, 3, 3)) or "")

    def test_ratio_waits_for_min_attempts(self) -> None:
        brake = Brake(failed_percent=20, min_attempts=50)
        assert brake.tripped(BrakeWindow(49, 49, 0)) is None
        assert brake.tripped(BrakeWindow(50, 9, 0)) is None
        reason = brake.tripped(BrakeWindow(50, 10, 0))
        assert "10 of 50 attempts failed (20%; halt_on.failed: 20% after 50)" == reason

    def test_both_whichever_first(self) -> None:
        brake = Brake(failed_percent=50, min_attempts=100, consecutive=5)
        assert "consecutive" in (brake.tripped(BrakeWindow(5, 5, 5)) or "")
        assert "of 100 attempts" in (brake.tripped(BrakeWindow(100, 50, 0)) or "")


class TestHaltOnConfig:
    def test_valid_forms(self, tmp_path: Path) -> None:
        ratio = load_with(tmp_path, "{failed: 20%, min_attempts: 50}")
        assert Brake(20.0, 50, None) == ratio.brake()  # type: ignore[attr-defined]
        both = load_with(tmp_path, "{failed: 12.5%, min_attempts: 8, consecutive: 10}")
        assert Brake(12.5, 8, 10) == both.brake()  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("halt_on", "message"),
        [
            ("{}", "halt_on needs `failed` (with `min_attempts`), `consecutive`, or both"),
            ("{failed: 20%}", "halt_on.failed and halt_on.min_attempts go together"),
            ("{min_attempts: 5, consecutive: 2}", "go together"),
            ("{failed: 120%, min_attempts: 5}", "more than 0% and at most 100% (got 120%)"),
            ("{failed: 0%, min_attempts: 5}", "more than 0% and at most 100%"),
            ("{failed: 20, min_attempts: 5}", "written as a percentage such as 20% (got 20)"),
            ("{failed: lots, min_attempts: 5}", "written as a percentage"),
            ("{consecutive: 0}", "must be at least 1, got the number 0"),
            ("{consecutive: 2, nosuch: 1}", "nosuch"),
        ],
    )
    def test_refused_with_a_located_message(
        self, tmp_path: Path, halt_on: str, message: str
    ) -> None:
        issues = issues_with(tmp_path, halt_on)
        assert 1 == len(issues), issues
        assert issues[0].startswith("10: "), issues
        assert message in issues[0]


class TestStoreControls:
    def test_audit_current_halt_and_window(self, tmp_path: Path) -> None:
        with open_store(tmp_path / "s.db") as store:
            assert ({}, None) == (store.task_halts(), store.task_halt("t"))
            assert BrakeWindow(3, 2, 2) == store.count_brake_outcomes("t", [False, True, True])
            store.control_task("t", action=HALTED, by="halt_on", reason="why", now=10.0)
            assert BrakeWindow() == store.brake_window("t"), "a halt starts the window again"
            assert ["t"] == list(store.task_halts())
            store.count_brake_outcomes("t", [True])
            resumed = store.control_task("t", action=RESUMED, by="ops", reason="ok", now=20.0)
            assert (RESUMED, "ops", 20.0) == (resumed.action, resumed.by, resumed.at)
            assert ({}, BrakeWindow()) == (store.task_halts(), store.brake_window("t"))
            store.control_task("u", action=PAUSED, by="ops", reason="hold", now=30.0)
            assert ["u"] == list(store.task_halts())
            assert [HALTED, RESUMED] == [c.action for c in store.task_controls("t")]

    def test_a_state_file_from_before_the_controls_reads_as_none(self, tmp_path: Path) -> None:
        """Read-only, an unmigrated older state file holds no controls (no error); opened for
        writing it is migrated and takes them."""
        path = tmp_path / "old.db"
        db = sqlite3.connect(path)
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.commit()
        db.close()
        with open_store(path, readonly=True) as store:
            assert ({}, None, [], BrakeWindow()) == (
                store.task_halts(),
                store.task_halt("t"),
                store.task_controls("t"),
                store.brake_window("t"),
            )
        with open_store(path) as store:
            store.control_task("t", action=PAUSED, by="ops", reason="x", now=1.0)
            assert ["t"] == list(store.task_halts())
