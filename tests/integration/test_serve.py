"""`runner serve`: fires on time, busy tasks, run-now pickup, config reloads, signals, worker state.

Most tests drive `runner.serve.serve` in a real process whose clock reads a file the test
writes (a helper thread wakes the loop when it changes); items are real processes. The last
tests run the real `python -m runner.serve` on the real clock.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.workers import STALE_AFTER, worker_state
from runner.errors import StateError
from runner.serve.source import WATCH_EVERY
from runner.state import WorkerRow
from tests.support.fakeclock import CLOCK_FILE, SERVE_AT, at, set_clock
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace

WAIT_FOR_RELEASE = """\
import os, sys, pathlib, threading
item, version = sys.argv[1], sys.argv[2]
run = os.environ["RUNNER_RUN_ID"]
if pathlib.Path(f"hold-{item}").exists():
    pathlib.Path(f"started-{item}-{run}").write_text("")
    while not pathlib.Path(f"release-{item}").exists():
        threading.Event().wait(0.02)
pathlib.Path("ledger.txt").open("a").write(f"{run} {item} {version}\\n")
"""


class Server:
    """A serving runner process on a fake clock."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.proc: subprocess.Popen[bytes] | None = None

    def set_clock(self, text: str) -> None:
        set_clock(self.ws.root, at(text))

    def start(self, clock: str) -> None:
        self.set_clock(clock)
        with (self.ws.root / "serve.stderr").open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVE_AT, "pipeline.yaml", CLOCK_FILE],
                cwd=self.ws.root,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        proc = self.proc
        wait_until(lambda: (self.ws.root / "serve-ready").exists() or proc.poll() is not None)
        assert proc.poll() is None, (self.ws.root / "serve.stderr").read_text()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=60)
            raise

    def events(self, name: str) -> list[dict[str, object]]:
        lines = [json.loads(line) for line in self.ws.log_text().splitlines() if line.strip()]
        return [e for e in lines if e["event"] == name]

    def runs(self) -> list[tuple[str, str]]:
        """(id, status) of every run, by id."""
        with self.ws.store() as store:
            rows = store.connection.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
        return [(str(a), str(b)) for a, b in rows]

    def ledger(self) -> list[str]:
        path = self.ws.root / "ledger.txt"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def server(ws: Workspace) -> Iterator[Server]:
    running = Server(ws)
    try:
        yield running
    finally:
        for path in ws.root.glob("hold-*"):
            (ws.root / path.name.replace("hold-", "release-")).write_text("")
        if running.proc is not None and running.proc.poll() is None:
            running.stop()


HOURLY = """
schedules:
  s: {cron: "CRON"}
groups:
  g: {members: [a, b]}
definitions:
  d: {command: ["./item.py", "{{ item.id }}", "VERSION"]}
tasks:
  t: {definition: d, group: g, schedule: s, concurrency: 1}
"""


def hourly(ws: Workspace, cron: str = "0 * * * *", version: str = "v1") -> None:
    ws.pipeline(HOURLY.replace("CRON", cron).replace("VERSION", version), concurrency=1)


class TestFires:
    def test_each_fire_starts_one_run_on_time(self, ws: Workspace, server: Server) -> None:
        """Fires at 10:00 and 11:00 start one run each; the minutes between start nothing."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws)
        server.start("2025-06-02T09:59:50")
        server.set_clock("2025-06-02T10:00:00")
        wait_until(lambda: 2 == len(server.ledger()))
        for minute in ("10:20", "10:40", "10:59"):
            server.set_clock(f"2025-06-02T{minute}:00")
        server.set_clock("2025-06-02T11:00:01")
        expected = [("t@20250602T100000Z", "ok"), ("t@20250602T110000Z", "ok")]
        wait_until(lambda: expected == server.runs())
        assert exitcodes.OK == server.stop()
        assert 4 == len(server.ledger())
        started = server.events("run.started")
        assert ["2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z"] == [e["fire_time"] for e in started]

    def test_a_running_task_is_not_started_twice(self, ws: Workspace, server: Server) -> None:
        """A run spanning three more fires blocks them; when it ends, the latest fire runs once."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws, cron="* * * * *")
        (ws.root / "hold-a").write_text("")
        server.start("2025-06-02T09:59:58")
        server.set_clock("2025-06-02T10:00:01")
        wait_until(lambda: (ws.root / "started-a-t@20250602T100000Z").exists())
        for minute in ("10:01:01", "10:02:01", "10:03:01"):
            server.set_clock(f"2025-06-02T{minute}")
            fire = f"2025-06-02T{minute[:5]}:00Z"
            wait_until(lambda f=fire: f in [e["fire_time"] for e in server.events("run.skipped")])
        (ws.root / "hold-a").unlink()
        (ws.root / "release-a").write_text("")
        wait_until(lambda: 2 == len(server.runs()) and 4 == len(server.ledger()))
        assert exitcodes.OK == server.stop()
        assert ["t@20250602T100000Z", "t@20250602T100300Z"] == [r[0] for r in server.runs()]


class TestReload:
    def test_an_edited_schedule_applies_after_the_running_run_ends(
        self, ws: Workspace, server: Server
    ) -> None:
        """The run going on keeps its command; the new schedule and command apply to the next run."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws)
        (ws.root / "hold-a").write_text("")
        server.start("2025-06-02T09:59:58")
        server.set_clock("2025-06-02T10:00:01")
        wait_until(lambda: (ws.root / "started-a-t@20250602T100000Z").exists())
        hourly(ws, cron="*/10 * * * *", version="v2")
        server.set_clock("2025-06-02T10:00:05")
        wait_until(lambda: server.events("config.reloaded"))
        assert ["t"] == server.events("config.reloaded")[0]["running"]
        server.set_clock("2025-06-02T10:12:00")
        wait_until(lambda: server.events("run.skipped"))
        (ws.root / "hold-a").unlink()
        (ws.root / "release-a").write_text("")
        wait_until(lambda: 4 == len(server.ledger()))
        assert exitcodes.OK == server.stop()
        expected = [
            "t@20250602T100000Z a v1",
            "t@20250602T100000Z b v1",
            "t@20250602T101000Z a v2",
            "t@20250602T101000Z b v2",
        ]
        assert expected == server.ledger()

    def test_an_invalid_edit_keeps_the_old_config_and_says_why(
        self, ws: Workspace, server: Server
    ) -> None:
        """A misspelt key is logged as `config.invalid` with its place; fires keep the old config."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws)
        server.start("2025-06-02T09:50:00")
        (ws.root / "pipeline.yaml").write_text(
            (ws.root / "pipeline.yaml").read_text().replace("concurrency: 1}", "concurency: 1}")
        )
        server.set_clock("2025-06-02T09:55:00")
        wait_until(lambda: server.events("config.invalid"))
        errors = server.events("config.invalid")[0]["errors"]
        assert 1 == len(errors)  # type: ignore[arg-type]
        assert "pipeline.yaml:" in errors[0] and "concurency" in errors[0]  # type: ignore[index]
        server.set_clock("2025-06-02T10:00:00")
        wait_until(lambda: 2 == len(server.ledger()))
        assert exitcodes.OK == server.stop()
        assert ["t@20250602T100000Z a v1", "t@20250602T100000Z b v1"] == server.ledger()
        assert [] == server.events("config.reloaded")

    def test_sighup_reloads_at_once(self, ws: Workspace, server: Server) -> None:
        """With the clock standing still (no periodic look), SIGHUP alone makes the runner reload."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws)
        server.start("2025-06-02T09:50:00")
        hourly(ws, version="v2")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: server.events("config.reloaded"))
        assert "signal" == server.events("config.reloaded")[0]["reason"]
        assert exitcodes.OK == server.stop()


class TestRunNow:
    def test_items_moved_to_run_now_start_within_seconds(
        self, ws: Workspace, server: Server
    ) -> None:
        """An operator's move to run-now (another process) starts a run-now run of that item only."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws, cron="0 3 * * *")
        server.start("2025-06-02T09:50:00")
        with ws.open_state() as store:
            store.sync_members(
                "t", [("a", "{}", ""), ("b", "{}", "")], now=at("2025-06-02T09:50:00")
            )
            store.move_item(
                "t",
                "b",
                to_queue=q.RUN_NOW,
                by="op",
                reason="urgent",
                now=at("2025-06-02T09:50:01"),
            )
        server.set_clock("2025-06-02T09:50:03")
        wait_until(lambda: [("t@20250602T095003.000000Z-run-now", "ok")] == server.runs())
        assert exitcodes.OK == server.stop()
        assert ["t@20250602T095003.000000Z-run-now b v1"] == server.ledger()


def _serve_real(ws: Workspace) -> subprocess.Popen[bytes]:
    with (ws.root / "serve.stderr").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "runner.serve", "pipeline.yaml", "--log-format", "json"],
            cwd=ws.root,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _worker(ws: Workspace) -> WorkerRow | None:
    if not ws.on_postgresql and not ws.state_path.exists():
        return None
    try:
        with ws.store() as store:
            rows = store.workers()
    except (sqlite3.Error, StateError):  # the runner is still creating the file
        return None
    return rows[0] if rows else None


class TestRealProcess:
    def _blocked_item(self, ws: Workspace) -> None:
        """A task whose item `a` waits in run-now and blocks once started."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws, cron="0 3 * * *")
        (ws.root / "hold-a").write_text("")
        with ws.open_state() as store:
            store.sync_members("t", [("a", "{}", "")], now=time.time())
            store.move_item("t", "a", to_queue=q.RUN_NOW, by="op", reason="test", now=time.time())

    def test_sigterm_interrupts_records_and_goes_offline(self, ws: Workspace) -> None:
        """SIGTERM: the running attempt is interrupted and recorded, the run stays open, exit 0, offline."""
        self._blocked_item(ws)
        proc = _serve_real(ws)
        try:
            wait_until(lambda: list(ws.root.glob("started-a-*")))
            proc.send_signal(signal.SIGTERM)
            assert exitcodes.OK == proc.wait(timeout=60), (ws.root / "serve.stderr").read_text()
        finally:
            (ws.root / "release-a").write_text("")
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
        with ws.store() as store:
            assert ["interrupted"] == [a.status for a in store.attempts_of("t", "a")]
            assert 1 == len(store.open_runs("default"))
        worker = _worker(ws)
        assert worker is not None
        assert "offline" == worker_state(worker, time.time())

    def test_edited_files_reload_within_seconds(self, ws: Workspace) -> None:
        """On the real clock, an edit is noticed and applied within seconds, without a signal."""
        ws.script("item.py", WAIT_FOR_RELEASE)
        hourly(ws, cron="0 3 * * *")
        proc = _serve_real(ws)
        try:
            wait_until(lambda: _worker(ws) is not None)
            hourly(ws, cron="0 4 * * *")
            wait_until(
                lambda: '"config.reloaded"' in ws.log_text(),
                timeout=30,
                what=f"config.reloaded within 30 s of the edit (files looked at every {WATCH_EVERY} s)",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            assert exitcodes.OK == proc.wait(timeout=60)

    def test_a_killed_runner_shows_offline_once_its_heartbeat_is_stale(self, ws: Workspace) -> None:
        """kill -9 leaves `online` in the state; status shows offline once the heartbeat is stale."""
        hourly(ws, cron="0 3 * * *")
        proc = _serve_real(ws)
        try:
            wait_until(lambda: _worker(ws) is not None)
        finally:
            proc.kill()
            proc.wait(timeout=60)
        worker = _worker(ws)
        assert worker is not None
        assert (proc.pid, "online") == (worker.pid, worker.state)
        assert "online" == worker_state(worker, worker.heartbeat + 1)
        assert "offline" == worker_state(worker, worker.heartbeat + STALE_AFTER + 1)
