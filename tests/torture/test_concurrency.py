"""Concurrency: many runners on one state, and a state machine over the store and the queues.

- 5 runners started at once on one state, round after round (CI: 5 rounds, full: 50), and
  again after the lock holder was SIGKILLed: exactly one proceeds each time, the others exit
  75 naming the holder, and no attempt of an item is started twice.
- A hypothesis RuleBasedStateMachine drives StateStore and runner.domain the way the engine
  and operators do (sync members, start attempts, finish them ok/failed/timeout, moves also
  of running items, a "kill" that reopens the store and marks open attempts interrupted the
  way Engine.recover does) and checks the invariants after every step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from runner import exitcodes
from runner.config.policies import Policy
from runner.domain import queues as q
from runner.domain.policy import after_attempt
from runner.domain.statuses import FAILED, INTERRUPTED, OK, TIMEOUT
from runner.errors import LockHeldError
from runner.state import AttemptEnd, AttemptStart, RunRow, open_store
from runner.system.lock import RunnerLock
from tests.support import workspace
from tests.support.sizes import record_figures, size
from tests.support.spawning import exited_within, reaped, spawn_runner, traceback_free
from tests.support.tagging import runner_env, tagged
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace

ROUNDS = size(5, 50)
RUNNERS = 5
ITEMS = 12

WORK = """\
#!/bin/sh
# work.sh ITEM: ledger the start (who, which attempt), then wait for the test's go file.
echo "start $RUNNER_RUN_ID $1 $RUNNER_ATTEMPT $PPID" >> ledger.txt
while [ ! -e go ]; do sleep 0.02; done
"""


def race(ws: Workspace, tag: str, *, now: bool = True) -> tuple[int, str]:
    """Start RUNNERS runners at once; all but one must exit 75 naming it; then let it finish."""
    (ws.root / "go").unlink(missing_ok=True)
    args = ["run", "pipeline.yaml", "--log-format", "json", *(["--now"] if now else [])]
    runners = [spawn_runner(ws, *args, env=runner_env(tag)) for _ in range(RUNNERS)]
    with reaped(*runners):
        wait_until(
            lambda: sum(r.proc.poll() is not None for r in runners) >= RUNNERS - 1, timeout=120
        )
        losers = [r for r in runners if r.proc.poll() is not None]
        winners = [r for r in runners if r.proc.poll() is None]
        assert 1 == len(winners), [r.proc.returncode for r in losers]
        for loser in losers:
            code, err = loser.finish()
            assert exitcodes.LOCKED == code, err[-2000:]
            assert f"process {winners[0].pid}" in err, err[-2000:]
            assert traceback_free(err)
        (ws.root / "go").write_text("")
        return winners[0].finish(timeout=300)


def ledger_keys(ws: Workspace) -> Counter[tuple[str, str, str]]:
    path = ws.root / "ledger.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(tuple(line.split()[1:4]) for line in lines)  # type: ignore[misc]


@pytest.fixture
def race_ws(ws: Workspace) -> Workspace:
    ws.write("work.sh", textwrap.dedent(WORK)).chmod(0o755)
    ws.write(
        "pipeline.yaml",
        workspace.settings(4)
        + textwrap.dedent(
            f"""
            groups:
              g: {{members: [{", ".join(f"i{n:02d}" for n in range(ITEMS))}]}}
            definitions:
              d: {{command: ["./work.sh", "{{{{ item.id }}}}"]}}
            policies:
              p: {{max_retries: 5, backoff: {{initial: 0s, factor: 1, max: 0s}}}}
            tasks:
              t: {{definition: d, group: g, policy: p}}
            """
        ),
    )
    return ws


class TestRunnersRace:
    def test_one_of_five_runners_proceeds_each_round(self, race_ws: Workspace, tag: str) -> None:
        """Round after round, one runner of five takes the lock; the rest exit 75; no attempt starts twice."""
        ws = race_ws
        for _ in range(ROUNDS):
            code, err = race(ws, tag)
            assert exitcodes.OK == code, err[-2000:]
        keys = ledger_keys(ws)
        assert [] == [k for k, n in keys.items() if n > 1]
        assert ROUNDS * ITEMS == len(keys)
        with ws.store() as store:
            assert "ok" == store.integrity_check()
            runs = store.connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert ROUNDS == runs
        assert [] == tagged(tag, with_marker=True)
        record_figures(
            "concurrency-race",
            {"rounds": ROUNDS, "runners_per_round": RUNNERS, "double_starts": 0},
        )

    def test_after_the_holder_is_killed_exactly_one_takes_over(
        self, race_ws: Workspace, tag: str
    ) -> None:
        """SIGKILL the lock holder mid-run; of five new runners one resumes it, the rest exit 75."""
        ws = race_ws
        holder = spawn_runner(
            ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
        )
        with reaped(holder):
            wait_until(lambda: len(ledger_keys(ws)) >= 4, timeout=120)
            os.kill(holder.pid, signal.SIGKILL)
            assert exited_within(holder.proc, 60)
        code, err = race(ws, tag, now=False)
        assert exitcodes.OK == code, err[-2000:]
        keys = ledger_keys(ws)
        assert [] == [k for k, n in keys.items() if n > 1]
        with ws.store() as store:
            assert "ok" == store.integrity_check()
            assert {q.SUCCESSFUL: ITEMS} == store.queue_counts("t")
            for n in range(ITEMS):
                statuses = [a.status for a in store.attempts_of("t", f"i{n:02d}")]
                assert OK == statuses[-1] and set(statuses[:-1]) <= {INTERRUPTED}
        assert [] == tagged(tag, with_marker=True)


HOLD_WITHOUT_PID = """\
import fcntl, os, sys, threading
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
if sys.argv[2] == "late":
    threading.Event().wait(0.05)
    os.pwrite(fd, f"{os.getpid()}\\n".encode(), 0)
    os.ftruncate(fd, len(f"{os.getpid()}\\n"))
sys.stdin.read()
"""


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class TestLockHolderReport:
    """Found by the race above: a refused runner named a dead holder, or none, while the new one wrote its pid."""

    def _hold(self, path: Path, mode: str) -> subprocess.Popen[str]:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_WITHOUT_PID, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        assert "locked\n" == holder.stdout.readline()
        return holder

    def test_a_dead_previous_holder_is_never_named(self, tmp_path: Path) -> None:
        """The file still names a SIGKILLed holder while a new one holds the lock: that pid is not reported."""
        path = tmp_path / "state.db.default.lock"
        path.write_text(f"{dead_pid()}\n")
        path.chmod(0o600)
        holder = self._hold(path, "silent")
        try:
            with pytest.raises(LockHeldError) as caught:
                RunnerLock(path).acquire()
        finally:
            holder.communicate("")
        assert caught.value.holder_pid is None
        assert "another process" in str(caught.value)

    def test_a_holder_writing_its_pid_late_is_named(self, tmp_path: Path) -> None:
        """A new holder that writes its pid a moment after locking is still named by a refused runner."""
        path = tmp_path / "state.db.default.lock"
        path.write_text(f"{dead_pid()}\n")
        path.chmod(0o600)
        holder = self._hold(path, "late")
        try:
            with pytest.raises(LockHeldError) as caught:
                RunnerLock(path).acquire()
        finally:
            holder.communicate("")
        assert holder.pid == caught.value.holder_pid


# -- the state machine ---------------------------------------------------------------------

TASK = "t"
SITE = "default"
RUN = "t@run"
POLICY = Policy.model_validate({"max_retries": 2, "backoff": {"initial": 0, "factor": 1, "max": 0}})
IDS = [f"m{n}" for n in range(6)]
FINISH_STATUSES = (OK, FAILED, TIMEOUT)


class StoreMachine(RuleBasedStateMachine):
    """The store and the queue rules, driven like the engine and an operator would."""

    attempts = Bundle("attempts")

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.path = Path(self._dir.name) / "state.db"
        self.store = open_store(self.path)
        self.clock = 1000.0
        self.moves_made = 0
        self.attempts_made: Counter[str] = Counter()
        self.open: dict[int, str] = {}  # attempt id -> item

    def tick(self) -> float:
        self.clock += 1.0
        return self.clock

    @initialize()
    def begin(self) -> None:
        now = self.tick()
        self.store.upsert_task(TASK, site=SITE, config_hash="h", modified_by="test", now=now)
        self.store.begin_run(
            RunRow(RUN, TASK, SITE, "now", None, None, now, None, "items", "running", "d1", ""),
            recurring=False,
        )

    @rule(members=st.sets(st.sampled_from(IDS), min_size=1))
    def sync(self, members: set[str]) -> None:
        self.store.sync_members(TASK, ((m, "{}", "") for m in sorted(members)), now=self.tick())

    @rule(target=attempts, limit=st.integers(1, 3))
    def start(self, limit: int) -> object:
        now = self.tick()
        rows = self.store.eligible_items(TASK, now=now, in_schedule=True, limit=limit)
        starts = [
            AttemptStart(TASK, r.item_id, r.attempts + 1, RUN, SITE, "d1", now, "") for r in rows
        ]
        ids = self.store.start_attempts(starts)
        for attempt_id, row in zip(ids, rows, strict=True):
            self.open[attempt_id] = row.item_id
            self.attempts_made[row.item_id] += 1
        return ids[0] if ids else -1

    def _end(self, attempt_id: int, status: str, now: float) -> AttemptEnd:
        item = self.store.item(TASK, self.open[attempt_id])
        assert item is not None
        decision = after_attempt(
            status=status, rule_queue=None, policy=POLICY, retries_used=item.retries_used, now=now
        )
        return AttemptEnd(
            attempt_id=attempt_id,
            task=TASK,
            item_id=item.item_id,
            status=status,
            exit_code=0 if status == OK else None,
            signal=None,
            error=None if status == OK else status,
            queue=decision.queue,
            retry_at=decision.retry_at,
            retries_used=item.retries_used + (1 if decision.queue == q.RETRY else 0),
            ended_at=now,
            duration_s=0.0,
        )

    @rule(attempt_id=consumes(attempts), status=st.sampled_from(FINISH_STATUSES))
    def finish(self, attempt_id: int, status: str) -> None:
        if attempt_id not in self.open:
            return  # never started, or already ended by a kill
        now = self.tick()
        item = self.store.item(TASK, self.open[attempt_id])
        assert item is not None
        pending = item.pending_queue
        end = self._end(attempt_id, status, now)
        ((_, queue),) = self.store.finish_attempts([end])
        assert (pending or end.queue) == queue
        del self.open[attempt_id]

    @rule(item=st.sampled_from(IDS), to=st.sampled_from(sorted(q.OPERATOR_TARGETS)))
    def move(self, item: str, to: str) -> None:
        row = self.store.item(TASK, item)
        if row is None or q.check_move(row.queue, to) is not None:
            return
        move = self.store.move_item(
            TASK, item, to_queue=to, by="op", reason="state machine", now=self.tick()
        )
        self.moves_made += 1
        assert (move.applied_at is None) == (row.running_attempt is not None)

    @precondition(lambda self: bool(self.open))
    @rule()
    def kill(self) -> None:
        """The runner dies: reopen the store and end open attempts as `interrupted`, like recover()."""
        self.store.close()
        self.store = open_store(self.path)
        now = self.tick()
        orphans = self.store.open_attempts(SITE)
        assert sorted(self.open) == [a.id for a in orphans]
        ends = [self._end(a.id, INTERRUPTED, now) for a in orphans]
        self.store.finish_attempts(ends)
        self.open.clear()

    @invariant()
    def every_item_in_exactly_one_known_queue(self) -> None:
        rows = self.store.connection.execute(
            "SELECT item_id, queue, count(*) FROM items WHERE task = ? GROUP BY item_id", (TASK,)
        ).fetchall()
        assert [] == [r for r in rows if r[2] != 1 or r[1] not in q.ALL_QUEUES]

    @invariant()
    def attempts_are_counted_right(self) -> None:
        for item in IDS:
            row = self.store.item(TASK, item)
            recorded = self.store.attempts_of(TASK, item)
            assert self.attempts_made[item] == len(recorded)
            if row is not None:
                assert row.attempts == len(recorded)
                assert list(range(1, len(recorded) + 1)) == [a.number for a in recorded]

    @invariant()
    def a_running_item_has_exactly_one_open_attempt(self) -> None:
        for item in IDS:
            row = self.store.item(TASK, item)
            open_ids = [a.id for a in self.store.attempts_of(TASK, item) if a.ended_at is None]
            if row is None:
                assert [] == open_ids
            elif row.running_attempt is None:
                assert [] == open_ids and row.pending_queue is None
            else:
                assert [row.running_attempt] == open_ids

    @invariant()
    def moves_are_audited(self) -> None:
        moves = self.store.connection.execute(
            "SELECT count(*), sum(applied_at IS NULL) FROM moves"
        ).fetchone()
        pending_items = self.store.connection.execute(
            "SELECT count(*) FROM items WHERE pending_queue IS NOT NULL"
        ).fetchone()[0]
        assert self.moves_made == moves[0]
        assert (moves[1] or 0) >= pending_items
        assert pending_items == 0 or bool(self.open)
        if not self.open:
            # Nothing runs: every move took effect, except those a later move of the same
            # item replaced while it ran (superseded, never applied: docs/behaviour.md).
            unapplied_last = self.store.connection.execute(
                "SELECT count(*) FROM moves m WHERE applied_at IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM moves later WHERE later.task = m.task "
                "AND later.item_id = m.item_id AND later.id > m.id)"
            ).fetchone()[0]
            assert 0 == unapplied_last

    def teardown(self) -> None:
        assert "ok" == self.store.integrity_check()
        self.store.close()
        self._dir.cleanup()


StoreMachine.TestCase.settings = settings(
    max_examples=size(60, 1000),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreMachine = StoreMachine.TestCase
