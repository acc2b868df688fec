"""Benchmark: runners sharing one PostgreSQL state, and dispatch on PostgreSQL against SQLite.

Over 400 lines: two measurements on one throwaway server, sharing its state reading, the
serving runners' control and the CPU accounting that explains the figures.

Throughput. A task of N items whose command is `sleep 0.1`, written as an operator writes it
(an argv templated with the item's id: `[/bin/sh, -c, "sleep 0.1", "{{ item.id }}"]`, the id
as the shell's `$0`, which `ps` shows), `settings.concurrency: 8` (per runner), `mode: once`,
run by 1, 2 and 4 runners on one PostgreSQL state. Each runner has its own copy of the
pipeline directory (its own logs and local side files) and its own `--instance rK`. In each
measurement the runners r2..rK start first, as `runner serve --instance rK`, and the benchmark
waits until each has logged `runner.started`; then r1 runs `runner run --task t --now
--instance r1`: it opens the run, the serving runners join it and take items from it. When r1
exits (its run ended: no item left, no attempt open on any runner) the serving runners are
sent SIGTERM and waited for.

Throughput is measured from the state, not from process wall time: items / (the last
attempt's end - the first attempt's start), read from the attempts table once every runner
has exited. Process wall time would add each runner's start-up and the owner's opening and
closing of the run, which are the same for every N and not what scales. The ratio to one
runner is the median over rounds of the per-round ratio (each round runs every N once, back
to back, so a round's ratio compares runs made under the same load).

Dispatch. N items of templated `/bin/true` (`[/bin/true, "{{ item.id }}"]`, as
`bench_peers`), one `runner run --now`, at concurrency 2 and 8, on a SQLite state file and on
a PostgreSQL state, interleaved rounds: ms/item from the command's wall time (what an
operator waits for), and the attempts' span from the state beside it.

The PostgreSQL server is a throwaway one started by the benchmark on this machine
(tests/support/postgres.py: its Unix socket in a temporary directory), each measurement in a
fresh schema. Unlike the tests' server it keeps fsync and full-page writes on, as a
production server does: the SQLite state it is compared with syncs every commit too.
Without PostgreSQL installed (`initdb`, `pg_ctl`: `apt-get install postgresql`) the benchmark
reports that it was skipped and why. Every figure is printed beside the 1-minute load
average taken just before its run and the cores the whole machine kept busy during it (every
process: runners, items, the server, and whatever else runs here): on a machine of few cores,
that is what caps the scale-out.

Reports; asserts nothing. Usage:

    python -m tests.perf.bench_scaleout [--items 1600] [--runners 1 2 4] [--rounds 3]
        [--dispatch-items 10000] [--dispatch-concurrency 2 8] [--dispatch-rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.perf._measure import (
    Measurement,
    Row,
    bench_env,
    measure,
    print_progress,
    runner_argv,
    table,
)
from tests.perf.bench_peers import TEMPLATED_TRUE
from tests.support.postgres import PostgresServer, postgres_bin

PIPELINE = """\
version: 1
settings:
  state: '{state}'
  logs: .runner/logs
  concurrency: {concurrency}
groups:
  g: {{file: items.txt}}
definitions:
  d: {{command: {command}}}
policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once}}
"""

SLEEP_ITEM = '[/bin/sh, -c, "sleep 0.1", "{{ item.id }}"]'
SLEEP_S = 0.1
"""What one item of the throughput task sleeps."""
PER_RUNNER = 8
"""`settings.concurrency` of every runner of the throughput task."""
SQLITE_STATE = ".runner/state.db"
READY_TIMEOUT_S = 60.0
"""How long a serving runner may take to log `runner.started` before the benchmark gives up."""
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Span:
    """What the state holds of the task's attempts once every runner has exited."""

    attempts: int
    successful: int
    first_start: float
    last_end: float
    by_runner: dict[str, int]
    """Attempts per runner instance."""

    @property
    def seconds(self) -> float:
        return self.last_end - self.first_start


@dataclass(frozen=True)
class Sample:
    """One measurement: the attempts' span, the owner's wall time, the load before it, the
    cores the whole machine kept busy meanwhile (every process: the runners, their children,
    the server, and whatever else runs here), and the CPU time of the runners with their
    items, and of the PostgreSQL server."""

    span: Span
    wall: Measurement
    load: float
    busy: float
    runners_cpu_s: float
    server_cpu_s: float

    def per_item_ms(self, items: int) -> tuple[float, float]:
        """CPU ms per item: (the runners and their items, the server)."""
        return self.runners_cpu_s / items * 1000, self.server_cpu_s / items * 1000


def _busy_seconds() -> tuple[float, float]:
    """(CPU seconds every core spent working, seconds elapsed) since boot, machine-wide."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return sum(times) - idle, time.monotonic()


def cores_busy(before: tuple[float, float]) -> float:
    """The cores kept busy on average since `before` (a `_busy_seconds()`)."""
    work, at = _busy_seconds()
    return (work - before[0]) / max(at - before[1], 1e-9)


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and of the children it has waited for."""
    t = process.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def server_cpu(server: PostgresServer) -> float:
    """CPU seconds of the server so far: the postmaster, the backends it reaped, the live ones."""
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    total = tree_cpu(postmaster)
    for child in postmaster.children():
        try:
            t = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


SPAN_SQL = (
    "SELECT count(*), sum(CASE WHEN queue = 'successful' THEN 1 ELSE 0 END), "
    "min(started_at), max(ended_at) FROM attempts WHERE task = 't'"
)
BY_RUNNER_SQL = "SELECT runner, count(*) FROM attempts WHERE task = 't' GROUP BY runner"


def read_span(state: str, work: Path) -> Span:
    """The attempts' span of task `t` in a state (a PostgreSQL URL, or the SQLite file of `work`)."""
    if state.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(state) as connection:
            row = connection.execute(SPAN_SQL).fetchone()
            runners = connection.execute(BY_RUNNER_SQL).fetchall()
    else:
        with sqlite3.connect(work / state) as connection:
            row = connection.execute(SPAN_SQL).fetchone()
            runners = connection.execute(BY_RUNNER_SQL).fetchall()
    if row is None or not row[0] or row[3] is None:
        raise RuntimeError(f"no ended attempt of task t in {state}")
    by_runner = {str(name): int(count) for name, count in sorted(runners)}
    return Span(int(row[0]), int(row[1]), float(row[2]), float(row[3]), by_runner)


def pipeline_dir(
    root: Path, name: str, state: str, items: int, concurrency: int, command: str
) -> Path:
    """A fresh pipeline directory: the pipeline and its group file of `items` items."""
    work = root / name
    work.mkdir()
    (work / "pipeline.yaml").write_text(
        PIPELINE.format(state=state, concurrency=concurrency, command=command)
    )
    (work / "items.txt").write_text("".join(f"item-{n}\n" for n in range(items)))
    return work


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _check_ended(span: Span, items: int, where: str) -> None:
    if span.attempts != items or span.successful != items:
        raise RuntimeError(
            f"{where}: {span.attempts} attempts, {span.successful} successful, for {items} items"
        )


def start_serving(work: Path, instance: str) -> subprocess.Popen[bytes]:
    """`runner serve --instance NAME` in `work`, returned once it has logged `runner.started`."""
    err = work / "serve.err"
    with err.open("wb") as sink:
        process = subprocess.Popen(
            runner_argv("serve", "pipeline.yaml", "--instance", instance, "--log-format", "json"),
            cwd=work,
            env=bench_env(),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if '"runner.started"' in err.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"runner serve {instance} exited {process.returncode}: {_tail(err)}")
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(
        f"runner serve {instance} did not start in {READY_TIMEOUT_S:.0f} s: {_tail(err)}"
    )


def serving_cpu(processes: Sequence[tuple[subprocess.Popen[bytes], Path]]) -> float:
    """The CPU seconds of the serving runners and their items so far."""
    return sum(tree_cpu(psutil.Process(process.pid)) for process, _ in processes)


def stop_serving(processes: Sequence[tuple[subprocess.Popen[bytes], Path]]) -> float:
    """SIGTERM every serving runner, then wait for each; a non-zero exit is an error. Returns
    their CPU seconds (with their items') up to the SIGTERM."""
    cpu = serving_cpu(processes)
    for process, _ in processes:
        process.send_signal(signal.SIGTERM)
    failed = []
    for process, work in processes:
        try:
            code = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if code != 0:
            failed.append(f"{work.name} exited {code}: {_tail(work / 'serve.err')}")
    if failed:
        raise RuntimeError("; ".join(failed))
    return cpu


def throughput_once(server: PostgresServer, root: Path, items: int, runners: int) -> Sample:
    """One measurement of `runners` runners on a fresh PostgreSQL state."""
    state = server.new_state()
    label = f"n{runners}-{time.monotonic_ns()}"
    dirs = [
        pipeline_dir(root, f"{label}-r{k}", state, items, PER_RUNNER, SLEEP_ITEM)
        for k in range(1, runners + 1)
    ]
    serving: list[tuple[subprocess.Popen[bytes], Path]] = []
    serving_before = 0.0
    try:
        for k, work in enumerate(dirs[1:], start=2):
            serving.append((start_serving(work, f"r{k}"), work))
        load = os.getloadavg()[0]
        before = _busy_seconds()
        server_before = server_cpu(server)
        serving_before = serving_cpu(serving)
        owner = dirs[0]
        wall = measure(
            runner_argv(
                "run",
                "pipeline.yaml",
                "--task",
                "t",
                "--now",
                "--instance",
                "r1",
                "--log-format",
                "json",
            ),
            cwd=owner,
            stderr_to=owner / "run.err",
        )
        if wall.code != 0:
            raise RuntimeError(f"runner run r1 exited {wall.code}: {_tail(owner / 'run.err')}")
        busy = cores_busy(before)
        server_used = server_cpu(server) - server_before
    finally:
        serving_used = stop_serving(serving) - serving_before
    span = read_span(state, owner)
    _check_ended(span, items, f"{runners} runner(s)")
    server.drop_state(state)
    for work in dirs:
        shutil.rmtree(work, ignore_errors=True)
    return Sample(span, wall, load, busy, wall.cpu_s + serving_used, server_used)


def dispatch_once(
    server: PostgresServer, root: Path, store: str, items: int, concurrency: int
) -> Sample:
    """One `runner run --now` of `items` templated /bin/true on a fresh state of `store`."""
    state = server.new_state() if store == POSTGRESQL else SQLITE_STATE
    work = pipeline_dir(
        root,
        f"{store}-c{concurrency}-{time.monotonic_ns()}",
        state,
        items,
        concurrency,
        TEMPLATED_TRUE,
    )
    load = os.getloadavg()[0]
    before = _busy_seconds()
    server_before = server_cpu(server)
    wall = measure(
        runner_argv("run", "pipeline.yaml", "--now", "--log-format", "json"),
        cwd=work,
        stderr_to=work / "run.err",
    )
    busy = cores_busy(before)
    server_used = server_cpu(server) - server_before
    if wall.code != 0:
        raise RuntimeError(f"runner run on {store} exited {wall.code}: {_tail(work / 'run.err')}")
    span = read_span(state, work)
    _check_ended(span, items, f"dispatch on {store}")
    if store == POSTGRESQL:
        server.drop_state(state)
    shutil.rmtree(work, ignore_errors=True)
    return Sample(span, wall, load, busy, wall.cpu_s, server_used)


POSTGRESQL = "PostgreSQL"
SQLITE = "SQLite"


def loads(samples: Sequence[Sample]) -> str:
    """The loads before each round's run, and the cores busy during it."""
    load = "/".join(f"{s.load:.1f}" for s in samples)
    busy = "/".join(f"{s.busy:.1f}" for s in samples)
    return f"{load}; cores busy {busy} of {os.cpu_count()}"


def throughput_rows(samples: dict[int, list[Sample]], items: int) -> list[Row]:
    """Per N: median items/s from the state, its ratio to one runner (per round), the loads."""
    rows: list[Row] = []
    one = samples.get(1)
    for runners, taken in samples.items():
        rates = [items / s.span.seconds for s in taken]
        spans = [s.span.seconds for s in taken]
        ideal = items * SLEEP_S / (PER_RUNNER * runners)
        value = (
            f"{statistics.median(rates):.1f} items/s (median span {statistics.median(spans):.2f} s,"
            f" rounds {'/'.join(f'{x:.2f}' for x in spans)} s; ideal {ideal:.2f} s)"
        )
        if one is not None and runners != 1:
            ratios = [b.span.seconds / a.span.seconds for b, a in zip(one, taken, strict=True)]
            value += (
                f"; {statistics.median(ratios):.2f}x of 1 runner"
                f" (rounds {'/'.join(f'{r:.2f}' for r in ratios)})"
            )
        rows.append(
            (
                f"{items:,} x sleep 0.1, concurrency {PER_RUNNER} per runner,"
                f" {runners} runner{'s' if runners > 1 else ''} on one PostgreSQL",
                value,
                f"load {loads(taken)}",
            )
        )
        ours, server = cpu_per_item(taken, items)
        best = PER_RUNNER * runners / SLEEP_S
        rows.append(
            (
                f"same, {runners} runner{'s' if runners > 1 else ''}: CPU per item",
                f"{ours + server:.1f} ms (runners and their items {ours:.1f},"
                f" PostgreSQL server {server:.1f}); the ideal {best:.0f} items/s would keep"
                f" {best * (ours + server) / 1000:.1f} cores busy; items per runner by round: "
                + " / ".join(
                    ", ".join(f"{name} {count}" for name, count in s.span.by_runner.items())
                    for s in taken
                ),
                "",
            )
        )
    return rows


def cpu_per_item(samples: Sequence[Sample], items: int) -> tuple[float, float]:
    """Median CPU ms per item: (the runners and their items, the server)."""
    pairs = [s.per_item_ms(items) for s in samples]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def dispatch_rows(samples: dict[str, list[Sample]], items: int, concurrency: int) -> list[Row]:
    """Per store: median ms/item (wall), the attempts' span; PostgreSQL / SQLite per round."""
    rows: list[Row] = []
    for store, taken in samples.items():
        wall = statistics.median(s.wall.wall for s in taken)
        span = statistics.median(s.span.seconds for s in taken)
        value = (
            f"{wall / items * 1000:.2f} ms/item (median wall {wall:.2f} s,"
            f" rounds {'/'.join(f'{s.wall.wall:.2f}' for s in taken)} s;"
            f" attempts' span {span:.2f} s; peak RSS {max(s.wall.rss_mib for s in taken):.0f} MiB;"
            " CPU per item: runner and items {0:.2f} ms, server {1:.2f} ms)".format(
                *cpu_per_item(taken, items)
            )
        )
        if store == POSTGRESQL and SQLITE in samples:
            ratios = [
                p.wall.wall / q.wall.wall for p, q in zip(taken, samples[SQLITE], strict=True)
            ]
            value += (
                f"; PostgreSQL / SQLite {statistics.median(ratios):.2f}x"
                f" (rounds {'/'.join(f'{r:.2f}' for r in ratios)})"
            )
        rows.append(
            (
                f"{items:,} x templated /bin/true, concurrency {concurrency}, one runner: {store}",
                value,
                f"load {loads(taken)}",
            )
        )
    return rows


def collect(
    items: int = 1_600,
    runners: Sequence[int] = (1, 2, 4),
    rounds: int = 3,
    dispatch_items: int = 10_000,
    dispatch_concurrency: Sequence[int] = (2, 8),
    dispatch_rounds: int = 3,
    on_rows: Callable[[list[Row]], None] | None = None,
) -> list[Row]:
    """Every figure as (measure, value, load) rows; `on_rows` is handed each part as it is done."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        return [
            (
                "skipped: scale-out",
                "PostgreSQL is not installed (initdb, pg_ctl; apt-get install postgresql)",
                "",
            )
        ]
    rows: list[Row] = []

    def add(part: list[Row]) -> None:
        rows.extend(part)
        if on_rows is not None:
            on_rows(part)

    server = PostgresServer.start(bin_dir, durable=True)
    try:
        server.prepare()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if items and runners:
                taken: dict[int, list[Sample]] = {n: [] for n in runners}
                for _ in range(rounds):
                    for n in runners:
                        taken[n].append(throughput_once(server, root, items, n))
                add(throughput_rows(taken, items))
            for c in dispatch_concurrency if dispatch_items else ():
                stores: dict[str, list[Sample]] = {SQLITE: [], POSTGRESQL: []}
                for _ in range(dispatch_rounds):
                    for store, samples in stores.items():
                        samples.append(dispatch_once(server, root, store, dispatch_items, c))
                add(dispatch_rows(stores, dispatch_items, c))
    finally:
        server.stop()
    return rows


def main() -> None:
    from tests.perf.run_all import machine

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=1_600, help="items of the throughput task")
    parser.add_argument(
        "--runners", type=int, nargs="*", default=[1, 2, 4], help="runner counts (none: skip)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds")
    parser.add_argument(
        "--dispatch-items", type=int, default=10_000, help="items per dispatch run (0: skip)"
    )
    parser.add_argument("--dispatch-concurrency", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--dispatch-rounds", type=int, default=3)
    args = parser.parse_args()
    rows = collect(
        items=args.items,
        runners=args.runners,
        rounds=args.rounds,
        dispatch_items=args.dispatch_items,
        dispatch_concurrency=args.dispatch_concurrency,
        dispatch_rounds=args.dispatch_rounds,
        on_rows=print_progress,
    )
    print(f"machine: {machine()}\n")
    print(table(rows, ("measure", "value", "1-min load at each run's start; cores busy")))


if __name__ == "__main__":
    main()
