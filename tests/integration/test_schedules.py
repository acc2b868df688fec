"""`runner run` on a fake clock: catch-up after an outage, busy tasks, windows, run-now, task info.

Each invocation is a real runner process whose clock reads a file the test writes, so time
passes only when the test says; items are real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from runner import exitcodes
from runner.domain import queues as q
from runner.schedule.taskinfo import modified_by, os_user, record_tasks
from runner.state import open_store
from tests.support.fakeclock import CLOCK_FILE, FILE_CLOCK, at, set_clock
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace

RUN_AT = (
    FILE_CLOCK
    + """\
from runner import api

outcome = api.run(api.load(sys.argv[1]), log_format="json", clock=clock)
raise SystemExit(outcome.exit_code)
"""
)

LEDGER = """\
import os, sys, pathlib
pathlib.Path("ledger.txt").open("a").write(f"{os.environ['RUNNER_RUN_ID']} {sys.argv[1]}\\n")
"""

WAIT_FOR_RELEASE = """\
import os, sys, pathlib, threading
item = sys.argv[1]
if pathlib.Path(f"hold-{item}").exists():
    pathlib.Path(f"started-{item}").write_text("")
    while not pathlib.Path(f"release-{item}").exists():
        threading.Event().wait(0.02)
pathlib.Path("ledger.txt").open("a").write(f"{os.environ['RUNNER_RUN_ID']} {item}\\n")
"""


def run_at(ws: Workspace, instant: float) -> subprocess.CompletedProcess[str]:
    """One `runner run` (no --now) whose clock says `instant`."""
    set_clock(ws.root, instant)
    return subprocess.run(
        [sys.executable, "-c", RUN_AT, "pipeline.yaml", CLOCK_FILE],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def spawn_at(ws: Workspace, instant: float) -> subprocess.Popen[str]:
    set_clock(ws.root, instant)
    return subprocess.Popen(
        [sys.executable, "-c", RUN_AT, "pipeline.yaml", CLOCK_FILE],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs(ws: Workspace) -> list[tuple[str, str, str]]:
    """(id, trigger, status) of every run, oldest first."""
    with ws.store() as store:
        rows = store.connection.execute(
            "SELECT id, trigger, status FROM runs ORDER BY started_at, rowid"
        ).fetchall()
    return [tuple(r) for r in rows]


def ledger(ws: Workspace) -> list[str]:
    path = ws.root / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def events(ws: Workspace, name: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in ws.log_text().splitlines() if line.strip()]
    return [e for e in lines if e["event"] == name]


class TestCatchUp:
    def test_an_outage_of_three_fires_is_made_up_once(self, ws: Workspace) -> None:
        """Invoked every 5 minutes, then not at all over the 11:00-13:00 fires: one run makes them up."""
        ws.script("item.py", LEDGER)
        ws.pipeline(
            """
            schedules:
              hourly: {cron: "0 * * * *", timezone: Europe/Berlin}
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./item.py", "{{ item.id }}"]}
            tasks:
              t: {definition: d, group: g, schedule: hourly}
            """,
        )
        ticks = [at("2025-06-02T09:47:00") + 300 * n for n in range(6)]  # 09:47 .. 10:12
        ticks += [at("2025-06-02T13:27:00") + 300 * n for n in range(9)]  # 13:27 .. 14:07
        for tick in ticks:
            result = run_at(ws, tick)
            assert exitcodes.OK == result.returncode, result.stderr
        expected = [
            ("t@20250602T100000Z", "schedule", "ok"),
            ("t@20250602T130000Z", "schedule", "ok"),
            ("t@20250602T140000Z", "schedule", "ok"),
        ]
        assert expected == runs(ws)
        assert [f"{run_id} a" for run_id, _, _ in expected] == ledger(ws)

    def test_a_running_task_is_not_started_twice(self, ws: Workspace) -> None:
        """A runner killed mid-run leaves it open; the next one resumes it and holds the new fire back."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        ws.pipeline(
            """
            schedules:
              hourly: {cron: "0 * * * *"}
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./item.py", "{{ item.id }}"]}
            policies:
              p: {backoff: {initial: 0s}}
            tasks:
              t: {definition: d, group: g, schedule: hourly, policy: p}
            """,
        )
        assert exitcodes.OK == run_at(ws, at("2025-06-02T09:58:00")).returncode
        (ws.root / "hold-a").write_text("")
        first = spawn_at(ws, at("2025-06-02T10:02:00"))
        try:
            wait_until(lambda: (ws.root / "started-a").exists())
        finally:
            first.kill()
            first.communicate(timeout=60)
        (ws.root / "hold-a").unlink()
        second = run_at(ws, at("2025-06-02T11:03:00"))
        assert exitcodes.OK == second.returncode, second.stderr
        assert [("t@20250602T100000Z", "schedule", "ok")] == runs(ws)
        skipped = events(ws, "run.skipped")
        assert ["2025-06-02T11:00:00Z"] == [e["fire_time"] for e in skipped]
        third = run_at(ws, at("2025-06-02T11:08:00"))
        assert exitcodes.OK == third.returncode, third.stderr
        assert ["t@20250602T100000Z", "t@20250602T110000Z"] == [r[0] for r in runs(ws)]


WINDOWED = """
schedules:
  hourly: {cron: "0 * * * *", window: 30m}
groups:
  g: {members: [a, b, c]}
definitions:
  d: {command: ["./item.py", "{{ item.id }}"]}
policies:
  p: {max_retries: 0}
tasks:
  t: {definition: d, group: g, schedule: hourly, policy: p, mode: MODE, concurrency: 1}
"""


def _window_closes_while_a_runs(ws: Workspace, mode: str) -> subprocess.CompletedProcess[str]:
    """Start the 10:00 run, let `a` run past the window's end, and return the finished runner."""
    ws.script("item.py", WAIT_FOR_RELEASE)
    ws.pipeline(WINDOWED.replace("MODE", mode), concurrency=1)
    assert exitcodes.OK == run_at(ws, at("2025-06-02T09:55:00")).returncode
    (ws.root / "hold-a").write_text("")
    runner = spawn_at(ws, at("2025-06-02T10:00:05"))
    try:
        wait_until(lambda: (ws.root / "started-a").exists())
        set_clock(ws.root, at("2025-06-02T10:31:00"))

        def only_a_recorded() -> bool:  # the attempts recorded ahead for b and c are withdrawn
            with ws.store() as store:
                return ["a"] == [r.item_id for r in store.open_attempts("default")]

        wait_until(only_a_recorded)
        (ws.root / "release-a").write_text("")
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate(timeout=60)
    (ws.root / "hold-a").unlink()
    return subprocess.CompletedProcess(runner.args, runner.returncode, "", stderr)


class TestWindows:
    def test_once_leftovers_wait_for_the_next_window(self, ws: Workspace) -> None:
        """mode once: the window closes while `a` runs; `a` finishes, b and c start in the next window."""
        result = _window_closes_while_a_runs(ws, "once")
        assert exitcodes.OK == result.returncode, result.stderr
        assert ["t@20250602T100000Z a"] == ledger(ws)
        with ws.store() as store:
            assert {q.SUCCESSFUL: 1, q.UNATTEMPTED: 2} == store.queue_counts("t")
            assert "window closed: 2 items not reached" == store.last_run("t").message  # type: ignore[union-attr]
        assert exitcodes.OK == run_at(ws, at("2025-06-02T11:00:05")).returncode
        assert ["t@20250602T100000Z a", "t@20250602T110000Z b", "t@20250602T110000Z c"] == ledger(
            ws
        )

    def test_recurring_leftovers_are_reported_not_reached(self, ws: Workspace) -> None:
        """mode recurring: the run reports the items it did not reach; the next run does every item."""
        result = _window_closes_while_a_runs(ws, "recurring")
        assert exitcodes.OK == result.returncode, result.stderr
        with ws.store() as store:
            assert "window closed: 2 items not reached" == store.last_run("t").message  # type: ignore[union-attr]
        finished = events(ws, "run.finished")
        assert "window closed: 2 items not reached" == finished[-1]["message"]
        assert exitcodes.OK == run_at(ws, at("2025-06-02T11:00:05")).returncode
        expected = ["t@20250602T110000Z a", "t@20250602T110000Z b", "t@20250602T110000Z c"]
        assert expected == sorted(ledger(ws)[1:])

    def test_no_item_starts_after_the_window_even_right_after_it_closes(
        self, ws: Workspace
    ) -> None:
        """An item that ends just after the window closed does not let the next item start."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        ws.pipeline(WINDOWED.replace("MODE", "once"), concurrency=1)
        assert exitcodes.OK == run_at(ws, at("2025-06-02T09:55:00")).returncode
        (ws.root / "hold-a").write_text("")
        runner = spawn_at(ws, at("2025-06-02T10:00:05"))
        try:
            wait_until(lambda: (ws.root / "started-a").exists())
            set_clock(ws.root, at("2025-06-02T10:31:00"))
            (ws.root / "release-a").write_text("")
            runner.communicate(timeout=60)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.communicate(timeout=60)
        assert ["t@20250602T100000Z a"] == ledger(ws)


class TestRunNow:
    def test_run_now_items_run_out_of_schedule_and_without_one(self, ws: Workspace) -> None:
        """Items moved to run-now run at once (only they), for a windowed task out of its window and
        for a task with no schedule."""
        ws.script("item.py", LEDGER)
        ws.pipeline(
            """
            schedules:
              nightly: {cron: "0 2 * * *", window: 1h}
            groups:
              g: {members: [a, b]}
            definitions:
              d: {command: ["./item.py", "{{ item.id }}"]}
            tasks:
              nightly: {definition: d, group: g, schedule: nightly}
              manual: {definition: d, group: g}
            """,
        )
        assert (
            exitcodes.OK
            == ws.runner("run", "pipeline.yaml", "--now", "--task", "manual").returncode
        )
        assert exitcodes.OK == run_at(ws, at("2025-06-02T09:00:00")).returncode
        with ws.open_state() as store:
            store.sync_members(
                "nightly", [("a", "{}", ""), ("b", "{}", "")], now=at("2025-06-02T09:00:00")
            )
            for task in ("nightly", "manual"):
                store.move_item(
                    task,
                    "b",
                    to_queue=q.RUN_NOW,
                    by="op",
                    reason="urgent",
                    now=at("2025-06-02T09:01:00"),
                )
        before = len(ledger(ws))
        result = run_at(ws, at("2025-06-02T12:00:00"))
        assert exitcodes.OK == result.returncode, result.stderr
        new = sorted(line.split("@")[0] + " " + line.split()[1] for line in ledger(ws)[before:])
        assert ["manual b", "nightly b"] == new
        assert 2 == [r[1] for r in runs(ws)].count("run-now")
        with ws.store() as store:
            assert 1 == store.queue_counts("nightly")[q.UNATTEMPTED]


class TestTaskInfo:
    def test_created_modified_and_author_from_git(self, ws: Workspace) -> None:
        """A committed task file gives its author; an edit after the commit gives the OS user."""
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["/bin/true"]}
            tasks:
              t: {definition: d, group: g}
            """,
        )
        git = ["git", "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com"]
        env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        for argv in (["init", "-q"], ["add", "pipeline.yaml"], ["commit", "-q", "-m", "add t"]):
            subprocess.run([*git, *argv], cwd=ws.root, env=env, check=True, capture_output=True)
        from runner.config import load_pipeline

        loaded = load_pipeline(ws.root / "pipeline.yaml")
        assert "Ada Lovelace" == modified_by(loaded, "t")
        with open_store(ws.root / "state.db") as store:
            assert ["t"] == record_tasks(loaded, store, at("2025-06-02T09:00:00"))
            row = store.task("t")
            assert row is not None
            assert (at("2025-06-02T09:00:00"), "Ada Lovelace", "idle") == (
                row.created,
                row.last_modified_by,
                row.status,
            )
            assert [] == record_tasks(loaded, store, at("2025-06-02T10:00:00"))
            (ws.root / "pipeline.yaml").write_text(
                (ws.root / "pipeline.yaml").read_text().replace("/bin/true", "/bin/echo")
            )
            edited = load_pipeline(ws.root / "pipeline.yaml")
            assert os_user() == modified_by(edited, "t")
            assert ["t"] == record_tasks(edited, store, time.time() + 60)
            row = store.task("t")
            assert row is not None
            assert os_user() == row.last_modified_by
            assert row.last_modified == (ws.root / "pipeline.yaml").stat().st_mtime
            assert at("2025-06-02T09:00:00") == row.created
