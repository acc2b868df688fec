"""Due runs against a real state file: catch-up once, watermarks, clock jumps, windows, run-now, workers."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.config import load_pipeline
from runner.config.pipeline import Pipeline
from runner.domain import queues as q
from runner.domain.runs import TRIGGER_RUN_NOW, TRIGGER_SCHEDULE
from runner.domain.workers import STALE_AFTER, worker_state
from runner.engine import RunRequest
from runner.schedule.due import due_requests, task_due, watermark
from runner.schedule.fires import scheduled_run_id
from runner.schedule.taskinfo import record_tasks
from runner.serve import ConfigWatcher
from runner.state import RunRow, StateStore, WorkerRow, open_store

PIPELINE = """\
version: 1
settings: {state: state.db, logs: logs}
schedules:
  hourly: {cron: "0 * * * *", timezone: Europe/Berlin}
  windowed: {cron: "0 * * * *", window: 10m}
groups:
  g: {members: [a, b]}
definitions:
  d: {command: [/bin/true]}
tasks:
  t: {definition: d, group: g, schedule: hourly}
  w: {definition: d, group: g, schedule: windowed}
  manual: {definition: d, group: g}
  paused-task: {definition: d, group: g, schedule: hourly, enabled: false}
"""


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Recorder:
    """A logger that keeps (event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE)
    return load_pipeline(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with open_store(tmp_path / "state.db") as opened:
        yield opened


def _begin(store: StateStore, task: str, fire: float) -> None:
    store.begin_run(
        RunRow(
            id=scheduled_run_id(task, fire),
            task=task,
            site="default",
            trigger=TRIGGER_SCHEDULE,
            fire_time=fire,
            window_end=None,
            started_at=fire,
            ended_at=None,
            phase="before",
            status="running",
            definition_hash="x",
            message="",
        ),
        recurring=True,
    )


def _due(pipeline: Pipeline, store: StateStore, now: float, **kw: Any) -> list[RunRequest]:
    return due_requests(pipeline, store, site="default", now=now, **kw)


class TestCatchUp:
    def test_first_seen_task_waits_for_its_next_fire(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """A task seen for the first time at 10:05 does not run the 10:00 fire; it runs 11:00."""
        record_tasks(pipeline, store, _at("2025-06-01T10:05:00"))
        assert [] == _due(pipeline, store, _at("2025-06-01T10:06:00"), tasks=["t"])
        expected = [RunRequest("t", TRIGGER_SCHEDULE, _at("2025-06-01T11:00:00"), None)]
        assert expected == _due(pipeline, store, _at("2025-06-01T11:00:30"), tasks=["t"])

    def test_missed_fires_are_made_up_once(self, pipeline: Pipeline, store: StateStore) -> None:
        """After three missed fires only the latest is due, and once it ran nothing more is due."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        _begin(store, "t", _at("2025-06-01T10:00:00"))
        now = _at("2025-06-01T13:20:00")
        due = _due(pipeline, store, now, tasks=["t"])
        assert [_at("2025-06-01T13:00:00")] == [r.fire_time for r in due]
        _begin(store, "t", _at("2025-06-01T13:00:00"))
        assert [] == _due(pipeline, store, now + 60, tasks=["t"])

    def test_a_clock_that_jumps_back_never_repeats_a_fire(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """The 12:00 run exists; with the clock back at 11:30 and then at 12:10 again, nothing repeats."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        _begin(store, "t", _at("2025-06-01T11:00:00"))
        _begin(store, "t", _at("2025-06-01T12:00:00"))
        assert [] == _due(pipeline, store, _at("2025-06-01T11:30:00"), tasks=["t"])
        assert [] == _due(pipeline, store, _at("2025-06-01T12:10:00"), tasks=["t"])

    def test_a_future_stamp_does_not_suppress_fires_forever(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """A last fire stamped 2031 (a clock glitch) is ignored: the fire it hid runs once, then the next."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        store.mark_fire("t", _at("2031-01-01T00:00:00"))
        due = _due(pipeline, store, _at("2025-06-01T10:30:00"), tasks=["t"])
        assert [_at("2025-06-01T10:00:00")] == [r.fire_time for r in due]
        _begin(store, "t", _at("2025-06-01T10:00:00"))
        assert [] == _due(pipeline, store, _at("2025-06-01T10:40:00"), tasks=["t"])
        due = _due(pipeline, store, _at("2025-06-01T11:00:05"), tasks=["t"])
        assert [_at("2025-06-01T11:00:00")] == [r.fire_time for r in due]

    def test_a_config_change_after_a_fire_is_not_made_up_for_it(
        self, pipeline: Pipeline, store: StateStore, tmp_path: Path
    ) -> None:
        """Fires from before the task's configuration last changed are not made up under the new one."""
        import os

        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        path = tmp_path / "pipeline.yaml"
        path.write_text(PIPELINE.replace("command: [/bin/true]", "command: [/bin/true, changed]"))
        changed = _at("2025-06-01T10:30:00")
        os.utime(path, (changed, changed))
        record_tasks(load_pipeline(path), store, _at("2025-06-01T10:40:00"))
        assert changed == watermark(store, "t", _at("2025-06-01T10:40:00"))
        assert None is task_due(pipeline, store, "t", _at("2025-06-01T10:40:00"))

    def test_a_task_seen_at_the_instant_of_a_fire_waits_for_the_next(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """Seen first at exactly 10:00:00, the task does not run the 10:00 fire, then or later."""
        record_tasks(pipeline, store, _at("2025-06-01T10:00:00"))
        assert [] == _due(pipeline, store, _at("2025-06-01T10:00:00"), tasks=["t"])
        assert [] == _due(pipeline, store, _at("2025-06-01T10:00:30"), tasks=["t"])

    def test_with_every_stamp_ahead_of_the_clock_the_latest_fire_is_due(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """The clock went back before the task was first seen: no stamp holds the 09:00 fire back."""
        record_tasks(pipeline, store, _at("2025-06-01T10:05:00"))
        due = _due(pipeline, store, _at("2025-06-01T09:30:00"), tasks=["t"])
        assert [_at("2025-06-01T09:00:00")] == [r.fire_time for r in due]

    def test_a_fire_run_is_named_by_its_task_and_utc_instant(self) -> None:
        """The run a fire starts is `task@YYYYMMDDTHHMMSSZ`: the id `runner logs --run` takes."""
        assert "t@20250601T100000Z" == scheduled_run_id("t", _at("2025-06-01T10:00:00"))


class TestRequests:
    def test_a_closed_window_is_missed_not_run(self, pipeline: Pipeline, store: StateStore) -> None:
        """The 10:00 fire with a 10-minute window, looked at 10:20: `run.missed`, marked, not requested."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        log = Recorder()
        assert [] == _due(pipeline, store, _at("2025-06-01T10:20:00"), tasks=["w"], log=log)
        assert ["run.missed"] == log.names()
        assert _at("2025-06-01T10:00:00") == store.task("w").last_fire  # type: ignore[union-attr]

    def test_an_open_window_gives_its_end(self, pipeline: Pipeline, store: StateStore) -> None:
        """Within the window the request carries the window's end."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        fire = _at("2025-06-01T10:00:00")
        expected = [RunRequest("w", TRIGGER_SCHEDULE, fire, fire + 600)]
        assert expected == _due(pipeline, store, _at("2025-06-01T10:05:00"), tasks=["w"])

    def test_the_window_closes_at_its_end(self, pipeline: Pipeline, store: StateStore) -> None:
        """Looked at exactly 10:10 (10:00 + 10m), the 10:00 fire is missed: the end is not inside."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        log = Recorder()
        assert [] == _due(pipeline, store, _at("2025-06-01T10:10:00"), tasks=["w"], log=log)
        expected = {
            "task": "w",
            "fire_time": "2025-06-01T10:00:00Z",
            "window_end": "2025-06-01T10:10:00Z",
            "reason": "its window closed before the runner could start it",
        }
        assert [("run.missed", expected)] == log.events

    def test_the_window_is_open_until_its_end(self, pipeline: Pipeline, store: StateStore) -> None:
        """A millisecond before the window's end the fire is still requested."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        fire = _at("2025-06-01T10:00:00")
        expected = [RunRequest("w", TRIGGER_SCHEDULE, fire, fire + 600)]
        assert expected == _due(pipeline, store, fire + 600 - 0.001, tasks=["w"])

    def test_a_busy_task_is_not_started_again(self, pipeline: Pipeline, store: StateStore) -> None:
        """A due task whose run is still going gets no request; `run.skipped` says why."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        log = Recorder()
        assert [] == _due(
            pipeline, store, _at("2025-06-01T10:01:00"), tasks=["t"], busy={"t"}, log=log
        )
        expected = {
            "task": "t",
            "fire_time": "2025-06-01T10:00:00Z",
            "reason": "its previous run is still going; the fire starts when it ends",
        }
        assert [("run.skipped", expected)] == log.events
        assert 1 == len(_due(pipeline, store, _at("2025-06-01T10:02:00"), tasks=["t"]))

    def test_a_busy_task_does_not_hold_up_the_others(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """With no task list every task of the site is looked at; a busy one is passed over."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        fire = _at("2025-06-01T10:00:00")
        expected = [RunRequest("w", TRIGGER_SCHEDULE, fire, fire + 600)]
        assert expected == _due(pipeline, store, _at("2025-06-01T10:01:00"), busy={"t"})

    def test_run_now_items_start_a_run_without_a_schedule(
        self, pipeline: Pipeline, store: StateStore
    ) -> None:
        """A task with no schedule and an item in run-now gets a run-now request."""
        now = _at("2025-06-01T10:20:00")
        record_tasks(pipeline, store, now)
        store.sync_members("manual", [("a", "{}", ""), ("b", "{}", "")], now=now)
        assert [] == _due(pipeline, store, now, tasks=["manual"])
        store.move_item("manual", "a", to_queue=q.RUN_NOW, by="op", reason="test", now=now)
        assert [RunRequest("manual", TRIGGER_RUN_NOW)] == _due(
            pipeline, store, now, tasks=["manual"]
        )

    def test_disabled_tasks_never_run(self, pipeline: Pipeline, store: StateStore) -> None:
        """`enabled: false` gives no request, whatever fired."""
        record_tasks(pipeline, store, _at("2025-06-01T09:30:00"))
        assert [] == _due(pipeline, store, _at("2025-06-01T10:01:00"), tasks=["paused-task"])
        assert "disabled" == store.task("paused-task").status  # type: ignore[union-attr]


class TestWorkerState:
    def _row(self, state: str, heartbeat: float) -> WorkerRow:
        return WorkerRow(
            site="default",
            state=state,
            pid=1,
            host="h",
            started_at=0.0,
            heartbeat=heartbeat,
            items_done=0,
            throughput=0.0,
        )

    def test_fresh_heartbeat_shows_the_recorded_state(self) -> None:
        """A runner that beat recently is online or running, as it said."""
        assert "online" == worker_state(self._row("online", 100.0), 110.0)
        assert "running" == worker_state(self._row("running", 100.0), 110.0)

    def test_stale_heartbeat_is_offline(self) -> None:
        """A runner that died shows offline once its heartbeat is older than STALE_AFTER."""
        assert "offline" == worker_state(self._row("running", 100.0), 100.0 + STALE_AFTER + 1)

    def test_a_heartbeat_exactly_stale_after_old_is_still_fresh(self) -> None:
        """Offline means older than STALE_AFTER: a runner at the limit keeps its state."""
        assert "running" == worker_state(self._row("running", 100.0), 100.0 + STALE_AFTER)

    def test_a_runner_whose_process_is_gone_is_offline(self) -> None:
        """The liveness check is asked about this runner's record and wins over a fresh beat."""
        row = self._row("running", 100.0)
        asked: list[WorkerRow] = []

        def alive(seen: WorkerRow) -> bool:
            asked.append(seen)
            return seen.pid != row.pid

        assert "offline" == worker_state(row, 101.0, alive=alive)
        assert [row] == asked

    def test_a_clean_exit_is_offline_at_once(self) -> None:
        """A runner that stopped cleanly recorded offline."""
        assert "offline" == worker_state(self._row("offline", 100.0), 100.5)


class TestConfigWatcher:
    def test_notices_edits_new_files_and_removals(self, tmp_path: Path) -> None:
        """An edit, a new file and a removed file each count as one change; nothing else does."""
        (tmp_path / "a.yaml").write_text("version: 1\n")
        watcher = ConfigWatcher(tmp_path)
        assert not watcher.changed()
        (tmp_path / "a.yaml").write_text(textwrap.dedent("version: 1\ntasks: {}\n"))
        assert [True, False] == [watcher.changed(), watcher.changed()]
        (tmp_path / "b.yml").write_text("version: 1\n")
        assert watcher.changed()
        (tmp_path / "notes.txt").write_text("not a pipeline file")
        assert not watcher.changed()
        (tmp_path / "b.yml").unlink()
        assert watcher.changed()
