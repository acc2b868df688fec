"""Benchmark: how long a runner takes to take over a 100,000-item run killed with SIGKILL.

A run of N items (each `sleep 600`) at concurrency 8 is killed with SIGKILL once its first
attempts are running. A new `runner run` then kills the orphaned processes (marker sweep),
records their attempts `interrupted` (those never launched are withdrawn), re-syncs the
group only if its file changed (here it did not) and resumes the run. Reported:
the time from the new runner's start to `run.resumed`, and to its first `item.started`.
Reports; asserts nothing. Usage:

    python -m tests.perf.bench_resume [--items 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.perf._measure import Row, bench_env, runner_argv, table

PIPELINE = """\
version: 1
settings: {state: .runner/state.db, logs: .runner/logs, concurrency: 8}
groups:
  g: {file: items.txt}
definitions:
  d: {command: [sleep, "600"]}
tasks:
  t: {definition: d, group: g, mode: once}
"""


def _wait_for(
    path: Path, needle: str, count: int, timeout: float, start: float | None = None
) -> float:
    """Seconds from `start` (default: now) until `path` holds `count` lines containing `needle`."""
    start = time.monotonic() if start is None else start
    while time.monotonic() - start < timeout:
        if path.exists() and path.read_text(errors="replace").count(needle) >= count:
            return time.monotonic() - start
        time.sleep(0.01)
    raise TimeoutError(f"{needle} x{count} not seen in {path} within {timeout}s")


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    print(table(collect(args.items), ("measure", "value", "target")))


def collect(items: int = 100_000) -> list[Row]:
    """Kill a run of `items` items, then time the take-over."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.yaml").write_text(PIPELINE)
        group_file = root / "items.txt"
        group_file.write_text("".join(f"item-{n:06d}\n" for n in range(items)))
        # A group file is usually written well before a run reads it (one written within the
        # last 2 s is never trusted unchanged: runner.groupsource).
        an_hour_ago = time.time() - 3600
        os.utime(group_file, (an_hour_ago, an_hour_ago))
        first_err = root / "first.err"
        with first_err.open("w") as err:
            first = subprocess.Popen(
                runner_argv("run", "pipeline.yaml", "--now", "--log-format", "json"),
                cwd=root,
                env=bench_env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        _wait_for(first_err, '"item.started"', 8, timeout=600)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        second_err = root / "second.err"
        started = time.monotonic()
        with second_err.open("w") as err:
            second = subprocess.Popen(
                runner_argv("run", "pipeline.yaml", "--log-format", "json"),
                cwd=root,
                env=bench_env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            resumed = _wait_for(second_err, '"run.resumed"', 1, timeout=600, start=started)
            first_item = _wait_for(second_err, '"item.started"', 1, timeout=600, start=started)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=120)
        events = _events(second_err)
        interrupted = sum(1 for e in events if e.get("event") == "attempt.interrupted")
        withdrawn = sum(1 for e in events if e.get("event") == "attempt.withdrawn")
        unchanged = any(e.get("event") == "group.unchanged" for e in events)
        killed = sum(
            int(e.get("processes_killed", 0) or 0)
            for e in events
            if e.get("event") == "attempt.interrupted"
        )
    return [
        (
            f"resume after SIGKILL of a {items:,}-item run: start to first launch",
            f"{first_item:.2f} s ({interrupted} attempts interrupted, {killed} orphans killed, "
            f"{withdrawn} never launched withdrawn; group "
            f"{'unchanged, not read again' if unchanged else 'read and synced again'})",
            "",
        ),
        (
            f"resume after SIGKILL of a {items:,}-item run: start to run.resumed",
            f"{resumed:.2f} s",
            "",
        ),
    ]


if __name__ == "__main__":
    main()
