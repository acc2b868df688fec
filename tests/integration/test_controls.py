"""Brakes and pause/resume with real runs: a task halts itself, an operator pauses and resumes it.

Every test runs `python -m runner` (or `runner.serve`) as a real process on a real state
file; the items are real processes.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from typing import Any

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.brakes import BY_BRAKE, HALTED, PAUSED, RESUMED
from runner.errors import StateError
from tests.integration.test_operator_cli import validate
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, members, settings

ITEM = """\
import os, pathlib, sys, threading
item = sys.argv[1]
if pathlib.Path(f"hold-{item}").exists():
    pathlib.Path(f"started-{item}").write_text("")
    while not pathlib.Path(f"release-{item}").exists():
        threading.Event().wait(0.02)
pathlib.Path("ledger.txt").open("a").write(item + "\\n")
sys.exit(1 if item.startswith("bad") else 0)
"""


def pipeline(ws: Workspace, ids: list[str], halt_on: str = "{consecutive: 3}") -> None:
    """Task `t` (mode once, one item at a time, no retries) over `ids`, with a brake."""
    ws.script("item.py", ITEM)
    body = f"""
    groups:
      g: {{members: {members(ids)}}}
    definitions:
      d: {{command: ["./item.py", "{{{{ item.id }}}}"]}}
    policies:
      p: {{max_retries: 0}}
    tasks:
      t: {{definition: d, group: g, policy: p, mode: once, concurrency: 1, halt_on: {halt_on}}}
    """
    ws.write("pipeline.yaml", settings(1) + textwrap.dedent(body))


def ledger(ws: Workspace) -> list[str]:
    path = ws.root / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def events(ws: Workspace, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in ws.log_text().splitlines() if line.strip()]
    return [e for e in lines if e["event"] == name]


def not_recorded(ws: Workspace, item: str) -> bool:
    """The item has no attempt recorded as started."""
    with ws.store() as store:
        row = store.item("t", item)
    return row is not None and row.running_attempt is None


def cli_json(ws: Workspace, *args: str) -> Any:
    result = ws.runner(*args, "--json")
    assert exitcodes.OK == result.returncode, result.stderr
    return json.loads(result.stdout)


class TestBrake:
    def test_consecutive_failures_halt_the_task_durably_before_the_event(
        self, ws: Workspace
    ) -> None:
        """Three failures in a row halt the task: recorded by halt_on, logged `task.halted`,
        later items never start, the run stays open and `run` exits 4."""
        pipeline(ws, ["bad-1", "bad-2", "bad-3", "ok-4", "ok-5", "ok-6", "ok-7", "ok-8"])
        result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.HALTED == result.returncode, result.stderr
        (halted,) = events(ws, "task.halted")
        reason = "3 consecutive attempts failed (halt_on.consecutive: 3)"
        assert {"task": "t", "reason": reason, "by": BY_BRAKE} == {
            k: halted[k] for k in ("task", "reason", "by")
        }
        with ws.store() as store:
            (control,) = store.task_controls("t")
            assert (HALTED, BY_BRAKE, reason) == (control.action, control.by, control.reason)
            counts = store.queue_counts("t")
            open_run = store.open_run("t")
        # at most the one attempt recorded ahead of the free slot ran past the brake
        assert ledger(ws)[:3] == ["bad-1", "bad-2", "bad-3"]
        assert len(ledger(ws)) <= 4
        assert counts[q.UNATTEMPTED] >= 4
        assert open_run is not None
        (stopped,) = events(ws, "run.stopped")
        assert stopped["reason"].startswith("task halted by halt_on: 3 consecutive")

    def test_status_and_explain_show_the_halt(self, ws: Workspace) -> None:
        """`status` shows `halted` with reason, by and at; `explain` names it for a waiting item."""
        pipeline(ws, ["bad-1", "bad-2", "bad-3", "ok-4", "ok-5", "ok-6"])
        ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        report = cli_json(ws, "status", "pipeline.yaml")
        validate("status", report)
        (task,) = report["tasks"]
        assert ("halted", "halted", BY_BRAKE) == (
            task["status"],
            task["halted"]["action"],
            task["halted"]["by"],
        )
        text = ws.runner("status", "pipeline.yaml").stdout
        assert "task t  [halted]" in text
        assert "halted by halt_on at " in text
        why = cli_json(ws, "explain", "pipeline.yaml", "--task", "t", "ok-6")
        validate("explain", why)
        assert "task-halted" == why["reason"]
        assert "runner resume --task t" in why["summary"]

    def test_the_window_survives_a_restart(self, ws: Workspace) -> None:
        """Two failures in one run and a third in the next run halt the task (the window is
        in the state, not in the runner's memory)."""
        pipeline(ws, ["bad-1", "bad-2"])
        first = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.ITEMS_IN_ERROR == first.returncode, first.stderr
        assert [] == events(ws, "task.halted")
        pipeline(ws, ["bad-1", "bad-2", "bad-3", "ok-4"])
        second = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.HALTED == second.returncode, second.stderr
        assert 1 == len(events(ws, "task.halted"))
        assert ["bad-1", "bad-2", "bad-3"] == ledger(ws)[:3]

    def test_a_ratio_counts_only_after_min_attempts(self, ws: Workspace) -> None:
        """{failed: 50%, min_attempts: 4}: two failures in the first two attempts do not halt;
        the ratio is looked at from the fourth attempt on."""
        pipeline(
            ws,
            ["bad-1", "bad-2", "ok-3", "ok-4", "bad-5", "ok-6", "ok-7"],
            halt_on="{failed: 50%, min_attempts: 4}",
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.HALTED == result.returncode, result.stderr
        (halted,) = events(ws, "task.halted")
        assert halted["reason"].startswith("2 of 4 attempts failed (50%")

    def test_run_now_of_a_halted_task_is_refused(self, ws: Workspace) -> None:
        """`run --now --task T` of a halted task starts nothing and exits 4, saying what to do."""
        pipeline(ws, ["bad-1", "bad-2", "bad-3", "ok-4", "ok-5", "ok-6"])
        ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        before = ledger(ws)
        result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.HALTED == result.returncode
        assert "task 't' is halted (by halt_on: 3 consecutive" in result.stderr
        assert "runner resume --task t" in result.stderr
        assert "Traceback" not in result.stderr
        assert before == ledger(ws)

    def test_resume_lets_it_go_on_with_a_fresh_window(self, ws: Workspace) -> None:
        """After `resume` the open run resumes; two more failures do not trip a 3-in-a-row
        brake, since the window started again."""
        pipeline(ws, ["bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "ok-6", "ok-7"])
        ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        ran = ledger(ws)
        resumed = ws.runner("resume", "pipeline.yaml", "--task", "t", "--reason", "fixed")
        assert exitcodes.OK == resumed.returncode, resumed.stderr
        assert "task t resumed by " in resumed.stdout
        result = ws.runner("run", "pipeline.yaml")
        assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
        assert 1 == len(events(ws, "task.halted"))
        assert sorted(ledger(ws)) == sorted(
            ["bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "ok-6", "ok-7"]
        )
        assert len(ran) < 7
        with ws.store() as store:
            actions = [c.action for c in store.task_controls("t")]
        assert [HALTED, RESUMED] == actions


class TestPauseResume:
    def test_pause_needs_a_reason_and_is_audited(self, ws: Workspace) -> None:
        """`pause` without --reason is bad usage; with it, who/when/why are kept and logged."""
        pipeline(ws, ["ok-1"])
        missing = ws.runner("pause", "pipeline.yaml", "--task", "t")
        assert exitcodes.BAD_CONFIG == missing.returncode
        assert "--reason" in missing.stderr
        blank = ws.runner("pause", "pipeline.yaml", "--task", "t", "--reason", " ")
        assert exitcodes.BAD_CONFIG == blank.returncode
        assert "say why the task is paused" in blank.stderr
        done = cli_json(
            ws, "pause", "pipeline.yaml", "--task", "t", "--reason", "maintenance", "--by", "ops"
        )
        assert (True, PAUSED, "ops", "maintenance") == (
            done["changed"],
            done["control"]["action"],
            done["control"]["by"],
            done["control"]["reason"],
        )
        again = cli_json(ws, "pause", "pipeline.yaml", "--task", "t", "--reason", "twice")
        assert (False, "maintenance") == (again["changed"], again["control"]["reason"])
        (paused,) = events(ws, "task.paused")
        assert ("t", "ops", "maintenance") == (paused["task"], paused["by"], paused["reason"])

    def test_a_paused_task_that_never_ran_starts_nothing(self, ws: Workspace) -> None:
        """A task paused before its first run: `run --now` refuses it; after resume it runs."""
        pipeline(ws, ["ok-1", "ok-2"])
        ws.runner("pause", "pipeline.yaml", "--task", "t", "--reason", "not yet")
        refused = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.HALTED == refused.returncode
        assert "task 't' is paused (by " in refused.stderr
        assert [] == ledger(ws)
        ws.runner("resume", "pipeline.yaml", "--task", "t")
        ran = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.OK == ran.returncode, ran.stderr
        assert ["ok-1", "ok-2"] == sorted(ledger(ws))

    def test_resume_of_a_task_not_held_changes_nothing(self, ws: Workspace) -> None:
        pipeline(ws, ["ok-1"])
        result = ws.runner("resume", "pipeline.yaml", "--task", "t")
        assert exitcodes.OK == result.returncode, result.stderr
        assert "task t is not halted or paused: nothing to resume" in result.stdout
        unknown = ws.runner("resume", "pipeline.yaml", "--task", "nosuch")
        assert exitcodes.BAD_CONFIG == unknown.returncode
        assert "no task named 'nosuch'" in unknown.stderr

    def test_pause_and_resume_while_serve_runs(self, ws: Workspace) -> None:
        """Under a real `serve`: a pause lets the running item finish and starts no other; the
        run is left open; `resume` takes it up again and every item runs."""
        pipeline(ws, ["ok-a", "ok-b", "ok-c"])
        (ws.root / "hold-ok-a").write_text("")
        now = time.time()
        with ws.open_state() as store:
            store.sync_members("t", [(i, "{}", "") for i in ("ok-a", "ok-b", "ok-c")], now=now)
            for item in ("ok-a", "ok-b", "ok-c"):
                store.move_item("t", item, to_queue=q.RUN_NOW, by="op", reason="go", now=now)
        with (ws.root / "serve.stderr").open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runner.serve", "pipeline.yaml", "--log-format", "json"],
                cwd=ws.root,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            wait_until(lambda: (ws.root / "started-ok-a").exists() or proc.poll() is not None)
            assert proc.poll() is None, (ws.root / "serve.stderr").read_text()
            paused = ws.runner("pause", "pipeline.yaml", "--task", "t", "--reason", "maint")
            assert exitcodes.OK == paused.returncode, paused.stderr
            # the engine notices at its next cycle: the attempt it recorded ahead is withdrawn
            wait_until(lambda: not_recorded(ws, "ok-b"), what="ok-b withdrawn")
            (ws.root / "release-ok-a").write_text("")
            wait_until(lambda: events(ws, "run.stopped"), what="the halted run left open")
            assert ["ok-a"] == ledger(ws)
            with ws.store() as store:
                assert store.open_run("t") is not None
                assert 2 == store.queue_counts("t")[q.RUN_NOW]
            resumed = ws.runner("resume", "pipeline.yaml", "--task", "t", "--reason", "done")
            assert exitcodes.OK == resumed.returncode, resumed.stderr
            wait_until(lambda: 3 == len(ledger(ws)), what="every item ran after resume")
            wait_until(lambda: events(ws, "run.finished"), what="the run finished")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        assert exitcodes.OK == code, (ws.root / "serve.stderr").read_text()
        assert ["ok-a", "ok-b", "ok-c"] == sorted(ledger(ws))
        assert [e["task"] for e in events(ws, "task.resumed")] == ["t"]


TRACKED = """\
import os, pathlib, sys, threading
item, server = sys.argv[1], sys.argv[2]
here = pathlib.Path("running")
here.mkdir(exist_ok=True)
mine = here / f"{server}--{item}"
mine.write_text("")
now = sorted(p.name for p in here.iterdir() if p.name.startswith(server + "--"))
pathlib.Path("seen.txt").open("a").write(f"{item} {len(now)}\\n")
if pathlib.Path(f"hold-{server}").exists():
    while not pathlib.Path(f"release-{server}").exists():
        threading.Event().wait(0.02)
mine.unlink()
pathlib.Path("ledger.txt").open("a").write(item + "\\n")
"""

TIMED = """\
import pathlib, sys, threading, time
item, server = sys.argv[1], sys.argv[2]
def mark(kind):
    with pathlib.Path("times.txt").open("a") as ledger:
        ledger.write(f"{kind} {item} {server} {time.monotonic_ns()}\\n")
mark("start")
threading.Event().wait(0.05)
mark("end")
"""


class TestLimits:
    def test_at_most_max_per_value_and_other_values_are_not_starved(self, ws: Workspace) -> None:
        """limits [{per: server, max: 2}] with concurrency 6: at most 2 items of one server run at
        once, and the items of server b, listed after six of server a, start while a is full."""
        ws.script("item.py", TRACKED)
        ids = [f"a{n}" for n in range(6)] + ["b0", "b1"]
        group = ", ".join(f"{{id: {i}, server: {i[0]}}}" for i in ids)
        body = f"""
        groups:
          g: {{members: [{group}]}}
        definitions:
          d: {{command: ["./item.py", "{{{{ item.id }}}}", "{{{{ item.server }}}}"]}}
        tasks:
          t: {{definition: d, group: g, mode: once, concurrency: 6,
              limits: [{{per: server, max: 2}}]}}
        """
        ws.write("pipeline.yaml", settings(6) + textwrap.dedent(body))
        (ws.root / "hold-a").write_text("")
        proc = ws.spawn("run", "pipeline.yaml", "--now", "--task", "t")
        try:
            # b's items finish although every a item is held: they were not starved
            wait_until(lambda: {"b0", "b1"} <= set(ledger(ws)) or proc.poll() is not None)
            assert proc.poll() is None
            why = cli_json(ws, "explain", "pipeline.yaml", "--task", "t", "a5")
            validate("explain", why)
            assert "limit-full" == why["reason"]
            assert "limit server=a: 2 of 2 running" in why["summary"]
            # a2 was recorded ahead with a0 and a1: it waits for its server's room
            ahead = cli_json(ws, "explain", "pipeline.yaml", "--task", "t", "a2")
            assert "about-to-launch" == ahead["reason"]
            assert "its value has room (limit server=a: 2 of 2 running)" in ahead["summary"]
            (ws.root / "release-a").write_text("")
            _out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert exitcodes.OK == proc.returncode, err
        assert sorted(ids) == sorted(ledger(ws))
        seen = [line.split() for line in (ws.root / "seen.txt").read_text().splitlines()]
        assert max(int(count) for _item, count in seen) <= 2
        # dispatch order kept: the first four to start were a's first two, then b's two
        assert {"a0", "a1", "b0", "b1"} == {item for item, _ in seen[:4]}

    def test_one_per_value_at_concurrency_4_by_the_items_own_ledger(self, ws: Workspace) -> None:
        """40 items over two servers, limits [{per: server, max: 1}], concurrency 4: by the start
        and end instants each item writes, never two items of one server run at once, the two
        servers do run side by side, and every item runs once."""
        ws.script("item.py", TIMED)
        ids = [f"{'ab'[n % 2]}{n:02d}" for n in range(40)]
        group = ", ".join(f"{{id: {i}, server: {i[0]}}}" for i in ids)
        body = f"""
        groups:
          g: {{members: [{group}]}}
        definitions:
          d: {{command: ["./item.py", "{{{{ item.id }}}}", "{{{{ item.server }}}}"]}}
        policies:
          p: {{max_retries: 0}}
        tasks:
          t: {{definition: d, group: g, policy: p, mode: once,
              limits: [{{per: server, max: 1}}]}}
        """
        ws.write("pipeline.yaml", settings(4) + textwrap.dedent(body))
        result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert exitcodes.OK == result.returncode, result.stderr
        marks = [line.split() for line in (ws.root / "times.txt").read_text().splitlines()]
        assert sorted(ids) == sorted(item for kind, item, _s, _t in marks if kind == "start")
        assert sorted(ids) == sorted(item for kind, item, _s, _t in marks if kind == "end")
        running: dict[str, int] = {"a": 0, "b": 0}
        most = dict(running)
        together = 0
        # by instant; an end before a start at the same instant
        for kind, _item, server, _at in sorted(marks, key=lambda m: (int(m[3]), m[0] == "start")):
            running[server] += 1 if kind == "start" else -1
            most[server] = max(most[server], running[server])
            together = max(together, sum(running.values()))
        assert {"a": 1, "b": 1} == most
        assert 2 == together


class TestRunNowRequest:
    def test_run_now_while_serve_holds_the_site_goes_through_the_state(self, ws: Workspace) -> None:
        """An unscheduled task that never ran, under `serve`: `run --now` records a request,
        says who will run it, exits 0; serve logs who asked and runs every item."""
        ws.script("item.py", ITEM)
        body = """
        groups:
          g: {members: [ok-1, ok-2]}
        definitions:
          d: {command: ["./item.py", "{{ item.id }}"]}
        tasks:
          t: {definition: d, group: g}
        """
        ws.write("pipeline.yaml", settings(2) + textwrap.dedent(body))
        with (ws.root / "serve.stderr").open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runner.serve", "pipeline.yaml", "--log-format", "json"],
                cwd=ws.root,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            wait_until(lambda: events(ws, "runner.started") or proc.poll() is not None)
            wait_until(lambda: serving(ws) or proc.poll() is not None, what="serve recorded")
            assert proc.poll() is None, (ws.root / "serve.stderr").read_text()
            asked = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
            assert exitcodes.OK == asked.returncode, asked.stderr
            assert f"task t: runner serve (pid {proc.pid} on " in asked.stdout
            assert "it starts at the runner's next cycle" in asked.stdout
            wait_until(lambda: events(ws, "run.finished"), what="the requested run finished")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        assert exitcodes.OK == code, (ws.root / "serve.stderr").read_text()
        assert ["ok-1", "ok-2"] == sorted(ledger(ws))
        (requested,) = events(ws, "run.requested")
        assert "t" == requested["task"] and requested["by"]
        (finished,) = events(ws, "run.finished")
        assert "now" in finished["run_id"]
        assert not serving(ws), "a clean stop forgets the serving record"

    def test_a_pending_request_shows_in_status(self, ws: Workspace) -> None:
        pipeline(ws, ["ok-1"])
        with ws.open_state() as store:
            store.request_run("t", site="default", by="alice", now=time.time())
        report = cli_json(ws, "status", "pipeline.yaml")
        validate("status", report)
        (task,) = report["tasks"]
        assert "alice" == task["run_requested"]["by"]
        assert "run requested by alice at " in ws.runner("status", "pipeline.yaml").stdout

    def test_a_plain_run_holding_the_lock_is_still_refused(self, ws: Workspace) -> None:
        """While a `runner run` holds the site, `run --now` exits 75 and says what to do."""
        pipeline(ws, ["ok-1"])
        (ws.root / "hold-ok-1").write_text("")
        first = ws.spawn("run", "pipeline.yaml", "--now", "--task", "t")
        try:
            wait_until(lambda: (ws.root / "started-ok-1").exists() or first.poll() is not None)
            second = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
            assert exitcodes.LOCKED == second.returncode
            assert "it is a `runner run`" in second.stderr
            assert "run this again once it has finished" in second.stderr
            with ws.store() as store:
                assert [] == store.pending_run_requests("default")
        finally:
            (ws.root / "release-ok-1").write_text("")
            first.communicate(timeout=120)
        assert exitcodes.OK == first.returncode


def serving(ws: Workspace) -> bool:
    if not ws.on_postgresql and not ws.state_path.exists():
        return False
    try:
        with ws.store() as store:
            return store.serving("default") is not None
    except (sqlite3.Error, StateError):  # the runner is still creating the file
        return False
