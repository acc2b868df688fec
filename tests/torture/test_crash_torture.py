"""Crash torture: SIGKILL a real runner at random moments and at every named fault point.

1,000 items at concurrency 8 with random durations; each item appends to a ledger and
checkpoints 3 sub-ids through RUNNER_EVENTS (skipping those RUNNER_PROCESSED lists). The
runner is killed with SIGKILL at random moments (CI: 15 kills; RUNNER_TORTURE=full: 200) and
dies at each fault point of runner/system/failpoints.py; `during-move` kills a separate process that
moves items through the store while the runner runs. After a final resume the ledger and the
state must agree: nothing recorded lost, nothing finished repeated.

RUNNER_TORTURE_SEED picks another random sequence.
"""

from __future__ import annotations

import os
import random
import re
import signal
import textwrap
import time
from collections import Counter

import pytest

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.statuses import INTERRUPTED, OK
from runner.state import SQLiteStore
from runner.system import failpoints
from tests.support.sizes import record_figures, size
from tests.support.spawning import exited_within, reaped, spawn_python, spawn_runner, traceback_free
from tests.support.tagging import runner_env, tagged
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

ITEMS = 1000
KILLS = size(15, 200)
SEED = int(os.environ.get("RUNNER_TORTURE_SEED", "9"))
SUBS = ("1", "2", "3")
PAUSES = (0, 0.01, 0.02, 0.04, 0.08)
"""Seconds each sub-id takes, chosen at random per item."""
PAUSE_SCALE = size(1, 30)
"""The full suite's 200 kills need longer items, or the run ends before the last kill."""

WORK = """\
#!/bin/sh
# work.sh ITEM PAUSE: ledger the start, checkpoint and handle 3 sub-ids, ledger the end.
item=$1
echo "start $item $RUNNER_ATTEMPT" >> ledger.txt
for s in 1 2 3; do
  sub="$item/$s"
  if grep -qxF "$sub" "$RUNNER_PROCESSED"; then continue; fi
  printf '{"processed": "%s"}\\n' "$sub" >> "$RUNNER_EVENTS"
  echo "sub $sub" >> ledger.txt
  sleep "$2"
done
echo "done $item" >> ledger.txt
"""

MOVER = """\
import sys, time
from pathlib import Path
from runner.config import load_pipeline
from runner.state import open_store

store = open_store(load_pipeline(Path("pipeline.yaml")).state_location)
for item in sys.argv[1:]:
    store.move_item("t", item, to_queue="rescheduled", by="torture", reason="crash torture", now=time.time())
    print("moved", item, flush=True)
store.close()
"""

PIPELINE = """
groups:
  g: {file: items.csv}
definitions:
  d: {command: ["./work.sh", "{{ item.id }}", "{{ item.pause }}"]}
policies:
  p: {max_retries: 100000, backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
"""

RUNNER_FAULT_POINTS = (
    "before-attempt-commit",
    "after-attempt-commit",
    "after-exit-before-outcome",
    "during-checkpoint-write",
)
MOVE_FAULT_POINT = "during-move"


def item_id(n: int) -> str:
    return f"item-{n:05d}"


def fault_point_names() -> set[str]:
    """The names documented in runner/system/failpoints.py (the source of truth for this suite)."""
    doc = failpoints.__doc__ or ""
    return set(re.findall(r"^- `([a-z-]+)`", doc, flags=re.MULTILINE))


class CrashLab:
    """One workspace under torture: starts, kills and resumes runners; keeps the figures."""

    def __init__(self, ws: Workspace, tag: str, rng: random.Random) -> None:
        self.ws = ws
        self.tag = tag
        self.rng = rng
        self.first = True
        self.kills = 0
        self.fault_kills: list[str] = []
        self.stderr: list[str] = []
        self.finished_early = False

    def args(self) -> list[str]:
        now = ["--now"] if self.first else []
        self.first = False
        return ["run", "pipeline.yaml", "--log-format", "json", *now]

    def random_kill(self) -> bool:
        """Start a runner, SIGKILL it after a random delay; False if it finished first."""
        runner = spawn_runner(self.ws, *self.args(), env=runner_env(self.tag))
        with reaped(runner):
            if exited_within(runner.proc, 0.25 + self.rng.random() * 1.25):
                self.stderr.append(runner.finish()[1])
                self.finished_early = True
                return False
            os.kill(runner.pid, signal.SIGKILL)
            self.stderr.append(runner.finish(timeout=60)[1])
        self.kills += 1
        return True

    def fault_point(self, name: str, nth: int) -> None:
        """Run a runner that kills itself at the nth pass of a fault point; it must die there."""
        env = runner_env(self.tag, {"RUNNER_FAILPOINT": f"{name}:{nth}"})
        runner = spawn_runner(self.ws, *self.args(), env=env)
        with reaped(runner):
            code, err = runner.finish(timeout=300)
        self.stderr.append(err)
        assert -signal.SIGKILL == code, (name, err[-2000:])
        self.kills += 1
        self.fault_kills.append(name)

    def move_under_fault(self, items: list[str], nth: int) -> list[str]:
        """While a runner runs, a separate process moves items and dies inside its nth move."""
        runner = spawn_runner(self.ws, *self.args(), env=runner_env(self.tag))
        with reaped(runner):
            wait_until(lambda: (self.ws.root / "ledger.txt").exists(), timeout=60)
            mover = spawn_python(
                self.ws, "mover.py", *items, env={"RUNNER_FAILPOINT": f"{MOVE_FAULT_POINT}:{nth}"}
            )
            with reaped(mover):
                out, err = mover.communicate(timeout=120)
            assert -signal.SIGKILL == mover.returncode, err[-2000:]
            os.kill(runner.pid, signal.SIGKILL)
            self.stderr.append(runner.finish(timeout=60)[1])
        self.kills += 1
        self.fault_kills.append(MOVE_FAULT_POINT)
        return [line.split()[1] for line in out.splitlines() if line.startswith("moved ")]


@pytest.fixture
def lab(ws: Workspace, tag: str) -> CrashLab:
    """A workspace with 1,000 items of random pause, ready to be tortured."""
    rng = random.Random(SEED)
    ws.write("work.sh", textwrap.dedent(WORK)).chmod(0o755)
    ws.write("mover.py", MOVER)
    rows = "".join(f"{item_id(n)},{rng.choice(PAUSES) * PAUSE_SCALE}\n" for n in range(ITEMS))
    ws.write("items.csv", "id,pause\n" + rows)
    ws.write("pipeline.yaml", settings(8) + PIPELINE)
    return CrashLab(ws, tag, rng)


class TestFaultPointCatalogue:
    def test_suite_covers_every_named_fault_point(self) -> None:
        """Every fault point runner/system/failpoints.py documents is exercised by this suite."""
        assert fault_point_names() == {*RUNNER_FAULT_POINTS, MOVE_FAULT_POINT}


class TestCrashTorture:
    def test_kills_at_random_and_at_every_fault_point_lose_and_repeat_nothing(
        self, lab: CrashLab, ws: Workspace, tag: str
    ) -> None:
        """After random SIGKILLs, a death at each fault point and a final resume, state and ledger agree."""
        started = time.monotonic()
        moved = lab.move_under_fault([item_id(n) for n in range(ITEMS - 3, ITEMS)], nth=3)
        plan: list[str | None] = [None] * KILLS
        for position, name in zip((1, 3, 5, 7), RUNNER_FAULT_POINTS, strict=True):
            plan.insert(position, name)
        for step in plan:
            if step is None:
                if not lab.random_kill():
                    break
            else:
                lab.fault_point(step, nth=lab.rng.randint(2, 6))
        final = ws.runner("run", "pipeline.yaml", "--log-format", "json", timeout=900)
        lab.stderr.append(final.stderr)
        assert exitcodes.OK == final.returncode, final.stderr[-3000:]
        duration = time.monotonic() - started

        ledger = (ws.root / "ledger.txt").read_text().splitlines()
        starts: dict[str, list[int]] = {}
        handled: Counter[str] = Counter()
        for line in ledger:
            kind, _, rest = line.partition(" ")
            if kind == "start":
                name, number = rest.split()
                starts.setdefault(name, []).append(int(number))
            elif kind == "sub":
                handled[rest] += 1

        rerun = 0
        with ws.store() as store:
            if isinstance(store, SQLiteStore):  # a database server looks after its own pages
                assert "ok" == store.integrity_check()
            assert {q.SUCCESSFUL: ITEMS} == store.queue_counts("t")
            assert [] == store.open_attempts("default")
            for n in range(ITEMS):
                item = item_id(n)
                attempts = store.attempts_of("t", item)
                statuses = [a.status for a in attempts]
                numbers = [a.number for a in attempts]
                assert list(range(1, len(attempts) + 1)) == numbers, (item, numbers)
                # the recorded success is the last attempt, every earlier one was in flight
                assert OK == statuses[-1], (item, statuses)
                assert all(s == INTERRUPTED for s in statuses[:-1]), (item, statuses)
                # every launch was recorded first; nothing launched after the success
                launched = starts.get(item, [])
                assert 1 <= len(launched) <= len(attempts), (item, launched, statuses)
                assert max(launched) <= attempts[-1].number, (item, launched, statuses)
                rerun += len(launched) > 1
                # each sub-id checkpointed once and handled at most once (event before work)
                subs = set(store.processed_subids("t", item))
                assert {f"{item}/{s}" for s in SUBS} == subs, (item, subs)
                assert all(handled[sub] <= 1 for sub in subs), (item, [handled[s] for s in subs])
            moves = [m for n in range(ITEMS - 3, ITEMS) for m in store.moves_of("t", item_id(n))]
        # the mover's first two moves committed and are audited; the third died with it
        assert [item_id(ITEMS - 3), item_id(ITEMS - 2)] == moved
        assert moved == [m.item_id for m in moves]
        assert all(m.applied_at is not None and m.by == "torture" for m in moves)
        assert [] == tagged(tag, with_marker=True)
        assert traceback_free(*lab.stderr)
        assert sorted((*RUNNER_FAULT_POINTS, MOVE_FAULT_POINT)) == sorted(lab.fault_kills)
        record_figures(
            "crash",
            {
                "items": ITEMS,
                "kills": lab.kills,
                "fault_point_kills": len(lab.fault_kills),
                "finished_before_last_kill": lab.finished_early,
                "items_rerun": rerun,
                "ledger_starts": sum(len(v) for v in starts.values()),
                "processes_left": 0,
                "duration_s": round(duration, 1),
            },
        )
