"""A runner killed (-9) during a `before` step: the next start kills the old step before rerunning it."""

from __future__ import annotations

import os
import signal

import psutil

from runner import exitcodes
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace

STEP = """\
import os, pathlib, time
import psutil

pids = pathlib.Path("step-pids.txt")
earlier = [int(p) for p in pids.read_text().split()] if pids.exists() else []
alive = [
    p for p in earlier
    if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
]
if alive:
    pathlib.Path("overlap.txt").write_text(" ".join(map(str, alive)))
with pids.open("a") as f:
    f.write(f"{os.getpid()}\\n")
if not earlier:
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_old_step_is_killed_before_the_resumed_run_starts_it_again(ws: Workspace) -> None:
    ws.script("step.py", STEP)
    ws.pipeline(
        """
        groups:
          g: {members: [a]}
        definitions:
          d: {command: ["true"]}
        tasks:
          t: {definition: d, group: g, before: [{run: ["./step.py"]}]}
        """,
    )
    pids = ws.root / "step-pids.txt"
    runner = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
    first: int | None = None
    try:
        wait_until(lambda: pids.exists() and pids.read_text().strip())
        first = int(pids.read_text().split()[0])
        os.kill(runner.pid, signal.SIGKILL)
        runner.communicate(timeout=30)
        assert _alive(first), "the step should outlive its runner (its own session)"
        resumed = ws.runner("run", "pipeline.yaml", "--log-format", "json")
        assert exitcodes.OK == resumed.returncode, resumed.stderr
        assert not (ws.root / "overlap.txt").exists(), "the old step still ran beside the new one"
        assert len(pids.read_text().split()) == 2
        assert not _alive(first)
        with ws.store() as store:
            assert [] == store.open_runs("default")
    finally:
        if first is not None and _alive(first):
            os.kill(first, signal.SIGKILL)
        if runner.poll() is None:
            runner.kill()
