"""Benchmark: the operators' reading verbs on a big state file.

Builds a state holding N items of one task (default 100,000) and M attempts (default
1,000,000), inserted with SQL in big transactions after StateStore created the schema, then
times `runner status`, `runner items --queue awaiting-intervention` (the first page, and every
item as JSON), `runner metrics`, `runner explain` (an item in an error queue; a waiting item
in an open run, which counts the items ahead of it) and `runner history` of one item, each as
a CLI subprocess. Reports wall time and peak RSS; asserts nothing. Usage:

    python -m tests.perf.bench_operator [--items 100000] [--attempts 1000000] [--extra-index]

`--extra-index` also creates the indexes listed in EXTRA_INDEXES first (to measure one the
schema does not have yet).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from runner.state import open_store
from tests.perf._measure import Row, measure, runner_argv, table

PIPELINE = """\
version: 1
settings: {state: .runner/state.db, logs: .runner/logs, concurrency: 8}
groups:
  big: {members: [placeholder]}
definitions:
  d: {command: [/bin/true, "{{ item.id }}"]}
policies:
  p: {max_retries: 3}
tasks:
  t: {definition: d, group: big, policy: p, concurrency: 4}
"""

EXTRA_INDEXES: tuple[str, ...] = ()
"""Indexes to try on top of the schema (none is needed: see the figures)."""

TASK = "t"
RUNS = 10
# Share of the items in each queue (the rest is successful).
SHARES = {
    "awaiting-intervention": 0.05,
    "corrupt": 0.02,
    "retry": 0.01,
    "unattempted": 0.01,
    "paused": 0.01,
    "trash": 0.005,
}


def _queue_of(n: int, total: int) -> str:
    edge = 0.0
    for queue, share in SHARES.items():
        edge += share * total
        if n < edge:
            return queue
    return "successful"


def _item_id(n: int) -> str:
    return f"user{n:06d}@example.com"


def build(state: Path, items: int, attempts: int, now: float) -> None:
    """Create the schema through StateStore, then fill it with SQL in big transactions."""
    open_store(state).close()
    db = sqlite3.connect(state, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO tasks (name, site, created, last_modified, last_modified_by, config_hash, "
        "status, sequence, last_run_id) VALUES (?, 'default', ?, ?, 'bench', 'h', 'running', ?, ?)",
        (TASK, now - 86400 * 30, now - 86400, attempts // 2, f"{TASK}@run{RUNS - 1}"),
    )
    db.executemany(
        "INSERT INTO runs (id, task, site, trigger, started_at, ended_at, phase, status, "
        "definition_hash) VALUES (?, ?, 'default', 'now', ?, ?, ?, ?, 'def0')",
        [
            (
                f"{TASK}@run{r}",
                TASK,
                now - 86400 * (RUNS - r),
                None if r == RUNS - 1 else now - 86400 * (RUNS - r) + 3600,
                "items" if r == RUNS - 1 else "done",
                "running" if r == RUNS - 1 else "ok",
            )
            for r in range(RUNS)
        ],
    )

    def item_rows() -> Iterator[tuple[object, ...]]:
        per_item = max(1, attempts // items)
        for n in range(items):
            queue = _queue_of(n, items)
            failed = queue not in ("successful", "unattempted")
            yield (
                TASK,
                _item_id(n),
                queue,
                now - 86400 + n * 1e-3,
                json.dumps({"server": f"mx{n % 7:02d}"}),
                per_item if queue != "unattempted" else 0,
                "#001" if failed else ("ok" if queue == "successful" else None),
                f"#001: exit code 3: server mx{n % 7:02d} is busy" if failed else None,
                now + 60 if queue == "retry" else None,
                now - 3600 + n * 1e-3,
            )

    db.executemany(
        "INSERT INTO items (task, item_id, queue, entered_at, attributes, attempts, last_status, "
        "last_error, retry_at, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        item_rows(),
    )
    db.execute("COMMIT")

    def attempt_rows() -> Iterator[tuple[object, ...]]:
        # Attempts come run by run, item by item, like a real history.
        for a in range(attempts):
            n = a % items
            number = a // items + 1
            run = min(RUNS - 1, (a * RUNS) // attempts)
            start = now - 86400 * (RUNS - run) + (a % items) * 0.01
            ok = _queue_of(n, items) == "successful"
            yield (
                a + 1,
                TASK,
                _item_id(n),
                f"{TASK}@run{run}",
                "default",
                number,
                "def0",
                start,
                start + 1.5,
                "ok" if ok else "#001",
                0 if ok else 3,
                None if ok else "#001: exit code 3: busy",
                "successful" if ok else "retry",
                1.5,
                "",
                a % 3,
            )

    rows = attempt_rows()
    while True:
        chunk = [row for _, row in zip(range(200_000), rows, strict=False)]
        if not chunk:
            break
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO attempts (id, task, item_id, run_id, site, number, definition_hash, "
            "started_at, ended_at, status, exit_code, error, queue, duration_s, output_dir, "
            "checkpoints) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            chunk,
        )
        db.execute("COMMIT")
    db.execute("BEGIN")
    paused = [n for n in range(items) if _queue_of(n, items) == "paused"]
    db.executemany(
        "INSERT INTO moves (task, item_id, at, by, from_queue, to_queue, reason, applied_at) "
        "VALUES (?, ?, ?, 'alice', 'awaiting-intervention', 'paused', 'owner on leave', ?)",
        [(TASK, _item_id(n), now - 600, now - 600) for n in paused],
    )
    db.execute(
        "INSERT INTO workers (site, state, pid, host, started_at, heartbeat, items_done, throughput) "
        "VALUES ('default', 'running', ?, ?, ?, ?, 1000, 120.0)",
        (os.getpid(), socket.gethostname(), now - 3600, time.time() + 600),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--extra-index", action="store_true")
    args = parser.parse_args()
    rows, built = timings(args.items, args.attempts, extra_index=args.extra_index)
    print(
        f"state: {args.items:,} items, {args.attempts:,} attempts of one task "
        f"(built in {built:.1f} s); best of 3 runs"
    )
    print(table(rows, ("command", "wall s", "peak RSS MiB")))


def collect(items: int = 100_000, attempts: int = 1_000_000) -> list[Row]:
    """Summary rows: each operator verb's best wall time on the big state."""
    rows, _ = timings(items, attempts)
    return [
        (f"{label} on {items:,} items / {attempts:,} attempts", f"{wall} s", "< 0.5 s")
        for label, wall, _rss in rows
    ]


def timings(
    items: int, attempts: int, *, extra_index: bool = False
) -> tuple[list[tuple[str, str, str]], float]:
    """Build the state, then time each verb (best of 3): (label, wall, rss) rows and build time."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.yaml").write_text(PIPELINE)
        state = root / ".runner" / "state.db"
        started = time.perf_counter()
        build(state, items, attempts, time.time())
        if extra_index:
            with sqlite3.connect(state) as db:
                for statement in EXTRA_INDEXES:
                    db.execute(statement)
        built = time.perf_counter() - started
        error_item = _item_id(0)
        waiting_item = _item_id(items - 1 if items < 100 else int(items * 0.085))
        verbs = [
            ("status", ["status", "pipeline.yaml"]),
            (
                "items --queue awaiting-intervention",
                ["items", "pipeline.yaml", "--task", TASK, "--queue", "awaiting-intervention"],
            ),
            (
                "items --queue awaiting-intervention --json",
                [
                    "items",
                    "pipeline.yaml",
                    "--task",
                    TASK,
                    "--queue",
                    "awaiting-intervention",
                    "--json",
                ],
            ),
            ("items (first page, every queue)", ["items", "pipeline.yaml", "--task", TASK]),
            ("explain (error queue)", ["explain", "pipeline.yaml", "--task", TASK, error_item]),
            (
                "explain (waiting in an open run)",
                ["explain", "pipeline.yaml", "--task", TASK, waiting_item],
            ),
            ("history of one item", ["history", "pipeline.yaml", "--task", TASK, error_item]),
            ("metrics (the Prometheus exposition)", ["metrics", "pipeline.yaml"]),
            ("validate (the floor: start-up and config)", ["validate", "pipeline.yaml"]),
        ]
        rows = []
        for label, argv in verbs:
            best = None
            for _ in range(3):
                result = measure(runner_argv(*argv), cwd=root, stderr_to=root / "err.txt")
                assert result.code == 0, (root / "err.txt").read_text()
                best = result if best is None or result.wall < best.wall else best
            assert best is not None
            rows.append((f"runner {label}", f"{best.wall:.2f}", f"{best.rss_mib:.0f}"))
    return rows, built


if __name__ == "__main__":
    main()
