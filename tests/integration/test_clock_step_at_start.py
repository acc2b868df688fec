"""The wall clock stepped back while no runner ran: the next start finds the site's heartbeat
ahead of now, logs `clock.stepped_back` (found at start) and pulls the waiting retries back by
the step, and `explain` says the same before that start. Real runners, real processes.

The step is made by writing the state as a runner whose clock was an hour ahead would have
left it (heartbeat and retry time an hour later), through the store.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import textwrap
import time

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.statuses import OK
from runner.domain.timefmt import iso
from tests.support.spawning import reaped, spawn_runner, traceback_free
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

STEP = 3600.0
BACKOFF = 20.0
DEADLINE = 300.0
"""Seconds the resuming `run` may take: far less than the step, far more than the backoff."""

PIPELINE = """
groups:
  g: {members: "a"}
definitions:
  d: {command: [./work.sh, "{{ item.id }}"]}
policies:
  p: {max_retries: 1, backoff: {initial: 20s}}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
"""

WORK = """\
#!/bin/sh
# work.sh ITEM: ledger the start; fail the first time, succeed after.
echo "start $1" >> ledger.txt
[ -e "failed-$1" ] || { touch "failed-$1"; exit 1; }
"""


def test_a_backward_step_while_no_runner_ran_keeps_the_backoff_its_length(ws: Workspace) -> None:
    ws.write("work.sh", WORK).chmod(0o755)
    ws.write("pipeline.yaml", settings(1) + textwrap.dedent(PIPELINE))
    first = spawn_runner(ws, "run", "pipeline.yaml", "--now", "--log-format", "json")
    with reaped(first):

        def waiting_retry() -> bool:
            if not (ws.root / "ledger.txt").exists():  # the state is made before any start
                return False
            with ws.open_state(readonly=True) as store:
                row = store.item("t", "a")
            return row is not None and row.queue == q.RETRY

        wait_until(waiting_retry, timeout=60, what="the retry recorded")
        first.proc.send_signal(signal.SIGTERM)
        code, err = first.finish(timeout=60)
    assert code not in (exitcodes.OK, exitcodes.INTERNAL_ERROR), err[-2000:]

    # As a runner whose clock was an hour ahead would have left it; then the clock stepped back.
    with ws.open_state() as store:
        (worker,) = [w for w in store.workers() if w.site == "default"]
        store.heartbeat(dataclasses.replace(worker, heartbeat=worker.heartbeat + STEP))
        with store.batch():
            store.connection.execute(  # type: ignore[attr-defined]
                "UPDATE items SET retry_at = retry_at + ? WHERE task = 't'", (STEP,)
            )
        row = store.item("t", "a")
    assert row is not None and row.retry_at is not None
    due = row.retry_at - STEP

    explained = ws.runner("explain", "pipeline.yaml", "--task", "t", "a", "--json")
    assert exitcodes.OK == explained.returncode, explained.stderr
    facts = json.loads(explained.stdout)
    if due > time.time():  # else the backoff is over: the item is simply next
        assert "backoff" == facts["reason"], facts
    # The step is measured against the last heartbeat, which is a little older than `now`: the
    # retry is pulled back to `due` at the latest, and never later than the heartbeat's age.
    late = time.time() - worker.heartbeat
    explained_at = _instant(facts["retry_at"])
    assert due - 1 <= explained_at <= due + late + 1, (facts["retry_at"], iso(due), late)
    assert any("wall clock went back" in line for line in facts["details"]), facts["details"]

    run = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json", timeout=DEADLINE)
    assert exitcodes.OK == run.returncode, run.stderr[-3000:]
    assert traceback_free(run.stderr)
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    (stepped,) = [e for e in events if e["event"] == "clock.stepped_back"]
    assert "start" == stepped["found_at"]
    assert STEP - 60 <= stepped["step_s"] <= STEP
    assert 1 == stepped["retries_moved"]
    with ws.open_state(readonly=True) as store:
        assert [q.SUCCESSFUL] == [store.item("t", "a").queue]  # type: ignore[union-attr]
        assert OK == store.attempts_of("t", "a")[-1].status
    assert ["start a", "start a"] == (ws.root / "ledger.txt").read_text().splitlines()

    again = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
    assert "clock.stepped_back" not in again.stderr  # handled once: the heartbeat moved on


def _instant(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
