"""Multi-host torture: four runners of simulated hosts share one PostgreSQL state under SIGKILL.

Each simulated host (tests/support/hosts.py) has its own copy of the pipeline directory and
runs `runner serve --instance hN` in a session of its own with SIM_HOST=hN; all four share
one PostgreSQL state with a 3 s lease. One task, `mode: once` on a schedule firing every
minute, works a 2,000-item file group: each item (tests/support/programs/ledger_item.py,
argv, no shell) ledgers its start and end with host, attempt, pid and time under a flock of
its own, pauses 20-150 ms and fails one attempt in ten (the policy retries). Once the first
fire has opened the run (all four runners see it), runners are SIGKILLed at random moments
(CI: 10; RUNNER_TORTURE=full: 100) and each is started again with the same instance, within
its lease or past it; midway one runner with items in flight is SIGSTOPped for twice the
lease, then continued: it must notice it lost its lease and exit, and is started again. When
every item is `successful` the runners are stopped with SIGTERM and the ledger, the logs and
the state are checked; every broken check is reported with the lines that break it.

RUNNER_TORTURE_SEED picks another random sequence (chaos and items alike).
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from runner.domain import queues as q
from runner.domain.statuses import INTERRUPTED, OK
from runner.state import StateStore
from tests.support.hosts import SimHost, uts_prefix
from tests.support.ledger import Entry, Life, ProcessWatch, lives, read_ledger
from tests.support.programs import PROGRAMS
from tests.support.sizes import FULL, record_figures, size
from tests.support.spawning import reaped, spawn_runner, traceback_free
from tests.support.system import require_system
from tests.support.tagging import runner_env, tagged
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

HOSTS = ("h1", "h2", "h3", "h4")
ITEMS = 2000
KILLS = size(10, 100)
SEED = int(os.environ.get("RUNNER_TORTURE_SEED", "11"))
FAIL_RATE = 0.1
"""The share of attempts that exit 1 (the policy retries them)."""
CONCURRENCY = 8
LEASE = 3.0
"""settings.lease, in seconds: short, so the test can wait past it."""
STOP_BUSY = 3
"""The runner SIGSTOPped has at least this many items running (their outcomes come late)."""
LEASE_LOST_WITHIN = 30.0
"""Seconds a runner continued after losing its lease has to notice it and exit."""
KILL_GAP = (0.3, 2.5) if not FULL else (0.2, 1.2)
"""Seconds between two kills, drawn uniformly (the full size kills twice as often)."""
PAUSE_SCALE = size(1, 8)
"""Items pause 20-150 ms times this: the full size's kills need a longer run."""
SHORT_DOWN = (0.1, 0.6 * LEASE)
"""Seconds a killed runner stays down when it comes back within its lease (drawn uniformly)."""
LONG_DOWN = (1.2 * LEASE, 2 * LEASE)
"""Seconds it stays down when its lease expires first (the other runners take over)."""
ITEM_SCRIPT = PROGRAMS / "ledger_item.py"
TASK = "t"
SITE = "default"
FIRST_FIRE = 150.0
"""Seconds to wait for the first fire (at the next minute) to start the first item."""
SETTLE = 600.0
"""Seconds to wait for the last items to succeed once the chaos is over."""

PIPELINE = """
schedules:
  minutely: {{cron: "* * * * *"}}
groups:
  g: {{file: items.csv}}
definitions:
  d: {{command: {command}}}
policies:
  p: {{max_retries: 100000, backoff: {{initial: 0s, factor: 1, max: 0s}}}}
tasks:
  t: {{definition: d, group: g, policy: p, schedule: minutely, mode: once}}
"""


def item_id(n: int) -> str:
    return f"item-{n:04d}"


@dataclass
class Stop:
    """The one SIGSTOP: of which host and life, and when (wall clock, as the ledger's times)."""

    host: SimHost
    life: int
    life_started_at: float
    stopped_at: float
    continued_at: float | None = None
    exit_code: int | None = None
    """How the stopped life ended after SIGCONT (None: it had not ended when it was killed)."""
    exited_after_s: float | None = None
    restarted_at: float | None = None


@dataclass
class Chaos:
    """Kills runners at random moments and starts them again, SIGSTOPs one; keeps the figures."""

    hosts: list[SimHost]
    rng: random.Random
    watch: ProcessWatch
    kills: int = 0
    downtimes: list[float] = field(default_factory=list)
    """How long each killed runner stayed down, in seconds."""
    stop: Stop | None = None
    _due: dict[str, float] = field(default_factory=dict)
    """Hosts waiting to be started again: name -> when (monotonic)."""
    _down_since: dict[str, float] = field(default_factory=dict)
    _cont_due: float = 0.0
    _continued: float = 0.0

    def up(self) -> list[SimHost]:
        """The hosts whose runner works (not down, not stopped, not dying after its stop)."""
        stopped = (
            self.stop.host if self.stop is not None and self.stop.restarted_at is None else None
        )
        return [h for h in self.hosts if h.name not in self._due and h.running and h is not stopped]

    def tick(self, now: float) -> None:
        """Start again every runner whose delay is over (at once, one that ended by itself:
        `check_exits` reports it); continue and reap the stopped one."""
        stopped = (
            self.stop.host if self.stop is not None and self.stop.restarted_at is None else None
        )
        for host in self.hosts:
            if host.name not in self._due and host is not stopped and host.wait(0) is not None:
                self._down_since[host.name] = now
                self._due[host.name] = now
        for host in self.hosts:
            due = self._due.get(host.name)
            if due is not None and now >= due:
                host.start()
                self.downtimes.append(now - self._down_since.pop(host.name))
                del self._due[host.name]
                if (
                    self.stop is not None
                    and self.stop.host is host
                    and self.stop.restarted_at is None
                ):
                    self.stop.restarted_at = time.time()
        stop = self.stop
        if stop is None or stop.restarted_at is not None or stop.host.name in self._due:
            return
        if stop.continued_at is None:
            if now >= self._cont_due:
                stop.host.signal(signal.SIGCONT)
                stop.continued_at = time.time()
                self._continued = now
            return
        code = stop.host.wait(0)
        if code is None and now - self._continued < LEASE_LOST_WITHIN:
            return
        if code is None:
            stop.host.kill()
        stop.exit_code = code
        stop.exited_after_s = now - self._continued
        self._down_since[stop.host.name] = now
        self._due[stop.host.name] = now + self.rng.uniform(*SHORT_DOWN)

    def kill_one(self, now: float) -> None:
        """SIGKILL one working runner at random; it comes back after a random delay."""
        up = self.up()
        if not up:
            return
        host = self.rng.choice(up)
        host.kill()
        self.kills += 1
        self._down_since[host.name] = now
        self._due[host.name] = now + self.down_time()

    def down_time(self) -> float:
        """How long a killed runner stays down: the first within its lease, the second past
        it, then either at random."""
        beyond = self.kills == 2 if self.kills <= 2 else self.rng.random() < 0.5
        return self.rng.uniform(*(LONG_DOWN if beyond else SHORT_DOWN))

    def stopping(self) -> bool:
        """A runner is SIGSTOPped, or continued and not yet started again."""
        return self.stop is not None and self.stop.restarted_at is None

    def stop_one(self, now: float) -> bool:
        """SIGSTOP the working runner with the most items running, for twice the lease; only
        while every other runner works (one of them must take it over meanwhile)."""
        if not all(h.running and h.name not in self._due and h.ready() for h in self.hosts):
            return False
        running = Counter(
            host.name
            for host in self.up()
            for entry in self.watch.running()
            if entry.host == host.name and entry.at > host.started_at
        )
        busy = [h for h in self.up() if running[h.name] >= STOP_BUSY]
        if not busy:
            return False
        host = max(busy, key=lambda h: running[h.name])
        host.signal(signal.SIGSTOP)
        self.stop = Stop(host, host.lives, host.started_at, time.time())
        self._cont_due = now + 2 * LEASE
        return True

    def run(self, done: Callable[[], bool]) -> bool:
        """Kill KILLS times and stop one runner once, midway (no kill while it is stopped),
        unless `done` first; True when the work was done before the chaos ended."""
        next_kill = time.monotonic() + self.rng.uniform(*KILL_GAP)
        while self.kills < KILLS or self.stop is None:
            now = time.monotonic()
            self.tick(now)
            if now >= next_kill:
                if done():
                    return True
                if self.stop is None and self.kills >= KILLS // 2:
                    self.stop_one(now)
                elif not self.stopping():  # no kill meanwhile: the others take it over
                    self.kill_one(now)
                next_kill = now + self.rng.uniform(*KILL_GAP)
            time.sleep(0.02)
        return False

    def settle(self) -> None:
        """Let the stopped runner continue, end and start again, then start every runner still
        down (bounded: `tick` kills a continued runner that has not ended in LEASE_LOST_WITHIN)."""
        while self.stop is not None and self.stop.restarted_at is None:
            self.tick(time.monotonic())
            time.sleep(0.02)
        self.tick(float("inf"))


@pytest.fixture
def hosts(ws: Workspace, tag: str) -> Iterator[list[SimHost]]:
    """The simulated hosts, each with its copy of the pipeline; their runners are not started."""
    (ws.root / "locks").mkdir()
    command = [
        sys.executable,
        "-I",
        "-S",
        str(ITEM_SCRIPT),
        str(ws.root / "ledger.txt"),
        str(ws.root / "locks"),
        str(SEED),
        str(FAIL_RATE),
        str(PAUSE_SCALE),
        "{{ item.id }}",
    ]
    pipeline = settings(CONCURRENCY, f"  lease: {LEASE:g}s\n") + PIPELINE.format(
        command=json.dumps(command)
    )
    rows = "".join(f"{item_id(n)}\n" for n in range(ITEMS))
    uts = uts_prefix()
    if uts is None:
        require_system("unshare --uts", "a host name per simulated host needs a UTS namespace")
    made: list[SimHost] = []
    for name in HOSTS:
        root = ws.root / name
        root.mkdir()
        (root / "pipeline.yaml").write_text(pipeline)
        (root / "items.csv").write_text("id\n" + rows)
        args = ["serve", "pipeline.yaml", "--log-format", "json", "--instance", name]
        made.append(SimHost(name, root, tag, args, uts))
    try:
        yield made
    finally:
        for host in made:
            if host.running:
                host.kill()


# -- the checks: each returns the problems it found, with the lines showing them ---------------


def by_item(found: list[Life]) -> dict[str, list[Life]]:
    grouped: dict[str, list[Life]] = defaultdict(list)
    for life in found:
        grouped[life.start.item].append(life)
    for item_lives in grouped.values():
        item_lives.sort(key=lambda life: life.start.at)
    return grouped


def item_lines(entries: list[Entry], item: str) -> str:
    return "\n".join(e.line for e in entries if e.item == item)


def check_queues(ws: Workspace, hosts: list[SimHost]) -> list[str]:
    """Every item of the group is listed exactly once, in `successful`."""
    result = ws.runner(
        "items", str(hosts[0].root / "pipeline.yaml"), "--task", TASK, "--all", "--json"
    )
    if result.returncode != 0:
        return [f"`runner items` exited {result.returncode}: {result.stderr[-2000:]}"]
    listed = json.loads(result.stdout)
    counts = Counter(str(row["id"]) for row in listed)
    problems = [f"{item} listed {n} times" for item, n in sorted(counts.items()) if n != 1]
    missing = {item_id(n) for n in range(ITEMS)} - set(counts)
    problems += [f"{item} not listed" for item in sorted(missing)]
    problems += [
        f"{row['id']} in {row['queue']} (last status {row.get('status')})"
        for row in listed
        if row["queue"] != q.SUCCESSFUL
    ]
    return problems


def check_overlaps(entries: list[Entry], found: list[Life]) -> list[str]:
    """No item ran in two processes at once: by the kernel's flock, and by the ledger's times.

    A life without an end line ran at least until it was last seen alive (`Life.alive_at`);
    another start of its item before that instant is an overlap. Between that instant and
    when it was found gone the flock decides (an `overlap` line), not the clock.
    """
    problems = [
        f"the flock of {e.item} was held by another process:\n{item_lines(entries, e.item)}"
        for e in entries
        if e.kind == "overlap"
    ]
    for item, item_lives in sorted(by_item(found).items()):
        for n, first in enumerate(item_lives):
            for later in item_lives[n + 1 :]:
                if later.start.at < first.alive_at:
                    problems.append(
                        f"{item} started again while running:\n{first.describe()}\n"
                        f"{later.describe()}"
                    )
    return problems


def check_launches(entries: list[Entry]) -> list[str]:
    """Each attempt number of an item was launched once (one claim, one process)."""
    starts = Counter((e.item, e.attempt) for e in entries if e.kind == "start")
    return [
        f"{item} attempt {attempt} launched {n} times:\n{item_lines(entries, item)}"
        for (item, attempt), n in sorted(starts.items())
        if n > 1
    ]


@dataclass(frozen=True)
class Recorded:
    """One attempt as the state holds it."""

    item: str
    number: int
    run_id: str
    runner: str
    """The instance of the runner that recorded its start."""
    started_at: float
    ended_at: float | None
    status: str | None


def recorded_attempts(store: StateStore) -> dict[str, list[Recorded]]:
    """Every attempt of the task, by item, in number order."""
    columns = ["task", "item_id", "number", "run_id", "runner", "started_at", "ended_at", "status"]
    found: dict[str, list[Recorded]] = defaultdict(list)
    for task, item, number, run_id, runner, started, ended, status in store.table_rows(
        "attempts", columns
    ):
        if task == TASK:
            found[str(item)].append(
                Recorded(
                    str(item),
                    int(str(number)),
                    str(run_id),
                    str(runner),
                    float(str(started)),
                    None if ended is None else float(str(ended)),
                    None if status is None else str(status),
                )
            )
    for attempts in found.values():
        attempts.sort(key=lambda a: a.number)
    return found


def check_attempts(
    entries: list[Entry], recorded: dict[str, list[Recorded]], items: list[str]
) -> list[str]:
    """Per item: one success, the last attempt; every launch recorded first; nothing after it.

    The success is the item's last attempt and every earlier one failed or was interrupted.
    Each ledger start names an attempt the state recorded as started, by the runner of the
    host that launched it, no later than the process wrote its line; and none starts after
    the successful attempt ended (by number, and by time: nothing ran after a recorded
    success).
    """
    problems: list[str] = []
    starts: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.kind == "start":
            starts[entry.item].append(entry)
    for item in items:
        attempts = recorded.get(item, [])
        statuses = [a.status for a in attempts]
        if [a.number for a in attempts] != list(range(1, len(attempts) + 1)):
            problems.append(f"{item}: attempt numbers {[a.number for a in attempts]}")
        if not attempts or statuses[-1] != OK or OK in statuses[:-1]:
            problems.append(f"{item}: statuses {statuses}:\n{item_lines(entries, item)}")
            continue
        success = attempts[-1]
        by_number = {a.number: a for a in attempts}
        for start in starts.get(item, []):
            attempt = by_number.get(start.attempt)
            if attempt is None or attempt.started_at > start.at:
                problems.append(
                    f"{item}: launched attempt {start.attempt} not recorded first "
                    f"(recorded: {attempt}):\n{item_lines(entries, item)}"
                )
            elif attempt.runner != start.host:
                problems.append(
                    f"{item}: attempt {start.attempt} ran on {start.host}, recorded as run by "
                    f"{attempt.runner!r}:\n{item_lines(entries, item)}"
                )
            if start.attempt > success.number or (
                success.ended_at is not None and start.at > success.ended_at
            ):
                problems.append(
                    f"{item}: ran after its success (attempt {success.number} ended "
                    f"{success.ended_at}):\n{item_lines(entries, item)}"
                )
        if not starts.get(item):
            problems.append(f"{item}: successful without ever starting: {statuses}")
    return problems


def check_fires(hosts: list[SimHost], store: StateStore) -> list[str]:
    """Each fire opened one run: one run row per fire time, one `run.started` per run."""
    columns = ["id", "task", "trigger", "fire_time"]
    runs = [row for row in store.table_rows("runs", columns) if row[1] == TASK]
    problems = []
    if not runs:
        problems.append("no run was opened")
    fires = Counter(row[3] for row in runs)
    problems += [
        f"fire {fire} opened {n} runs: {[r for r in runs if r[3] == fire]}"
        for fire, n in fires.items()
        if n > 1
    ]
    opened: Counter[str] = Counter()
    lines: dict[str, list[str]] = defaultdict(list)
    for host in hosts:
        for event in host.events("run.started"):
            opened[str(event.get("run_id"))] += 1
            lines[str(event.get("run_id"))].append(f"{host.name}: {json.dumps(event)}")
    problems += [
        f"run {run} started {n} times:\n" + "\n".join(lines[run])
        for run, n in opened.items()
        if n != 1
    ]
    problems += [f"run {row[0]} has no run.started event" for row in runs if row[0] not in opened]
    return problems


def check_processes(ws: Workspace, tag: str) -> list[str]:
    """No item process, and nothing started by the test, is left on the machine."""
    ledger = str(ws.root / "ledger.txt")
    left: list[str] = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if str(ITEM_SCRIPT) in cmdline and ledger in cmdline:
            left.append(f"item process {proc.pid}: {' '.join(cmdline)}")
    left += [
        f"tagged process {proc.pid}: {proc.info.get('environ', {}).get('SIM_HOST')}"
        for proc in tagged(tag)
    ]
    return left


def check_state(ws: Workspace, hosts: list[SimHost]) -> list[str]:
    """`runner state check` finds the shared state sound."""
    result = ws.runner("state", "check", str(hosts[0].root / "pipeline.yaml"))
    if result.returncode != 0:
        return [f"`runner state check` exited {result.returncode}: {result.stdout}{result.stderr}"]
    return []


def check_exits(
    hosts: list[SimHost], finals: dict[str, int | None], stop: Stop | None
) -> list[str]:
    """Killed lives died of SIGKILL (the stopped one is `check_late_writer`'s); the last life of
    each host stopped cleanly on SIGTERM; no traceback anywhere."""
    problems = [
        f"{name}: the last runner exited {code} on SIGTERM"
        for name, code in finals.items()
        if code != 0
    ]
    for host in hosts:
        odd = [
            code
            for life, code in enumerate(host.exits[:-1], start=1)
            if code != -signal.SIGKILL
            and not (stop is not None and (stop.host, stop.life) == (host, life))
        ]
        if odd:
            problems.append(
                f"{host.name}: runner lives exited {host.exits}:\n{host.stderr()[-3000:]}"
            )
        if not traceback_free(host.stderr()):
            problems.append(f"{host.name}: a traceback:\n{host.stderr()[-3000:]}")
    return problems


STOP_MARGIN = 0.05
"""Seconds after SIGSTOP was sent by which the runner is surely stopped: an item of its life
(started before it was continued: a process launched just before the stop may ledger its
start a little after) that ended later ended while its runner could not record it."""


def check_late_writer(
    stop: Stop | None, hosts: list[SimHost], found: list[Life], recorded: dict[str, list[Recorded]]
) -> list[str]:
    """The runner SIGSTOPped past its lease noticed when continued: it logged
    `runner.lease_lost` (or `state.unreachable`), exited 1, launched nothing more, and the outcomes of its items that
    ended while it was stopped were refused (the state holds them `interrupted`, as the runner
    that took over recorded them)."""
    if stop is None:
        return ["no runner was SIGSTOPped: the work ended before the chaos got there"]
    name = stop.host.name
    problems: list[str] = []
    # stopped between transactions it finds the loss at its next write (runner.lease_lost);
    # stopped inside one, the server ended its session after 10 s idle, which freed the write
    # lock, and its next statement fails (state.unreachable): nothing is written either way
    lost = {
        h.name: list(h.events("runner.lease_lost")) + list(h.events("state.unreachable"))
        for h in hosts
    }
    if [name] != [h for h, events in lost.items() for _ in events]:
        problems.append(
            f"runner.lease_lost or state.unreachable logged by {name} (stopped) and others: {lost}"
        )
    if stop.exit_code != 1:
        problems.append(
            f"{name} exited {stop.exit_code} after SIGCONT (1 expected):\n"
            f"{stop.host.stderr_path(stop.life).read_text(errors='replace')[-3000:]}"
        )
    numbered = {(a.item, a.number): a for attempts in recorded.values() for a in attempts}
    continued = stop.continued_at if stop.continued_at is not None else float("inf")
    late = [
        life
        for life in found
        if life.start.host == name
        and stop.life_started_at <= life.start.at < continued
        and life.close is not None
        and life.close.kind == "end"
        and stop.stopped_at + STOP_MARGIN < life.close.at < continued
    ]
    if not late:
        problems.append(f"no item of {name} ended while it was stopped: no late outcome to refuse")
    for life in late:
        attempt = numbered.get((life.start.item, life.start.attempt))
        if attempt is None or attempt.status != INTERRUPTED:
            problems.append(
                f"the late outcome of {life.start.item} attempt {life.start.attempt} was "
                f"recorded: {attempt}\n{life.describe()}"
            )
    end = stop.restarted_at if stop.restarted_at is not None else float("inf")
    problems += [
        f"{name} recorded an attempt while stopped or after losing its lease: {a}"
        for a in numbered.values()
        if a.runner == name and stop.stopped_at < a.started_at < end
    ]
    return problems


LATE_WRITER = "the late writer was fenced"


@pytest.mark.parametrize("state_store", ["postgresql"], indirect=True)
class TestMultiHostTorture:
    def test_runners_share_a_task_under_kills_without_running_an_item_twice(
        self, ws: Workspace, tag: str, hosts: list[SimHost]
    ) -> None:
        """Runners of simulated hosts killed at random share 2,000 items: each ran once at a time and succeeded once."""
        rng = random.Random(SEED)
        ledger = ws.root / "ledger.txt"
        watch = ProcessWatch(ledger)
        watch.start()
        started = time.monotonic()
        for host in hosts:
            host.start()
        wait_until(ledger.exists, timeout=FIRST_FIRE, what="the first fire starting an item")
        fire_wait = time.monotonic() - started
        chaos_started = time.monotonic()
        with ws.open_state(readonly=True) as store:

            def done() -> bool:
                return {q.SUCCESSFUL: ITEMS} == store.queue_counts(TASK)

            chaos = Chaos(hosts, rng, watch)
            finished_early = chaos.run(done)
            chaos.settle()
            wait_until(done, timeout=SETTLE, poll=0.5, what="every item successful")
            wait_until(lambda: not store.open_runs(SITE), timeout=120, poll=0.2, what="no open run")
        work = time.monotonic() - chaos_started
        wait_until(
            lambda: all(h.ready() or not h.running for h in hosts),
            timeout=120,
            what="every runner started (its signal handlers set)",
        )
        for host in hosts:
            if host.running:
                host.signal(signal.SIGTERM)
        finals = {host.name: host.wait(120) for host in hosts}
        watch.stop()

        entries = read_ledger(ledger)
        found = lives(entries, watch)
        with ws.open_state(readonly=True) as store:
            recorded = recorded_attempts(store)
            fires = check_fires(hosts, store)
        failures = {
            "every item in exactly one queue": check_queues(ws, hosts),
            "no item ran twice at once": check_overlaps(entries, found),
            "each attempt launched once": check_launches(entries),
            "recorded attempts agree with the ledger; nothing ran after a success": check_attempts(
                entries, recorded, [item_id(n) for n in range(ITEMS)]
            ),
            "each fire opened one run": fires,
            LATE_WRITER: check_late_writer(chaos.stop, hosts, found, recorded),
            "runner exits": check_exits(hosts, finals, chaos.stop),
            "no process left": check_processes(ws, tag),
            "the state is sound": check_state(ws, hosts),
        }
        report = "\n\n".join(
            f"CHECK FAILED: {name} ({len(problems)} problems)\n" + "\n".join(problems[:10])
            for name, problems in failures.items()
            if problems
        )
        assert not report, report

        attempts = [a for item in recorded.values() for a in item]
        takeovers = [e for host in hosts for e in host.events("runner.taken_over")]
        lost = [e for host in hosts for e in host.events("runner.lease_lost")]
        record_figures(
            "multihost",
            {
                "hosts": len(hosts),
                "items": ITEMS,
                "kills": chaos.kills,
                "finished_before_last_kill": finished_early,
                "restarts_within_lease": sum(1 for d in chaos.downtimes if d < LEASE),
                "restarts_after_lease": sum(1 for d in chaos.downtimes if d >= LEASE),
                "takeovers": len(takeovers),
                "attempts_taken_over": sum(
                    int(str(e.get("attempts_interrupted", 0))) for e in takeovers
                ),
                "outcomes_refused": sum(int(str(e.get("outcomes_refused", 0))) for e in lost),
                "stopped_runner_exited_after_s": round(chaos.stop.exited_after_s or 0, 1)
                if chaos.stop
                else None,
                "ledger_starts": sum(1 for e in entries if e.kind == "start"),
                "starts_without_end": sum(1 for life in found if life.close is None),
                "attempts_interrupted": sum(1 for a in attempts if a.status == INTERRUPTED),
                "attempts": len(attempts),
                "first_fire_wait_s": round(fire_wait, 1),
                "duration_s": round(work, 1),
            },
        )


class TestTheChecksCatch:
    """The checks above fail on the ledgers they exist to catch (a torture test that cannot fail
    proves nothing)."""

    def test_a_second_process_of_an_item_is_caught_by_its_lock(self, tmp_path: Path) -> None:
        """While the item's lock is held, a real item process ledgers `overlap`; the check names it."""
        ledger, locks = tmp_path / "ledger.txt", tmp_path / "locks"
        locks.mkdir()
        held = os.open(locks / "x", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(held, fcntl.LOCK_EX)
        argv = [
            sys.executable,
            "-I",
            "-S",
            str(ITEM_SCRIPT),
            str(ledger),
            str(locks),
            "1",
            "0",
            "1",
            "x",
        ]
        env = {**os.environ, "SIM_HOST": "h9", "RUNNER_ATTEMPT": "2"}
        assert 0 == subprocess.run(argv, env=env, check=False, timeout=60).returncode
        os.close(held)
        entries = read_ledger(ledger)
        assert ["overlap", "start", "end"] == [e.kind for e in entries]
        assert {("h9", "x", 2)} == {(e.host, e.item, e.attempt) for e in entries}
        watch = ProcessWatch(ledger)
        problems = check_overlaps(entries, lives(entries, watch))
        assert 1 == len(problems) and "flock" in problems[0] and entries[0].line in problems[0]

    def test_a_start_while_an_unended_process_was_alive_is_an_overlap(self, tmp_path: Path) -> None:
        """A start before the last sighting of a process without an end line overlaps it; one
        after that sighting is left to the lock (the process may have died in between)."""
        entries = [
            Entry.parse("start h1 x 1 100 10.000000"),
            Entry.parse("start h2 x 2 200 10.400000"),
            Entry.parse("end h2 x 2 200 10.450000 0"),
            Entry.parse("start h3 x 3 300 10.550000"),
            Entry.parse("end h3 x 3 300 10.600000 0"),
        ]
        watch = ProcessWatch(tmp_path / "ledger.txt")
        watch.alive_at[("x", 1, 100)] = 10.5
        watch.gone_at[("x", 1, 100)] = 10.56
        problems = check_overlaps(entries, lives(entries, watch))
        assert 1 == len(problems), problems
        assert entries[0].line in problems[0] and entries[1].line in problems[0]
        assert "found gone 10.560000" in problems[0]

    def test_a_launch_after_the_recorded_success_is_reported(self) -> None:
        """A start after the success ended, or of a later attempt, or never recorded, is named."""
        entries = [
            Entry.parse("start h1 x 1 100 10.000000"),
            Entry.parse("end h1 x 1 100 10.100000 0"),
            Entry.parse("start h2 x 2 200 10.300000"),
            Entry.parse("end h2 x 2 200 10.400000 0"),
        ]
        recorded = {"x": [Recorded("x", 1, "r", "h1", 9.99, 10.2, OK)]}
        problems = check_attempts(entries, recorded, ["x"])
        assert any("ran after its success" in p and entries[2].line in p for p in problems)
        assert any("not recorded first" in p for p in problems)
        assert [] == check_attempts(entries[:2], recorded, ["x"])

    def test_an_attempt_launched_twice_is_reported(self) -> None:
        """Two processes of one attempt number mean two claims of one item."""
        entries = [
            Entry.parse("start h1 x 1 100 10.000000"),
            Entry.parse("start h2 x 1 200 10.300000"),
        ]
        problems = check_launches(entries)
        assert 1 == len(problems) and all(e.line in problems[0] for e in entries)


HELD_ITEM = """\
import os, pathlib, sys, threading
ledger = pathlib.Path(sys.argv[1])
with ledger.open("a") as out:
    out.write(f"start {os.environ['RUNNER_ATTEMPT']}\\n")
while not (ledger.parent / "release").exists():
    threading.Event().wait(0.02)
with ledger.open("a") as out:
    out.write(f"end {os.environ['RUNNER_ATTEMPT']}\\n")
"""

ONE_ITEM = """
groups:
  g: {{members: [x]}}
definitions:
  d: {{command: {command}}}
policies:
  p: {{max_retries: 5, backoff: {{initial: 0s, factor: 1, max: 0s}}}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once}}
"""


@pytest.mark.parametrize("state_store", ["postgresql"], indirect=True)
class TestTwoCheckoutsOfOneHost:
    def test_an_attempt_that_ran_in_another_checkout_is_interrupted_not_withdrawn(
        self, ws: Workspace, tag: str
    ) -> None:
        """A runner SIGKILLed after launching an item, whose process then ended, is taken over by
        a runner of another checkout on the same host: the attempt is `interrupted` and the item
        runs again as attempt 2 (found by the multi-host torture test before its hosts got host
        names of their own)."""
        ledger = ws.root / "ledger.txt"
        item = ws.script("item.py", HELD_ITEM)
        command = json.dumps([str(item), str(ledger)])
        pipeline = settings(1, f"  lease: {LEASE:g}s\n") + ONE_ITEM.format(command=command)
        for name in ("a", "b"):
            ws.write(f"{name}/pipeline.yaml", pipeline)
        env = runner_env(tag)
        first = spawn_runner(
            ws,
            "run",
            "pipeline.yaml",
            "--task",
            TASK,
            "--now",
            "--instance",
            "a",
            "--log-format",
            "json",
            env=env,
            cwd=ws.root / "a",
        )
        with reaped(first):
            wait_until(lambda: ledger.exists() and "start 1" in ledger.read_text(), timeout=60)
            os.kill(first.pid, signal.SIGKILL)
            first.finish(timeout=60)
        (ws.root / "release").write_text("")
        wait_until(lambda: "end 1" in ledger.read_text(), timeout=60)
        time.sleep(LEASE + 1)  # the killed runner's lease expires
        second = spawn_runner(
            ws,
            "serve",
            "pipeline.yaml",
            "--instance",
            "b",
            "--log-format",
            "json",
            env=env,
            cwd=ws.root / "b",
        )
        with reaped(second):
            with ws.open_state(readonly=True) as store:
                wait_until(
                    lambda: store.queue_counts(TASK) == {q.SUCCESSFUL: 1}, timeout=120, poll=0.2
                )
                statuses = [a.status for a in store.attempts_of(TASK, "x")]
            second.proc.send_signal(signal.SIGTERM)
            second.finish(timeout=60)
        assert ["start 1", "end 1", "start 2", "end 2"] == ledger.read_text().splitlines()
        assert [INTERRUPTED, OK] == statuses
