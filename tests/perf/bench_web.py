"""Benchmark: the console's pages on a big state file.

Builds the state of bench_operator (N items of one task, default 100,000, and M attempts,
default 1,000,000, inserted with SQL after StateStore made the schema), starts a real
`runner web` on a free loopback port, requests each page a few times to warm up, then
REPEAT times more and reports the median and the slowest response time (the whole request:
connect, render, read), with the machine's load average. Asserts nothing. Usage:

    python -m tests.perf.bench_web [--items 100000] [--attempts 1000000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from tests.perf._measure import Row, table
from tests.perf.bench_operator import PIPELINE, TASK, _item_id, build

WARM_UP = 3
GOAL_MS = 100
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pages(items: int) -> list[tuple[str, str]]:
    """(label, path) of each page measured."""
    one = quote(_item_id(0))
    return [
        ("overview", "/"),
        ("overview fragment (polled every 5 s)", "/live/overview"),
        ("items: category error, first page of 100", f"/items?task={TASK}&category=error"),
        ("items: status #001, first page of 100", f"/items?task={TASK}&status=%23001"),
        ("items: text filter (id or last error), first page", f"/items?task={TASK}&match=mx03"),
        ("items: every queue, page at offset 90%", f"/items?task={TASK}&offset={items * 9 // 10}"),
        ("item: explain, history, output", f"/item?task={TASK}&id={one}"),
        ("runs", f"/runs?task={TASK}"),
    ]


def _get(url: str) -> float:
    started = time.perf_counter()
    with NO_PROXY.open(url, timeout=60) as response:
        response.read()
        assert response.status == 200, url
    return time.perf_counter() - started


def timings(items: int, attempts: int, repeat: int) -> tuple[list[tuple[str, float, float]], float]:
    """(label, median s, slowest s) per page, and the build time of the state."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.yaml").write_text(PIPELINE)
        started = time.perf_counter()
        build(root / ".runner" / "state.db", items, attempts, time.time())
        built = time.perf_counter() - started
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "web", "pipeline.yaml", "--listen", "127.0.0.1:0"],
            cwd=root,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stderr is not None
            found = re.search(r"on (http://\S+)/", proc.stderr.readline())
            assert found, "the console did not start"
            base = found.group(1)
            rows = []
            for label, path in pages(items):
                for _ in range(WARM_UP):
                    _get(base + path)
                times = [_get(base + path) for _ in range(repeat)]
                rows.append((label, statistics.median(times), max(times)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if proc.stderr is not None:
                proc.stderr.close()
    return rows, built


def collect(items: int = 100_000, attempts: int = 1_000_000, repeat: int = 20) -> list[Row]:
    """Summary rows: each page's median response time on the big state."""
    rows, _ = timings(items, attempts, repeat)
    load = os.getloadavg()[0]
    return [
        (
            f"{label} on {items:,} items / {attempts:,} attempts (load {load:.1f})",
            f"{median * 1000:.0f} ms",
            f"< {GOAL_MS} ms",
        )
        for label, median, _slowest in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    before = os.getloadavg()
    rows, built = timings(args.items, args.attempts, args.repeat)
    after = os.getloadavg()
    print(
        f"state: {args.items:,} items, {args.attempts:,} attempts of one task (built in "
        f"{built:.1f} s); {args.repeat} requests per page after {WARM_UP} to warm up; "
        f"load average {before[0]:.1f} before, {after[0]:.1f} after, on {os.cpu_count()} cores"
    )
    print(
        table(
            [(label, f"{m * 1000:.0f}", f"{s * 1000:.0f}") for label, m, s in rows],
            ("page", "median ms", "slowest ms"),
        )
    )


if __name__ == "__main__":
    main()
