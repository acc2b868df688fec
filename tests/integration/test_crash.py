"""Crash torture (CI-sized): SIGKILL a real runner at random moments, then check the ledger.

Set RUNNER_TORTURE_KILLS (default 20) and RUNNER_TORTURE_ITEMS (default 300) for a
bigger run, e.g. `RUNNER_TORTURE_KILLS=200 pytest tests/integration/test_crash.py`.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

from runner import exitcodes
from tests.integration.conftest import Workspace, settings

KILLS = int(os.environ.get("RUNNER_TORTURE_KILLS", "20"))
ITEMS = int(os.environ.get("RUNNER_TORTURE_ITEMS", "300"))

WORK = """\
import os, random, sys, time
item = sys.argv[1]
with open("ledger.txt", "a") as ledger:
    ledger.write(f"start {item} {os.environ['RUNNER_ATTEMPT']}\\n")
time.sleep(random.random() * 0.3)
with open("ledger.txt", "a") as ledger:
    ledger.write(f"done {item}\\n")
"""


class TestCrashTorture:
    def test_random_kills_lose_nothing_and_repeat_no_finished_item(self, ws: Workspace) -> None:
        """After many SIGKILLs and a final resume: every item done once in state, only in-flight items re-ran."""
        ws.script("work.py", WORK)
        ws.write("items.txt", "".join(f"item-{n:05d}\n" for n in range(ITEMS)))
        ws.write(
            "pipeline.yaml",
            settings(8)
            + """
groups:
  g: {file: items.txt}
definitions:
  d: {command: ["./work.py", "{{ item.id }}"]}
policies:
  p: {max_retries: 100000, backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
""",
        )
        rng = random.Random(int(os.environ.get("RUNNER_TORTURE_SEED", "7")))
        kills = 0
        first = True
        while kills < KILLS:
            args = ["run", "pipeline.yaml", "--log-format", "json"] + (["--now"] if first else [])
            runner = ws.spawn(*args)
            time.sleep(0.4 + rng.random() * 0.8)
            if runner.poll() is not None:
                runner.communicate()
                break  # finished before we could kill it: the run is complete
            os.kill(runner.pid, signal.SIGKILL)
            runner.communicate(timeout=60)
            kills += 1
            first = False
        final = ws.runner("run", "pipeline.yaml", "--log-format", "json", timeout=600)
        assert exitcodes.OK == final.returncode, final.stderr[-3000:]

        starts = Counter(
            line.split()[1]
            for line in (ws.root / "ledger.txt").read_text().splitlines()
            if line.startswith("start")
        )
        with ws.store() as store:
            assert "ok" == store.integrity_check()
            assert {"successful": ITEMS} == store.queue_counts("t")
            assert [] == store.open_attempts("default")
            rerun = 0
            for n in range(ITEMS):
                item = f"item-{n:05d}"
                attempts = store.attempts_of("t", item)
                statuses = [a.status for a in attempts]
                # the success is the last attempt: nothing ran after a recorded success
                assert "ok" == statuses[-1], (item, statuses)
                assert all(s == "interrupted" for s in statuses[:-1]), (item, statuses)
                # every launch was recorded first; extra launches only for interrupted attempts
                assert 1 <= starts[item] <= len(attempts), (item, starts[item], statuses)
                rerun += starts[item] > 1
        print(f"crash torture: {kills} kills, {ITEMS} items, {rerun} items re-ran after a kill")
