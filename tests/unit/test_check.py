"""`runner check`: each problem kind from a real state file, severities and exit codes, the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runner import operations
from runner.config import Pipeline, load_pipeline
from runner.domain import queues as q
from runner.domain.brakes import HALTED, PAUSED
from runner.domain.runs import PHASE_ITEMS, RUN_RUNNING, TRIGGER_NOW
from runner.domain.workers import STALE_AFTER, WORKER_OFFLINE, WORKER_RUNNING
from runner.state import AttemptStart, RunRow, StateStore, WorkerRow, open_store

NOW = 1_800_000_000.0

PIPELINE = """\
version: 1
settings:
  state: .runner/state.db
  logs: .runner/logs
groups:
  g: {members: [a, b, c]}
definitions:
  d: {command: ["true"]}
tasks:
  t: {definition: d, group: g}
  u: {definition: d, group: g}
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return load_pipeline(tmp_path / "pipeline.yaml")


def state(pipeline: Pipeline) -> StateStore:
    return open_store(pipeline.state_file)


def seed_items(store: StateStore, task: str) -> None:
    store.sync_members(task, [(i, "{}", "") for i in ("a", "b", "c")], now=NOW - 100)


def open_run(store: StateStore, task: str, started: float) -> str:
    run_id = f"{task}@run"
    # a run belongs to a recorded task (its row gets the run's start)
    store.upsert_task(task, site="default", config_hash="h", modified_by="test", now=started)
    store.begin_run(
        RunRow(
            run_id,
            task,
            "default",
            TRIGGER_NOW,
            None,
            None,
            started,
            None,
            PHASE_ITEMS,
            RUN_RUNNING,
            "h",
            "",
        ),
        recurring=False,
    )
    return run_id


def worker(state_name: str, heartbeat: float) -> WorkerRow:
    return WorkerRow(
        "default", state_name, os.getpid(), socket.gethostname(), NOW - 500, heartbeat, 0, 0.0
    )


def checked(pipeline: Pipeline, **kwargs: float) -> operations.CheckReport:
    return operations.check(pipeline, now=NOW, alive=lambda _w: True, **kwargs)


class TestProblems:
    def test_nothing_ran_yet_is_ok(self, pipeline: Pipeline) -> None:
        report = checked(pipeline)
        assert ("OK", 0) == (report.status, report.exit_code)
        assert ["OK: 2 tasks, no items in error queues, nothing halted or stuck"] == report.lines()

    def test_items_in_error_queues_are_critical_per_task(self, pipeline: Pipeline) -> None:
        with state(pipeline) as store:
            seed_items(store, "t")
            store.move_item("t", "a", to_queue=q.TRASH, by="x", reason="", now=NOW - 50)
            for item in ("b", "c"):
                store.connection.execute(
                    "UPDATE items SET queue = ? WHERE task = 't' AND item_id = ?",
                    (q.CORRUPT if item == "b" else q.AWAITING_INTERVENTION, item),
                )
        report = checked(pipeline)
        assert ("CRITICAL", 2) == (report.status, report.exit_code)
        assert [
            "CRITICAL task t: 2 items in error queues (corrupt 1, awaiting-intervention 1); "
            "see: runner items --task t --category error"
        ] == report.lines()

    def test_halted_is_critical_and_paused_a_warning(self, pipeline: Pipeline) -> None:
        with state(pipeline) as store:
            store.control_task("u", action=PAUSED, by="alice", reason="patching", now=NOW - 10)
        report = checked(pipeline)
        assert ("WARNING", 1) == (report.status, report.exit_code)
        (line,) = report.lines()
        assert line.startswith("WARNING task u: paused by alice at ")
        with state(pipeline) as store:
            store.control_task("t", action=HALTED, by="halt_on", reason="3 failed", now=NOW)
        report = checked(pipeline)
        assert ("CRITICAL", ["halted", "paused"]) == (
            report.status,
            [p.kind for p in report.problems],
        )

    def test_a_runner_that_died_is_critical_a_clean_exit_is_not(self, pipeline: Pipeline) -> None:
        with state(pipeline) as store:
            store.heartbeat(worker(WORKER_OFFLINE, NOW - 3600))
        assert "OK" == checked(pipeline).status
        with state(pipeline) as store:
            store.heartbeat(worker(WORKER_RUNNING, NOW - STALE_AFTER - 1))
        report = checked(pipeline)
        (problem,) = [p for p in report.problems if p.kind == "runner-died"]
        assert problem.line().startswith("CRITICAL runner for site default: stopped without")

    def test_a_run_without_activity_past_the_threshold_is_stuck(self, pipeline: Pipeline) -> None:
        with state(pipeline) as store:
            seed_items(store, "t")
            run_id = open_run(store, "t", NOW - 4000)
            store.start_attempts(
                [AttemptStart("t", "a", 1, run_id, "default", "h", NOW - 3000, "")]
            )
            store.heartbeat(worker(WORKER_RUNNING, NOW - 1))
        assert "OK" == checked(pipeline, stuck_after=3600).status
        report = checked(pipeline, stuck_after=1800)
        (problem,) = report.problems
        assert ("CRITICAL", "run-stuck", run_id) == (problem.severity, problem.kind, problem.run_id)
        assert "no attempt or step of task t started or ended since" in problem.message

    def test_an_open_run_with_no_runner_up_is_a_warning(self, pipeline: Pipeline) -> None:
        with state(pipeline) as store:
            seed_items(store, "t")
            open_run(store, "t", NOW - 10)
        report = checked(pipeline)
        ((severity, kind),) = [(p.severity, p.kind) for p in report.problems]
        assert ("WARNING", "run-orphaned") == (severity, kind)

    def test_a_halted_tasks_open_run_is_not_reported_twice(self, pipeline: Pipeline) -> None:
        with state(pipeline) as store:
            seed_items(store, "t")
            open_run(store, "t", NOW - 10)
            store.control_task("t", action=HALTED, by="halt_on", reason="r", now=NOW - 5)
        assert ["halted"] == [p.kind for p in checked(pipeline).problems]


class TestCli:
    def run(self, pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner", "check", str(pipeline.root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def test_exit_codes_and_json(self, pipeline: Pipeline) -> None:
        clean = self.run(pipeline)
        assert (0, "OK: 2 tasks") == (clean.returncode, clean.stdout[:11])
        with state(pipeline) as store:
            store.control_task("u", action=PAUSED, by="alice", reason="patching", now=NOW)
        paused = self.run(pipeline, "--json")
        assert 1 == paused.returncode, paused.stderr
        shown = json.loads(paused.stdout)
        assert ("WARNING", 1, ["paused"]) == (
            shown["status"],
            shown["exit_code"],
            [p["kind"] for p in shown["problems"]],
        )
        bad = self.run(pipeline, "--stuck-after", "soon")
        assert 2 == bad.returncode
        assert "--stuck-after: 'soon' is not a duration" in bad.stderr
