"""Tests of runner.operations: status, items, move, history and explain over a real state file.

The state is seeded through StateStore itself (the engine's own writes), with a fixed clock,
so every case of `explain` can be set up exactly; the CLI is driven for real in
tests/integration/test_operator_cli.py.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner import operations
from runner.config import Pipeline, load_pipeline
from runner.domain import queues as q
from runner.domain.statuses import OK
from runner.domain.workers import STALE_AFTER
from runner.errors import UsageError
from runner.state import (
    AttemptEnd,
    AttemptStart,
    RunRow,
    StateStore,
    WorkerRow,
    open_store,
)
from runner.state.launches import LaunchJournal, journal_path

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()  # a Monday, noon UTC
HOUR = 3600.0

PIPELINE = """\
version: 1
settings: {state: .runner/state.db, logs: .runner/logs, concurrency: 4, secrets: [OPS_SECRET]}
schedules:
  nightly: {cron: "0 22 * * *", window: 2h}
groups:
  g:
    members:
      - {id: a, server: s1}
      - {id: b, server: s1}
      - {id: c, server: s1}
      - {id: d}
definitions:
  d: {command: [/bin/true, "{{ item.id }}"], requires: [server]}
policies:
  p: {max_retries: 2, backoff: {initial: 1m, factor: 2, max: 1h}}
tasks:
  t: {definition: d, group: g, policy: p, concurrency: 2}
  s: {definition: d, group: g, policy: p, schedule: nightly}
  once: {definition: d, group: g, mode: once}
  stopped: {definition: d, group: g, enabled: false}
"""

MEMBERS = [("a", {"server": "s1"}), ("b", {"server": "s1"}), ("c", {"server": "s1"}), ("d", {})]


def always_alive(_worker: WorkerRow) -> bool:
    """Every worker's process counts as running."""
    return True


def logged_events(pipeline: Pipeline, name: str) -> list[dict[str, object]]:
    """The events called `name` in the pipeline's JSON log files."""
    logs = pipeline.resolve_path(".runner/logs")
    events = (
        json.loads(line) for p in logs.glob("runner-*.jsonl") for line in p.read_text().splitlines()
    )
    return [e for e in events if e["event"] == name]


class Seed:
    """Writes a state file through StateStore the way the engine does, at chosen times."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.store: StateStore = open_store(pipeline.resolve_path(pipeline.settings.state))
        self.attempt_ids: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self.store.close()

    def task(
        self,
        name: str,
        *,
        at: float = NOW - HOUR,
        members: Sequence[tuple[str, dict[str, str]]] = MEMBERS,
    ) -> None:
        """The task exists and its group was synchronised at `at`."""
        self.store.upsert_task(name, site="default", config_hash="h", modified_by="tester", now=at)
        self.sync(name, members, at=at)

    def sync(
        self, name: str, members: Sequence[tuple[str, dict[str, str]]], *, at: float = NOW - HOUR
    ) -> None:
        rows = [
            (item_id, json.dumps(attrs), "" if attrs.get("server") else "server")
            for item_id, attrs in members
        ]
        self.store.sync_members(name, rows, now=at)

    def run(
        self,
        task: str,
        *,
        trigger: str = "now",
        at: float = NOW - 60,
        fire: float | None = None,
        window_end: float | None = None,
    ) -> str:
        """Open a run of the task."""
        run_id = f"{task}@{int(at)}-{trigger}"
        row = RunRow(
            run_id,
            task,
            "default",
            trigger,
            fire,
            window_end,
            at,
            None,
            "items",
            "running",
            "x",
            "",
        )
        self.store.begin_run(row, recurring=False)
        return run_id

    def start(self, task: str, item: str, run_id: str, *, at: float = NOW - 30) -> int:
        """An attempt of the item starts (recorded as running)."""
        row = self.store.item(task, item)
        assert row is not None
        (attempt_id,) = self.store.start_attempts(
            [AttemptStart(task, item, row.attempts + 1, run_id, "default", "hash1", at, "")]
        )
        self.attempt_ids[(task, item)] = attempt_id
        return attempt_id

    def launched(self, *attempt_ids: int) -> None:
        """The site's runner noted these attempts in its launch journal (they were launched)."""
        journal = LaunchJournal(journal_path(self.store.path, "default"))
        for attempt_id in attempt_ids:
            journal.record(attempt_id)
        journal.close()

    def finish(
        self,
        task: str,
        item: str,
        *,
        status: str,
        queue: str,
        at: float = NOW - 20,
        retry_at: float | None = None,
        retries_used: int = 0,
    ) -> None:
        """The item's running attempt ends with this status, sending it to `queue`."""
        attempt_id = self.attempt_ids[(task, item)]
        self.store.finish_attempts(
            [
                AttemptEnd(
                    attempt_id,
                    task,
                    item,
                    status,
                    0 if status == OK else 3,
                    None,
                    None if status == OK else f"{status}: exit code 3: busy",
                    queue,
                    retry_at,
                    retries_used,
                    at,
                    1.5,
                )
            ]
        )

    def attempt(self, task: str, item: str, run_id: str, **end: object) -> None:
        """A whole attempt: start, then finish."""
        self.start(task, item, run_id)
        self.finish(task, item, **end)  # type: ignore[arg-type]

    def worker(self, *, heartbeat: float = NOW - 1, state: str = "running") -> None:
        """The site's runner reported a heartbeat."""
        self.store.heartbeat(
            WorkerRow(
                "default", state, os.getpid(), socket.gethostname(), NOW - HOUR, heartbeat, 5, 2.5
            )
        )


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return load_pipeline(tmp_path / "pipeline.yaml")


@pytest.fixture
def seed(pipeline: Pipeline) -> Iterator[Seed]:
    state = Seed(pipeline)
    yield state
    state.close()


def explain(pipeline: Pipeline, task: str, item: str) -> operations.Explanation:
    return operations.explain(pipeline, task, item, now=NOW, alive=always_alive)


class TestExplainQueues:
    """`explain` names the item's queue and what keeps it there."""

    def test_missing_attributes(self, pipeline: Pipeline, seed: Seed) -> None:
        """An incomplete item is explained by the attributes it lacks."""
        seed.task("t")
        result = explain(pipeline, "t", "d")
        assert (q.INCOMPLETE, operations.R_MISSING) == (result.queue, result.reason)
        assert "lacks server" in result.summary
        assert ["server"] == result.facts["missing"]

    def test_paused_by_whom_and_why(self, pipeline: Pipeline, seed: Seed) -> None:
        """A paused item is explained by the latest move: who, when and why."""
        seed.task("t")
        seed.store.move_item("t", "a", to_queue=q.PAUSED, by="alice", reason="disk full", now=NOW)
        result = explain(pipeline, "t", "a")
        assert operations.R_HELD == result.reason
        assert "moved there by alice at 2026-01-05T12:00:00Z: disk full" in result.summary
        assert "alice" == result.facts["latest_move"]["by"]

    @pytest.mark.parametrize("queue", [q.DISABLED, q.TRASH])
    def test_disabled_and_trash_are_held(self, pipeline: Pipeline, seed: Seed, queue: str) -> None:
        """Disabled and trashed items are explained like paused ones, naming the queue."""
        seed.task("t")
        seed.store.move_item("t", "a", to_queue=queue, by="bob", reason="retired", now=NOW)
        result = explain(pipeline, "t", "a")
        assert operations.R_HELD == result.reason
        assert f"it is in {queue}, moved there by bob" in result.summary

    def test_error_queue_with_retries_used(self, pipeline: Pipeline, seed: Seed) -> None:
        """An item in an error queue is explained with its status and retries used of the policy's."""
        seed.task("t")
        run_id = seed.run("t")
        seed.attempt("t", "a", run_id, status="#001", queue=q.AWAITING_INTERVENTION, retries_used=2)
        result = explain(pipeline, "t", "a")
        assert operations.R_ERROR_QUEUE == result.reason
        assert "after status #001 (retries used 2 of 2)" in result.summary
        assert "runner move --task t --to run-now a" in result.summary

    def test_done_once(self, pipeline: Pipeline, seed: Seed) -> None:
        """A successful item of a `mode: once` task is done for good."""
        seed.task("once")
        run_id = seed.run("once")
        seed.attempt("once", "a", run_id, status=OK, queue=q.SUCCESSFUL)
        result = explain(pipeline, "once", "a")
        assert operations.R_DONE == result.reason
        assert "mode: once" in result.summary

    def test_done_recurring_runs_again_next_fire(self, pipeline: Pipeline, seed: Seed) -> None:
        """A successful item of a recurring scheduled task runs again at the next fire."""
        seed.task("s")
        run_id = seed.run("s")
        seed.attempt("s", "a", run_id, status=OK, queue=q.SUCCESSFUL)
        result = explain(pipeline, "s", "a")
        assert operations.R_DONE == result.reason
        assert "next fire 2026-01-05T22:00:00Z" in result.summary


class TestExplainWhyNotNow:
    """`explain` says why a waiting item has not started."""

    def test_task_disabled(self, pipeline: Pipeline, seed: Seed) -> None:
        """A waiting item of a disabled task is explained by the task."""
        seed.task("stopped")
        result = explain(pipeline, "stopped", "a")
        assert operations.R_TASK_DISABLED == result.reason
        assert result.facts["task_enabled"] is False

    def test_backoff_until(self, pipeline: Pipeline, seed: Seed) -> None:
        """An item in retry before its backoff is over says until when."""
        seed.task("t")
        run_id = seed.run("t")
        seed.attempt(
            "t", "a", run_id, status="#001", queue=q.RETRY, retry_at=NOW + 120, retries_used=1
        )
        result = explain(pipeline, "t", "a")
        assert operations.R_BACKOFF == result.reason
        assert "until 2026-01-05T12:02:00Z (retry 1 of 2 after status #001)" in result.summary

    def test_out_of_schedule_until_next_fire(self, pipeline: Pipeline, seed: Seed) -> None:
        """A new item of a scheduled task waits for the next fire and its window."""
        seed.task("s")
        result = explain(pipeline, "s", "a")
        assert operations.R_OUT_OF_SCHEDULE == result.reason
        assert "until the next fire at 2026-01-05T22:00:00Z" in result.summary
        assert "window until 2026-01-06T00:00:00Z" in result.summary

    def test_window_of_open_run_closed(self, pipeline: Pipeline, seed: Seed) -> None:
        """An open scheduled run whose window closed starts nothing more: out of schedule."""
        fire = NOW - 14 * HOUR  # 22:00 the evening before; window ended at 00:00
        seed.task("s", at=fire - HOUR)
        seed.worker()
        seed.run("s", trigger="schedule", at=fire, fire=fire, window_end=fire + 2 * HOUR)
        result = explain(pipeline, "s", "a")
        assert operations.R_OUT_OF_SCHEDULE == result.reason

    def test_fired_but_not_started(self, pipeline: Pipeline, seed: Seed) -> None:
        """A fire inside its window that no runner started yet is started by the next run."""
        seed.task("s", at=NOW - 16 * HOUR)
        result = operations.explain(pipeline, "s", "a", now=NOW - 13 * HOUR, alive=always_alive)
        assert operations.R_NEXT_RUN == result.reason
        assert "fired at 2026-01-04T22:00:00Z" in result.summary

    def test_no_schedule(self, pipeline: Pipeline, seed: Seed) -> None:
        """A waiting item of a task without a schedule runs only with --now or from run-now."""
        seed.task("t")
        result = explain(pipeline, "t", "a")
        assert operations.R_NO_SCHEDULE == result.reason
        assert "runner run --task t --now" in result.summary

    def test_run_now_waits_for_next_run(self, pipeline: Pipeline, seed: Seed) -> None:
        """A run-now item with no open run starts at the next `runner run`."""
        seed.task("t")
        seed.store.move_item("t", "a", to_queue=q.RUN_NOW, by="alice", reason="", now=NOW)
        result = explain(pipeline, "t", "a")
        assert operations.R_NEXT_RUN == result.reason

    def test_concurrency_full(self, pipeline: Pipeline, seed: Seed) -> None:
        """With the task's cap of running items reached, a waiting item says so."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        seed.start("t", "b", run_id)
        result = explain(pipeline, "t", "c")
        assert operations.R_CONCURRENCY == result.reason
        assert "2 of 2 for this task" in result.summary
        assert {"running": 2, "cap": 2, "runner_running": 2, "runner_cap": 4} == result.facts[
            "concurrency"
        ]

    def test_waiting_its_turn(self, pipeline: Pipeline, seed: Seed) -> None:
        """In an open run with free slots, a waiting item counts the items ahead of it."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        result = explain(pipeline, "t", "c")
        assert operations.R_WAITING == result.reason
        assert 1 == result.facts["ahead"]

    def test_open_run_without_runner(self, pipeline: Pipeline, seed: Seed) -> None:
        """An open run with no runner up for its site is resumed by the next `runner run`."""
        seed.task("t")
        run_id = seed.run("t")
        result = explain(pipeline, "t", "c")
        assert operations.R_NO_RUNNER == result.reason
        assert run_id == result.facts["open_run"]["id"]

    def test_left_the_group(self, pipeline: Pipeline, seed: Seed) -> None:
        """An item the group no longer lists keeps its queue and is not run."""
        seed.task("t")
        seed.sync("t", [m for m in MEMBERS if m[0] != "b"])
        result = explain(pipeline, "t", "b")
        assert operations.R_LEFT_GROUP == result.reason
        assert result.facts["in_group"] is False

    def test_task_no_longer_in_the_pipeline(self, pipeline: Pipeline, seed: Seed) -> None:
        """Items of a task removed from the pipeline are kept but never run."""
        seed.task("gone")
        result = explain(pipeline, "gone", "a")
        assert operations.R_TASK_REMOVED == result.reason


class TestExplainRunning:
    """`explain` of an item whose attempt is under way."""

    def test_running_since(self, pipeline: Pipeline, seed: Seed) -> None:
        """A running item says which attempt, since when and in which run."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.start("t", "a", run_id, at=NOW - 30)
        result = explain(pipeline, "t", "a")
        assert operations.R_RUNNING == result.reason
        assert f"Running: attempt 1 since 2026-01-05T11:59:30Z in run {run_id}." == result.summary

    def test_pending_move_is_mentioned(self, pipeline: Pipeline, seed: Seed) -> None:
        """A move made while the item runs is announced as applying when the attempt ends."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        seed.store.move_item("t", "a", to_queue=q.PAUSED, by="alice", reason="", now=NOW)
        result = explain(pipeline, "t", "a")
        assert "move to paused applies when this attempt ends" in result.summary

    def test_running_without_runner_is_interrupted(self, pipeline: Pipeline, seed: Seed) -> None:
        """An attempt recorded as running with no runner up will be recorded interrupted."""
        seed.task("t")
        seed.worker(heartbeat=NOW - HOUR)
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        result = explain(pipeline, "t", "a")
        assert operations.R_INTERRUPTED == result.reason

    def test_recorded_ahead_of_a_slot_is_about_to_launch(
        self, pipeline: Pipeline, seed: Seed
    ) -> None:
        """An attempt recorded but not in the runner's launch journal waits for a slot."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.launched(seed.start("t", "a", run_id))
        seed.start("t", "b", run_id)
        result = explain(pipeline, "t", "b")
        assert operations.R_ABOUT_TO_LAUNCH == result.reason
        assert result.summary.startswith("About to launch: attempt 1 is recorded")
        assert result.facts["running"] is False and result.facts["about_to_launch"] is True
        assert 1 == result.facts["concurrency"]["running"]
        assert operations.R_RUNNING == explain(pipeline, "t", "a").reason

    def test_recorded_ahead_without_runner_is_withdrawn_next(
        self, pipeline: Pipeline, seed: Seed
    ) -> None:
        """With no runner up, an attempt never launched is withdrawn by the next start."""
        seed.task("t")
        seed.worker(heartbeat=NOW - HOUR)
        run_id = seed.run("t")
        seed.launched(seed.start("t", "a", run_id))
        seed.start("t", "b", run_id)
        result = explain(pipeline, "t", "b")
        assert operations.R_ABOUT_TO_LAUNCH == result.reason
        assert "the next `runner run` withdraws it" in result.summary
        assert operations.R_INTERRUPTED == explain(pipeline, "t", "a").reason

    def test_without_a_journal_every_open_attempt_counts_as_running(
        self, pipeline: Pipeline, seed: Seed
    ) -> None:
        """A state written by a runner that kept no launch journal: nothing is about to launch."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        seed.start("t", "b", run_id)
        assert operations.R_RUNNING == explain(pipeline, "t", "b").reason
        (task,) = operations.status(pipeline, tasks=["t"], now=NOW, alive=always_alive).tasks
        assert (2, 0) == (task.running, task.about_to_launch)

    def test_unknown_item(self, pipeline: Pipeline, seed: Seed) -> None:
        """An unknown item is a usage error that says how to find ids."""
        seed.task("t")
        with pytest.raises(UsageError, match="has no item 'zzz'"):
            explain(pipeline, "t", "zzz")


class TestStatus:
    """`status`: workers, task states and counts."""

    def test_stale_heartbeat_is_offline(self, pipeline: Pipeline, seed: Seed) -> None:
        """A heartbeat older than STALE_AFTER shows the worker offline."""
        seed.task("t")
        seed.worker(heartbeat=NOW - STALE_AFTER - 1)
        report = operations.status(pipeline, now=NOW, alive=always_alive)
        assert ["offline"] == [w.state for w in report.workers]

    def test_fresh_heartbeat_keeps_its_state(self, pipeline: Pipeline, seed: Seed) -> None:
        """A recent heartbeat shows the state the runner reported."""
        seed.task("t")
        seed.worker(heartbeat=NOW - STALE_AFTER + 1, state="running")
        report = operations.status(pipeline, now=NOW, alive=always_alive)
        assert ["running"] == [w.state for w in report.workers]

    def test_gone_process_is_offline(self, pipeline: Pipeline, seed: Seed) -> None:
        """A worker whose process is known to be gone is offline at once."""
        seed.task("t")
        seed.worker(heartbeat=NOW - 1)
        report = operations.status(pipeline, now=NOW, alive=lambda _w: False)
        assert ["offline"] == [w.state for w in report.workers]

    def test_totals_exclude_other_queues(self, pipeline: Pipeline, seed: Seed) -> None:
        """trash, incorrect-format and disabled items are counted per queue but not in total."""
        seed.task("t")
        seed.store.move_item("t", "a", to_queue=q.TRASH, by="x", reason="", now=NOW)
        seed.store.move_item("t", "b", to_queue=q.DISABLED, by="x", reason="", now=NOW)
        run_id = seed.run("t")
        seed.attempt("t", "c", run_id, status="bad", queue=q.INCORRECT_FORMAT)
        (task,) = operations.status(pipeline, tasks=["t"], now=NOW, alive=always_alive).tasks
        assert 1 == task.total
        assert {"in-progress": 0, "inactive": 1, "error": 0, "other": 3} == task.categories
        assert list(q.ALL_QUEUES) == list(task.queues)

    def test_running_and_about_to_launch_are_told_apart(
        self, pipeline: Pipeline, seed: Seed
    ) -> None:
        """Attempts in the launch journal run; the others are recorded ahead of a slot."""
        seed.task("t")
        seed.worker()
        run_id = seed.run("t")
        seed.launched(seed.start("t", "a", run_id))
        seed.start("t", "b", run_id)
        seed.start("t", "c", run_id)
        (task,) = operations.status(pipeline, tasks=["t"], now=NOW, alive=always_alive).tasks
        assert (1, 2) == (task.running, task.about_to_launch)
        assert 2 == task.to_json()["about_to_launch"]
        page = operations.items(pipeline, "t")
        flags = {e.id: (e.running, e.about_to_launch) for e in page.items}
        assert {"a": (True, False), "b": (False, True), "d": (False, False)} == {
            k: flags[k] for k in "abd"
        }

    def test_tasks_that_never_ran_have_zeros(self, pipeline: Pipeline) -> None:
        """Without a state file every task of the pipeline shows as new with zero items."""
        report = operations.status(pipeline, now=NOW, alive=always_alive)
        assert ["once", "s", "stopped", "t"] == [t.name for t in report.tasks]
        assert {"disabled", "new"} == {t.status for t in report.tasks}
        assert {0} == {t.total for t in report.tasks}

    def test_open_run_without_runner_is_interrupted(self, pipeline: Pipeline, seed: Seed) -> None:
        """A task with an open run and no runner up shows as interrupted."""
        seed.task("t")
        seed.run("t")
        (task,) = operations.status(pipeline, tasks=["t"], now=NOW, alive=always_alive).tasks
        assert operations.TASK_INTERRUPTED == task.status

    def test_unknown_task_suggests(self, pipeline: Pipeline) -> None:
        """An unknown --task is a usage error naming the nearest task."""
        with pytest.raises(UsageError, match="did you mean 'once'"):
            operations.status(pipeline, tasks=["onse"], now=NOW)


class TestItems:
    """`items`: filters, listing order and pages."""

    def test_dispatch_order_then_fifo(self, pipeline: Pipeline, seed: Seed) -> None:
        """run-now comes first, then unattempted in arrival order, then the other queues."""
        seed.task("t")
        seed.store.move_item("t", "c", to_queue=q.RUN_NOW, by="x", reason="", now=NOW)
        page = operations.items(pipeline, "t")
        assert ["c", "a", "b", "d"] == [e.id for e in page.items]
        assert [q.RUN_NOW, q.UNATTEMPTED, q.UNATTEMPTED, q.INCOMPLETE] == [
            e.queue for e in page.items
        ]

    def test_pages_cross_queues(self, pipeline: Pipeline, seed: Seed) -> None:
        """An offset and limit page through the listing order across queues."""
        seed.task("t")
        seed.store.move_item("t", "c", to_queue=q.RUN_NOW, by="x", reason="", now=NOW)
        page = operations.items(pipeline, "t", limit=2, offset=1)
        assert (4, ["a", "b"]) == (page.total, [e.id for e in page.items])

    def test_queue_category_match_and_status(self, pipeline: Pipeline, seed: Seed) -> None:
        """Filters narrow the listing; the match looks at the id and the last error."""
        seed.task("t")
        run_id = seed.run("t")
        seed.attempt("t", "a", run_id, status="#001", queue=q.AWAITING_INTERVENTION)
        assert ["a"] == [e.id for e in operations.items(pipeline, "t", category=q.ERROR).items]
        assert ["a"] == [e.id for e in operations.items(pipeline, "t", match="BUSY").items]
        assert ["a"] == [e.id for e in operations.items(pipeline, "t", status="#001").items]
        queues = [q.INCOMPLETE, q.UNATTEMPTED]
        assert ["b", "c", "d"] == [
            e.id for e in operations.items(pipeline, "t", queues=queues).items
        ]

    def test_left_members_only_on_request(self, pipeline: Pipeline, seed: Seed) -> None:
        """Items that left the group are listed only with include_left."""
        seed.task("t")
        seed.sync("t", [m for m in MEMBERS if m[0] != "b"])
        assert ["a", "c"] == [
            e.id for e in operations.items(pipeline, "t", queues=["unattempted"]).items
        ]
        with_left = operations.items(pipeline, "t", queues=["unattempted"], include_left=True)
        assert ["a", "b", "c"] == [e.id for e in with_left.items]

    def test_unknown_queue_suggests(self, pipeline: Pipeline, seed: Seed) -> None:
        """A misspelt queue is a usage error naming the nearest queue."""
        seed.task("t")
        with pytest.raises(UsageError, match="did you mean 'paused'"):
            operations.items(pipeline, "t", queues=["pased"])


class TestMove:
    """`move`: all or nothing, audited, masked and logged."""

    def test_all_or_nothing(self, pipeline: Pipeline, seed: Seed) -> None:
        """One refused item refuses the whole move and nothing changes."""
        seed.task("t")
        with pytest.raises(operations.MoveRefusedError, match="'d': in 'incomplete': lacks"):
            operations.move(pipeline, "t", q.RUN_NOW, ["a", "d"], now=NOW)
        assert q.UNATTEMPTED == seed.store.item("t", "a").queue  # type: ignore[union-attr]
        assert [] == seed.store.moves_of("t", "a")

    def test_unknown_ids_are_named(self, pipeline: Pipeline, seed: Seed) -> None:
        """Unknown ids are named and nothing moves."""
        seed.task("t")
        with pytest.raises(UsageError, match="has no items 'x1', 'x2'"):
            operations.move(pipeline, "t", q.PAUSED, ["a", "x1", "x2"], now=NOW)
        assert q.UNATTEMPTED == seed.store.item("t", "a").queue  # type: ignore[union-attr]

    def test_from_queue_moves_every_item(self, pipeline: Pipeline, seed: Seed) -> None:
        """--from-queue moves every item of that queue, oldest first."""
        seed.task("t")
        outcome = operations.move(pipeline, "t", q.PAUSED, from_queue=q.UNATTEMPTED, now=NOW)
        assert ["a", "b", "c"] == [m.item for m in outcome.moves]
        assert {"paused": 3, "incomplete": 1} == seed.store.queue_counts("t")

    def test_ids_must_be_in_from_queue(self, pipeline: Pipeline, seed: Seed) -> None:
        """With ids and --from-queue, an id in another queue refuses the move."""
        seed.task("t")
        with pytest.raises(operations.MoveRefusedError, match="not in 'corrupt'"):
            operations.move(pipeline, "t", q.PAUSED, ["a"], from_queue=q.CORRUPT, now=NOW)

    def test_running_item_is_pending(self, pipeline: Pipeline, seed: Seed) -> None:
        """A running item's move is recorded pending and applied when its attempt ends."""
        seed.task("t")
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        (record,) = operations.move(pipeline, "t", q.PAUSED, ["a"], by="alice", now=NOW).moves
        assert record.pending
        seed.finish("t", "a", status=OK, queue=q.SUCCESSFUL, at=NOW + 5)
        assert q.PAUSED == seed.store.item("t", "a").queue  # type: ignore[union-attr]
        (move,) = seed.store.moves_of("t", "a")
        assert NOW + 5 == move.applied_at

    def test_secrets_are_masked_and_the_move_is_logged(
        self, pipeline: Pipeline, seed: Seed
    ) -> None:
        """A secret typed into --reason is masked in the state and in the item.moved event."""
        seed.task("t")
        operations.move(
            pipeline,
            "t",
            q.PAUSED,
            ["a"],
            reason="token hunter2 leaked",
            by="alice",
            now=NOW,
            env={"OPS_SECRET": "hunter2"},
        )
        (move,) = seed.store.moves_of("t", "a")
        assert "token *** leaked" == move.reason
        (moved,) = logged_events(pipeline, "item.moved")
        expected = {
            "task": "t",
            "item": "a",
            "from_queue": "unattempted",
            "to_queue": "paused",
            "by": "alice",
            "reason": "token *** leaked",
            "pending": False,
        }
        assert expected == {k: moved[k] for k in expected}

    def test_a_secret_in_by_is_masked(self, pipeline: Pipeline, seed: Seed) -> None:
        """A secret typed into --by is masked in the state and in the item.moved event."""
        seed.task("t")
        operations.move(
            pipeline,
            "t",
            q.PAUSED,
            ["a"],
            by="alice hunter2",
            now=NOW,
            env={"OPS_SECRET": "hunter2"},
        )
        (move,) = seed.store.moves_of("t", "a")
        assert "alice ***" == move.by
        (moved,) = logged_events(pipeline, "item.moved")
        assert "alice ***" == moved["by"]

    def test_needs_items_or_a_queue(self, pipeline: Pipeline, seed: Seed) -> None:
        """A move naming neither items nor --from-queue is a usage error."""
        seed.task("t")
        with pytest.raises(UsageError, match="name the items to move"):
            operations.move(pipeline, "t", q.PAUSED, now=NOW)


class TestHistory:
    """`history`: attempts and moves of one item in time order."""

    def test_attempts_and_moves_in_order(self, pipeline: Pipeline, seed: Seed) -> None:
        """Moves and attempts interleave by time; output files show only when they exist."""
        seed.task("t")
        run_id = seed.run("t")
        seed.attempt("t", "a", run_id, status="#001", queue=q.AWAITING_INTERVENTION)
        seed.store.move_item("t", "a", to_queue=q.RUN_NOW, by="alice", reason="fixed", now=NOW)
        report = operations.history(pipeline, "t", "a")
        assert ["attempt", "move"] == [e.kind for e in report.entries]
        attempt, move = report.to_json()
        assert (1, "#001", None) == (attempt["attempt"], attempt["status"], attempt["stdout"])
        assert ("awaiting-intervention", "run-now", "fixed") == (
            move["from"],
            move["to"],
            move["reason"],
        )

    def test_superseded_pending_move_is_not_shown_applied(
        self, pipeline: Pipeline, seed: Seed
    ) -> None:
        """Two moves while the item runs: only the second took effect; the first is shown
        superseded, neither applied nor pending."""
        seed.task("t")
        run_id = seed.run("t")
        seed.start("t", "a", run_id)
        seed.store.move_item("t", "a", to_queue=q.PAUSED, by="alice", reason="hold", now=NOW)
        seed.store.move_item("t", "a", to_queue=q.TRASH, by="bob", reason="drop", now=NOW + 1)
        seed.finish("t", "a", status=OK, queue=q.SUCCESSFUL, at=NOW + 5)
        first, second = (
            e for e in operations.history(pipeline, "t", "a").to_json() if e["kind"] == "move"
        )
        shown = [(m["to"], m["applied"], m["pending"], m["superseded"]) for m in (first, second)]
        expected = [
            (q.PAUSED, None, False, True),
            (q.TRASH, "2026-01-05T12:00:05Z", False, False),
        ]
        assert expected == shown


class TestParseWhen:
    """`--since`/`--until` values."""

    def test_iso_with_and_without_zone(self) -> None:
        """ISO 8601 is read as given; without a zone it is UTC."""
        assert datetime(2026, 1, 5, 17, 0, tzinfo=UTC) == operations.parse_when(
            "2026-01-05T18:00+01:00"
        )
        assert datetime(2026, 1, 5, 18, 0, tzinfo=UTC) == operations.parse_when("2026-01-05T18:00")

    def test_duration_ago(self) -> None:
        """A duration means that long before now."""
        assert datetime(2026, 1, 5, 11, 50, tzinfo=UTC) == operations.parse_when("10m", now=NOW)

    def test_garbage_is_a_usage_error(self) -> None:
        """Anything else is a usage error showing the accepted forms."""
        with pytest.raises(UsageError, match="ISO 8601"):
            operations.parse_when("yesterday")
