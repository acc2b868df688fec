"""Benchmark: `runner serve` with 1,000 tasks: CPU while idle and on minute fires, fire-to-start delay.

Two phases, each a fresh `runner serve` on the real clock for `--minutes` minutes:

- idle: 1,000 tasks on a schedule that does not fire during the measurement; the runner only
  sleeps, looks at its files every 2 s and beats every 5 s;
- minute fires: 1,000 tasks on `* * * * *`, each run with `--items` items of /bin/true (0: runs
  with an empty group: group sync, before/after bookkeeping, no process).

CPU is the serve process's user+system time (and its children's) over the phase; the delay is
`run.started`'s `ts` minus its `fire_time`, from the JSON log. Reports; asserts nothing. Usage:

    python -m tests.perf.bench_serve [--minutes 5] [--tasks 1000] [--items 0]
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

from tests.perf._measure import Row, table

SETTINGS = "version: 1\nsettings: {state: .runner/state.db, logs: .runner/logs, concurrency: 8}\n"


def write_pipeline(work: Path, *, tasks: int, cron: str, items: int) -> None:
    """A pipeline of `tasks` tasks on `cron`, each with `items` /bin/true items."""
    members = "[" + ", ".join(f"i{n}" for n in range(items)) + "]"
    lines = [
        SETTINGS,
        f'schedules:\n  s: {{cron: "{cron}"}}\n',
        f"groups:\n  g: {{members: {members}}}\n",
        "definitions:\n  d: {command: [/bin/true]}\n",
        "tasks:\n",
        *(f"  task-{n:04d}: {{definition: d, group: g, schedule: s}}\n" for n in range(tasks)),
    ]
    (work / "pipeline.yaml").write_text("".join(lines))


def _ready(work: Path) -> bool:
    db = work / ".runner" / "state.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return bool(conn.execute("SELECT count(*) FROM workers").fetchone()[0] > 0)
    except sqlite3.Error:
        return False


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def serve_phase(work: Path, minutes: float) -> tuple[float, float, list[float]]:
    """Run serve for `minutes`; (CPU seconds, wall seconds, fire->run.started delays)."""
    with (work / "serve.stderr").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.serve", "pipeline.yaml", "--log-format", "json"],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    pause = threading.Event()
    try:
        while not _ready(work):
            if proc.poll() is not None:
                raise SystemExit((work / "serve.stderr").read_text()[-2000:])
            pause.wait(0.1)
        watched = psutil.Process(proc.pid)
        start_cpu, start_wall = _cpu(watched), time.monotonic()
        pause.wait(minutes * 60)
        cpu, wall = _cpu(watched) - start_cpu, time.monotonic() - start_wall
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    delays: list[float] = []
    for path in sorted((work / ".runner" / "logs").glob("runner-*.jsonl")):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "run.started" and event.get("fire_time"):
                started = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
                fired = datetime.fromisoformat(event["fire_time"].replace("Z", "+00:00"))
                delays.append((started - fired).total_seconds())
    return cpu, wall, delays


def _quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@dataclass(frozen=True)
class Phase:
    """What one serve phase measured."""

    name: str
    tasks: int
    wall: float
    cpu: float
    delays: list[float]

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu / self.wall


def run_phases(*, tasks: int, minutes: float, items: int) -> list[Phase]:
    """The idle phase, then the minute-fires phase, each on a fresh serve."""
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = (("idle (no fire due)", "0 0 1 1 *", 0), ("minute fires", "* * * * *", items))
        for name, cron, per_task in plan:
            work = Path(tmp) / name.split()[0]
            work.mkdir()
            write_pipeline(work, tasks=tasks, cron=cron, items=per_task)
            cpu, wall, delays = serve_phase(work, minutes)
            phases.append(Phase(name, tasks, wall, cpu, delays))
    return phases


def collect(tasks: int = 1000, minutes: float = 5.0, items: int = 0) -> list[Row]:
    """(measure, value, target) rows for tests.perf.run_all."""
    idle, firing = run_phases(tasks=tasks, minutes=minutes, items=items)
    delays = firing.delays
    spread = (
        f"p50 {_quantile(delays, 0.5):.2f} s, p95 {_quantile(delays, 0.95):.2f} s, "
        f"max {max(delays):.2f} s ({len(delays):,} runs)"
        if delays
        else "no run started"
    )
    return [
        (f"`serve`, {tasks:,} tasks, idle: CPU", f"{idle.cpu_percent:.2f}% of a core", "< 2%"),
        (
            f"`serve`, {tasks:,} tasks on minute fires: CPU",
            f"{firing.cpu_percent:.2f}% of a core",
            "",
        ),
        (f"`serve`, {tasks:,} tasks on minute fires: fire to run.started", spread, "< 1 s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--items", type=int, default=0, help="items per task in the firing phase")
    args = parser.parse_args()
    rows = []
    for phase in run_phases(tasks=args.tasks, minutes=args.minutes, items=args.items):
        delays = phase.delays
        rows.append(
            (
                phase.name,
                f"{phase.tasks:,}",
                f"{phase.wall:.0f}",
                f"{phase.cpu:.2f}",
                f"{phase.cpu_percent:.2f}",
                f"{len(delays):,}",
                f"{min(delays):.3f}" if delays else "-",
                f"{_quantile(delays, 0.5):.3f}" if delays else "-",
                f"{_quantile(delays, 0.95):.3f}" if delays else "-",
                f"{max(delays):.3f}" if delays else "-",
            )
        )
    header = (
        "phase",
        "tasks",
        "wall s",
        "CPU s",
        "CPU % of a core",
        "runs started",
        "delay min s",
        "delay p50 s",
        "delay p95 s",
        "delay max s",
    )
    print(table(rows, header))
    print("\ntargets: idle CPU < 2% of one core; fire -> run.started delay < 1 s")


if __name__ == "__main__":
    main()
