"""The state file attacked: a broken index, deleted mid-run, locked for long, read-only.

Each attack ends in a clear refusal or a correct run: never a loop, a traceback, an
internal error, a silent new state, or a finished item run again. Real runners, real
files, real processes holding SQLite's locks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.statuses import INTERRUPTED, OK
from runner.state import open_store
from tests.support.damage import HOLD_WRITE_LOCK, empty_index
from tests.support.sizes import record_figures
from tests.support.spawning import (
    Spawned,
    reaped,
    spawn_python,
    spawn_runner,
    traceback_free,
)
from tests.support.system import require_system
from tests.support.tagging import runner_env
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

LEDGER_WORK = """\
#!/bin/sh
# work.sh ITEM PAUSE: ledger the start, work, ledger the end.
echo "start $1" >> ledger.txt
sleep "$2"
echo "done $1" >> ledger.txt
"""


STOPPABLE_WORK = """\
#!/bin/sh
# work.sh ITEM: ledger the start; `quick` ends ok once go-quick exists, the others work long.
echo "start $1" >> ledger.txt
if [ "$1" = quick ]; then
  while [ ! -e go-quick ]; do sleep 0.05; done
else
  echo $$ > "pid-$1"
  sleep 600
fi
echo "done $1" >> ledger.txt
"""

_ITEMS = ("quick", "slow1", "slow2")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pipeline(ws: Workspace, ids: list[str], pause: float, concurrency: int = 2) -> None:
    ws.write("work.sh", LEDGER_WORK).chmod(0o755)
    ws.write("items.txt", "".join(f"{i}\n" for i in ids))
    ws.write(
        "pipeline.yaml",
        settings(concurrency)
        + textwrap.dedent(
            f"""
            groups:
              g: {{file: items.txt}}
            definitions:
              d: {{command: ["./work.sh", "{{{{ item.id }}}}", "{pause}"]}}
            tasks:
              t: {{definition: d, group: g, mode: once}}
            """
        ),
    )


def ledger_starts(ws: Workspace) -> list[str]:
    path = ws.root / "ledger.txt"
    if not path.exists():
        return []
    return [line.split()[1] for line in path.read_text().splitlines() if line.startswith("start ")]


def events(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def state_path(ws: Workspace) -> Path:
    return ws.root / ".runner" / "state.db"


class TestBrokenIndex:
    def test_a_broken_unique_index_is_refused_at_start_not_run_forever(self, ws: Workspace) -> None:
        """The items' key index lost its entries: the runner refuses at once and starts nothing."""
        pipeline(ws, ["a", "b", "c"], pause=0)
        path = state_path(ws)
        with open_store(path) as store:
            store.upsert_task("t", site="default", config_hash="", modified_by="t", now=1.0)
            store.sync_members("t", [(i, "{}", "") for i in ("a", "b", "c")], now=1.0)
        empty_index(path, "sqlite_autoindex_items_1")

        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json", timeout=60)

        assert exitcodes.RUN_FAILED == result.returncode, result.stderr[-2000:]
        assert "is damaged" in result.stderr and "runner state recover" in result.stderr
        assert "internal error" not in result.stderr and traceback_free(result.stderr)
        assert "state.damaged" in [e.get("event") for e in events(result.stderr)]
        assert [] == ledger_starts(ws)

        check = ws.runner("state", "check", "pipeline.yaml")
        assert exitcodes.RUN_FAILED == check.returncode
        assert "DAMAGED" in check.stdout and "sqlite_autoindex_items_1" in check.stdout

        recovered = ws.root / "recovered.db"
        result = ws.runner("state", "recover", "pipeline.yaml", "--to", str(recovered))
        assert exitcodes.OK == result.returncode, result.stderr
        assert "items      kept 3" in result.stdout and "nothing was lost." in result.stdout
        assert path.exists()  # the damaged original is kept as it is
        shutil.move(recovered, path)
        final = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json", timeout=120)
        assert exitcodes.OK == final.returncode, final.stderr[-2000:]
        assert ["a", "b", "c"] == sorted(ledger_starts(ws))


class TestStateDeleted:
    def test_deleted_mid_run_stops_with_exit_1_and_writes_back_what_was_recorded(
        self, ws: Workspace, tag: str
    ) -> None:
        """state.db, -wal and -shm deleted while a `mode: once` run works: exit 1, a `state.gone`
        event, nothing started after it, and the next run repeats no finished item."""
        ids = [f"i{n:02d}" for n in range(30)]
        pipeline(ws, ids, pause=0.2)
        path = state_path(ws)
        runner = spawn_runner(
            ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
        )
        with reaped(runner):
            wait_until(lambda: len(ledger_starts(ws)) >= 6, timeout=60, what="six starts")
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink()
            code, err = runner.finish(timeout=60)
        assert exitcodes.RUN_FAILED == code, err[-3000:]
        assert traceback_free(err) and "internal error" not in err
        gone = [e for e in events(err) if e.get("event") == "state.gone"]
        assert len(gone) == 1, err[-3000:]
        assert "written back" in str(gone[0]["error"])
        started_before = ledger_starts(ws)
        assert path.exists()

        with open_store(path, readonly=True) as store:
            finished = {i for i in ids if any(a.status == OK for a in store.attempts_of("t", i))}
        assert finished, "some items had finished before the file was deleted"

        final = ws.runner("run", "pipeline.yaml", "--log-format", "json", timeout=300)
        assert exitcodes.OK == final.returncode, final.stderr[-3000:]
        again = ledger_starts(ws)[len(started_before) :]
        assert [] == sorted(finished & set(again))
        assert set(ids) == set(ledger_starts(ws))
        with open_store(path, readonly=True) as store:
            assert {q.SUCCESSFUL: len(ids)} == store.queue_counts("t")
        record_figures(
            "state-deleted",
            {"items": len(ids), "finished_before": len(finished), "repeats": 0},
        )

    def test_deleted_wal_after_kill_is_refused_not_a_silent_new_state(
        self, ws: Workspace, tag: str
    ) -> None:
        """kill -9, then the -wal deleted: `status` and `run` refuse clearly; nothing starts anew."""
        ids = [f"i{n:02d}" for n in range(20)]
        pipeline(ws, ids, pause=5)
        path = state_path(ws)
        runner = spawn_runner(
            ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
        )
        with reaped(runner):
            wait_until(lambda: len(ledger_starts(ws)) >= 2, timeout=60, what="two starts")
            runner.proc.send_signal(signal.SIGKILL)
            runner.finish(timeout=30)
        path.with_name(path.name + "-wal").unlink()
        path.with_name(path.name + "-shm").unlink(missing_ok=True)
        starts = ledger_starts(ws)

        status = ws.runner("status", "pipeline.yaml")
        assert exitcodes.RUN_FAILED == status.returncode, status.stderr
        assert "is damaged" in status.stderr and "-wal" in status.stderr
        assert "internal error" not in status.stderr

        again = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json", timeout=60)
        assert exitcodes.RUN_FAILED == again.returncode, again.stderr[-2000:]
        assert "is damaged" in again.stderr
        assert starts == ledger_starts(ws)


SLOW_CREATOR = """\
import sqlite3, sys, time
from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

# A runner creating the state, caught between the file's header and its tables.
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
print("header", flush=True)
time.sleep(1.5)
db.execute("BEGIN IMMEDIATE")
for statements in MIGRATIONS:
    for statement in statements:
        db.execute(statement)
db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
db.execute("COMMIT")
db.close()
"""


class TestStateCreation:
    def test_a_state_being_created_is_waited_for_not_called_damaged(self, ws: Workspace) -> None:
        """Another process opens the state while its creator is between the header and the
        tables (the race of two runners started at once): it waits for the tables, then works
        on the same state, instead of calling it damaged."""
        path = state_path(ws)
        path.parent.mkdir(parents=True, exist_ok=True)
        ws.write("creator.py", SLOW_CREATOR)
        creator = spawn_python(ws, "creator.py", str(path))
        try:
            assert creator.stdout is not None
            assert "header" == creator.stdout.readline().strip()
            with open_store(path) as store:
                assert [] == store.tasks()
            with open_store(path, readonly=True) as store:
                assert [] == store.tasks()
        finally:
            _, err = creator.communicate(timeout=60)
        assert 0 == creator.returncode, err


class TestWriteLockHeld:
    def test_a_write_lock_held_over_30_s_is_waited_for_and_nothing_is_interrupted(
        self, ws: Workspace, tag: str
    ) -> None:
        """Another process holds the write lock for 33 s while attempts finish: the runner waits
        (logging `state.busy`), records every outcome, exits 0; no attempt is `interrupted`."""
        ids = [f"i{n}" for n in range(6)]
        pipeline(ws, ids, pause=1, concurrency=3)
        ws.write("hold.py", HOLD_WRITE_LOCK)
        path = state_path(ws)
        runner = spawn_runner(
            ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
        )
        with reaped(runner):
            wait_until(lambda: len(ledger_starts(ws)) >= 3, timeout=60, what="three starts")
            holder = spawn_python(ws, "hold.py", str(path), "33")
            with reaped(holder):
                assert holder.stdout is not None
                assert "held" == holder.stdout.readline().strip()
                holder.wait(timeout=120)
            code, err = runner.finish(timeout=300)
        assert exitcodes.OK == code, err[-3000:]
        assert traceback_free(err) and "internal error" not in err
        assert "state.busy" in [e.get("event") for e in events(err)]
        with open_store(path, readonly=True) as store:
            statuses = [a.status for i in ids for a in store.attempts_of("t", i)]
        assert [OK] * len(ids) == statuses
        assert INTERRUPTED not in statuses

    def test_a_stop_while_the_lock_is_held_stops_the_attempts_and_records_what_finished(
        self, ws: Workspace, tag: str
    ) -> None:
        """SIGTERM while the runner waits for a lock another process holds: the running attempts
        are stopped while the lock is still held, the runner says so (`state.busy`, `stopping`)
        and waits; once the lock is free it records the attempt that ended ok during the wait
        as ok and the stopped ones as interrupted, and exits as a stop does."""
        ws.write("work.sh", STOPPABLE_WORK).chmod(0o755)
        ws.write("items.txt", "quick\nslow1\nslow2\n")
        ws.write(
            "pipeline.yaml",
            settings(3)
            + textwrap.dedent(
                """
                groups:
                  g: {file: items.txt}
                definitions:
                  d: {command: ["./work.sh", "{{ item.id }}"]}
                tasks:
                  t: {definition: d, group: g, mode: once}
                """
            ),
        )
        ws.write("hold.py", HOLD_WRITE_LOCK)
        path = state_path(ws)
        runner = spawn_runner(
            ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
        )
        with reaped(runner):
            pids = [ws.root / f"pid-slow{n}" for n in (1, 2)]
            wait_until(lambda: all(p.exists() for p in pids), timeout=60, what="two slow starts")
            wait_until(lambda: len(ledger_starts(ws)) == 3, timeout=60, what="three starts")
            slow = [int(p.read_text()) for p in pids]
            holder = spawn_python(ws, "hold.py", str(path), "600")
            with reaped(holder):
                assert holder.stdout is not None
                assert "held" == holder.stdout.readline().strip()
                self._stop_while_held(ws, runner, holder, slow)
            code, err = runner.finish(timeout=120)
        assert exitcodes.RUN_FAILED == code, err[-3000:]
        assert traceback_free(err) and "internal error" not in err
        with open_store(path, readonly=True) as store:
            statuses = {i: [a.status for a in store.attempts_of("t", i)] for i in _ITEMS}
            quick = store.item("t", "quick")
        assert {"quick": [OK], "slow1": [INTERRUPTED], "slow2": [INTERRUPTED]} == statuses
        assert quick is not None and q.SUCCESSFUL == quick.queue
        assert "done slow1" not in (ws.root / "ledger.txt").read_text()

    @staticmethod
    def _stop_while_held(
        ws: Workspace, runner: Spawned, holder: subprocess.Popen[str], slow: list[int]
    ) -> None:
        """The lock is held: an attempt ends ok, the runner waits; SIGTERM; the slow attempts
        are stopped and the runner says so, all while the lock is held; then the lock is let go."""
        (ws.root / "go-quick").touch()  # ends ok; its outcome cannot be recorded yet
        wait_until(lambda: "state.busy" in runner.stderr(), timeout=60, what="state.busy")
        runner.proc.send_signal(signal.SIGTERM)
        wait_until(
            lambda: not any(_alive(pid) for pid in slow), timeout=60, what="attempts stopped"
        )
        wait_until(
            lambda: any(
                e.get("event") == "state.busy" and e.get("stopping")
                for e in events(runner.stderr())
            ),
            timeout=30,
            what="the stop said while waiting",
        )
        assert holder.poll() is None, "the lock was held all along"
        assert runner.proc.poll() is None, "the runner waits to record what finished"
        holder.kill()  # the lock is free
        holder.wait(timeout=30)

    def test_move_while_the_lock_is_held_says_busy_not_damaged(
        self, ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`move` against a held write lock: exit 75, "busy", and no advice to restore a backup."""
        from runner.cli import main
        from runner.state.sqlite import db

        pipeline(ws, ["a"], pause=0)
        assert exitcodes.OK == ws.runner("run", "pipeline.yaml", "--now").returncode
        ws.write("hold.py", HOLD_WRITE_LOCK)
        monkeypatch.setattr(db, "BUSY_PATIENCE_S", 1.0)
        monkeypatch.chdir(ws.root)
        holder = spawn_python(ws, "hold.py", str(state_path(ws)), "30")
        with reaped(holder):
            assert holder.stdout is not None
            assert "held" == holder.stdout.readline().strip()
            code = main(["move", "pipeline.yaml", "--task", "t", "--to", "run-now", "a"])
        err = capsys.readouterr().err
        assert exitcodes.LOCKED == code, err
        assert "is busy" in err and "sound" in err
        assert "damaged" not in err and "backup" not in err


def under_read_only_mount(
    ws: Workspace, directory: Path, command: str
) -> subprocess.CompletedProcess[str]:
    """Run `command` (a shell line) in `ws` with `directory` bind-mounted read-only over itself,
    in a mount namespace of its own (unshare)."""
    if shutil.which("unshare") is None:
        require_system("unshare", "util-linux unshare runs a command in its own mount namespace")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        require_system("user namespaces", probe.stderr.decode(errors="replace"))
    script = (
        f"mount --bind {directory} {directory} && mount -o remount,bind,ro {directory} && {command}"
    )
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestReadOnly:
    RUNNER = f"{sys.executable} -m runner"

    def test_status_and_items_work_on_a_read_only_mount_and_move_says_read_only(
        self, ws: Workspace
    ) -> None:
        """On a read-only mount the state is read (not called unreadable); a move says why not."""
        pipeline(ws, ["a", "b"], pause=0)
        assert exitcodes.OK == ws.runner("run", "pipeline.yaml", "--now").returncode
        directory = state_path(ws).parent

        def read_only(command: str) -> subprocess.CompletedProcess[str]:
            return under_read_only_mount(ws, directory, f"{self.RUNNER} {command}")

        status = read_only("status pipeline.yaml --json")
        assert exitcodes.OK == status.returncode, status.stderr
        assert 2 == json.loads(status.stdout)["tasks"][0]["queues"]["successful"]
        items = read_only("items pipeline.yaml --task t")
        assert exitcodes.OK == items.returncode, items.stderr
        assert "a" in items.stdout and "b" in items.stdout
        move = read_only("move pipeline.yaml --task t --to run-now a")
        assert move.returncode not in (exitcodes.OK, exitcodes.INTERNAL_ERROR), move.stderr
        assert "damaged" not in move.stderr and "backup" not in move.stderr
        assert "read-only" in move.stderr.lower() or "can only be read" in move.stderr

    @pytest.mark.parametrize("logs_apart", [False, True], ids=["logs-beside", "logs-elsewhere"])
    def test_run_on_a_read_only_mount_says_the_state_must_be_writable(
        self, ws: Workspace, logs_apart: bool
    ) -> None:
        """`run` with the state on a read-only mount: exit 1, the state is sound, mount it
        writable or point `settings.state` elsewhere; nothing ran, nothing changed."""
        pipeline(ws, ["a", "b"], pause=0)
        assert exitcodes.OK == ws.runner("run", "pipeline.yaml", "--now").returncode
        if logs_apart:  # the logs on a writable path: the state is still what stops the run
            text = (ws.root / "pipeline.yaml").read_text()
            ws.write("pipeline.yaml", text.replace(".runner/logs", "logs"))
        (ws.root / "ledger.txt").unlink()
        ws.write("items.txt", "a\nb\nc\n")  # a new item: a writable state would run it
        before = state_path(ws).read_bytes()
        run = under_read_only_mount(
            ws, state_path(ws).parent, f"{self.RUNNER} run pipeline.yaml --now"
        )
        assert exitcodes.RUN_FAILED == run.returncode, run.stderr
        assert traceback_free(run.stderr)
        message = run.stderr.strip().splitlines()[-1]
        assert message.startswith("runner: the state file ") and "read-only mount" in message
        assert "sound" in message and "settings.state" in message
        assert "damaged" not in message and "cannot open" not in message
        assert [] == ledger_starts(ws)
        assert before == state_path(ws).read_bytes()
