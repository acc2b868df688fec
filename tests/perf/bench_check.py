"""Benchmark: what checking the state file costs on 100,000 items and 1,000,000 attempts.

The three depths of runner.state.sqlite.health: `schema` (every open), `quick`
(`PRAGMA quick_check`: every open for writing) and `full` (`PRAGMA integrity_check`: the
start of `runner run`/`serve`, and `runner state check`). Best of 3, warm page cache.
Reports; asserts nothing. Usage:

    python -m tests.perf.bench_check [--items 100000] [--attempts 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from runner.state import check_sqlite_file
from tests.perf._measure import Row, table
from tests.perf.bench_operator import build


def collect(items: int = 100_000, attempts: int = 1_000_000) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.db"
        build(state, items, attempts, time.time())
        size = state.stat().st_size / 2**20
        scale = f"{items:,} items / {attempts:,} attempts ({size:.0f} MiB)"
        rows: list[Row] = []
        for depth, target in (("schema", "< 0.01 s"), ("quick", ""), ("full", "")):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                assert [] == check_sqlite_file(state, depth)
                best = min(best, time.perf_counter() - started)
            rows.append((f"check `{depth}` on {scale}", f"{best:.3f} s", target))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    args = parser.parse_args()
    print(table(collect(args.items, args.attempts), ("measure", "value", "target")))


if __name__ == "__main__":
    main()
