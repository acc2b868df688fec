"""Benchmark: `runner prune --yes` on a big state while another writer keeps committing.

Builds the state of bench_operator (N items of one task, M attempts spread over 10 runs, the
last one open), sets `retention.runs: 1d`, then times `runner prune` (the dry run) and
`runner prune --yes` as CLI subprocesses. During `--yes` a thread of this process commits a
small write transaction (`BEGIN IMMEDIATE`, as the engine does) every 20 ms and records how
long each waited for the lock: the figure that says whether the batches keep a working
runner waiting. Reports; asserts nothing about time. Usage:

    python -m tests.perf.bench_prune [--items 100000] [--attempts 1000000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from tests.perf._measure import Row, measure, runner_argv, table
from tests.perf.bench_operator import build

PIPELINE = """\
version: 1
settings:
  state: .runner/state.db
  logs: .runner/logs
  retention: {runs: 1d}
groups:
  big: {members: [placeholder]}
definitions:
  d: {command: [/bin/true, "{{ item.id }}"]}
tasks:
  t: {definition: d, group: big}
"""


class Writer(threading.Thread):
    """Commits one small write every 20 ms; keeps the longest wait for the write lock."""

    def __init__(self, state: Path) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.stop = threading.Event()
        self.waits: list[float] = []

    def run(self) -> None:
        db = sqlite3.connect(self.state, isolation_level=None, timeout=60)
        db.execute("PRAGMA synchronous = FULL")
        while not self.stop.wait(0.02):
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE workers SET heartbeat = ?", (time.time(),))
            db.execute("COMMIT")
            self.waits.append(time.perf_counter() - started)
        db.close()


def timings(items: int, attempts: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.yaml").write_text(PIPELINE)
        state = root / ".runner" / "state.db"
        build(state, items, attempts, time.time())
        err = root / "err.txt"
        dry = measure(runner_argv("prune", "pipeline.yaml"), cwd=root, stderr_to=err)
        assert dry.code == 0, err.read_text()
        writer = Writer(state)
        writer.start()
        done = measure(runner_argv("prune", "pipeline.yaml", "--yes"), cwd=root, stderr_to=err)
        writer.stop.set()
        writer.join()
        assert done.code == 0, err.read_text()
        with sqlite3.connect(state) as db:
            left = int(db.execute("SELECT count(*) FROM attempts").fetchone()[0])
        log = "".join(p.read_text() for p in (root / ".runner" / "logs").glob("runner-*.jsonl"))
        event = next(json.loads(line) for line in log.splitlines() if "prune.done" in line)
        waits = sorted(writer.waits)
        return {
            "dry run": f"{dry.wall:.1f} s, {dry.rss_mib:.0f} MiB",
            "prune --yes": f"{done.wall:.1f} s, {done.rss_mib:.0f} MiB",
            "removed": f"{event['attempts']:,} attempts, {event['runs']:,} runs; {left:,} left",
            "writer wait (median / max)": (
                f"{waits[len(waits) // 2] * 1000:.1f} ms / {waits[-1] * 1000:.0f} ms "
                f"over {len(waits)} commits"
            ),
        }


def collect(items: int = 100_000, attempts: int = 1_000_000) -> list[Row]:
    """Summary rows for run_all."""
    return [
        (f"prune {label}, {items:,} items / {attempts:,} attempts", value, "")
        for label, value in timings(items, attempts).items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    args = parser.parse_args()
    figures = timings(args.items, args.attempts)
    print(table(list(figures.items()), ("measure", "value")))


if __name__ == "__main__":
    main()
