"""The store's tallies for metrics and run summaries, on a real SQLite file: equal to counting
the rows one by one, read from the index alone, and there after migrating an older file."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from runner.state import open_store
from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

BOUNDS = (1.0, 5.0, 60.0)

ATTEMPT = (
    "INSERT INTO attempts (task, item_id, run_id, site, number, definition_hash, started_at, "
    "ended_at, status, queue, duration_s) VALUES (?, ?, ?, 'default', 1, 'h', 0, ?, ?, ?, ?)"
)


def fill(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    db.executemany(ATTEMPT, rows)
    db.commit()


def test_tallies_equal_counting_each_attempt(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    open_store(state).close()
    rng = random.Random(7)
    rows: list[tuple[object, ...]] = []
    for n in range(500):
        status = rng.choice(["ok", "failed", "#001", None])
        ended = None if status is None else 10.0
        duration = None if status is None else rng.choice([0.5, 1.0, 3.0, 5.0, 59.9, 600.0])
        rows.append((rng.choice(["a", "b"]), f"i{n}", "r1", ended, status, "retry", duration))
    with sqlite3.connect(state) as db:
        fill(db, rows)
    store = open_store(state, readonly=True)
    try:
        tallies = store.attempt_tallies(BOUNDS)
    finally:
        store.close()
    expected = {}
    for task, _item, _run, _ended, status, _queue, duration in rows:
        if status is None:
            continue
        entry = expected.setdefault((task, status), [0, 0.0, [0] * len(BOUNDS)])
        entry[0] += 1
        entry[1] += duration
        for i, bound in enumerate(BOUNDS):
            entry[2][i] += duration <= bound
    got = {
        (t.task, t.status): [t.count, round(t.duration_sum, 6), [n for _, n in t.buckets]]
        for t in tallies
    }
    assert {k: [v[0], round(v[1], 6), v[2]] for k, v in expected.items()} == got
    assert all(tuple(b for b, _ in t.buckets) == BOUNDS for t in tallies)


def test_tallies_read_the_index_not_the_rows(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    open_store(state).close()
    with sqlite3.connect(state) as db:
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT task, status, count(*), sum(duration_s), "
                "sum(duration_s <= 1.0) FROM attempts WHERE status IS NOT NULL "
                "GROUP BY task, status ORDER BY task, status"
            )
        )
    assert "COVERING INDEX attempts_status" in plan


def test_run_errors_lists_latest_attempts_in_error_queues(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    open_store(state).close()
    with sqlite3.connect(state) as db:
        fill(
            db,
            [
                ("t", "x", "r1", 1.0, "#001", "retry", 1.0),
                ("t", "x", "r1", 2.0, "failed", "awaiting-intervention", 1.0),
                ("t", "y", "r1", 3.0, "corrupt", "corrupt", 1.0),
                ("t", "z", "r1", 4.0, "failed", "awaiting-intervention", 1.0),
                ("t", "z", "r1", 5.0, "ok", "successful", 1.0),  # its latest attempt succeeded
                ("t", "w", "r2", 6.0, "failed", "awaiting-intervention", 1.0),  # another run
            ],
        )
    store = open_store(state, readonly=True)
    try:
        errors = store.run_errors("r1", limit=1)
        assert 2 == errors.total == store.run_error_items("r1")
        assert (("x", "awaiting-intervention", "failed"),) == errors.items
        assert ["x", "y"] == [i for i, _, _ in store.run_errors("r1", limit=10).items]
    finally:
        store.close()


def test_a_state_file_of_the_first_schema_migrates(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with sqlite3.connect(state) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        fill(db, [("t", "x", "r1", 1.0, "ok", "successful", 2.0)])
    store = open_store(state)
    try:
        (tally,) = store.attempt_tallies(BOUNDS)
        assert ("t", "ok", 1, ((1.0, 0), (5.0, 1), (60.0, 1))) == (
            tally.task,
            tally.status,
            tally.count,
            tally.buckets,
        )
    finally:
        store.close()
    with sqlite3.connect(state) as db:
        assert SCHEMA_VERSION == db.execute("PRAGMA user_version").fetchone()[0]
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"attempts_status", "attempts_run"} <= names
