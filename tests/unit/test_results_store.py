"""The state's results: metrics per attempt, item and task, the report rows, and the migration
that adds `attempt_metrics` to a state file written before it (its metric events backfilled)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.domain import queues as q
from runner.state import AttemptEnd, AttemptStart, Checkpoint, RunRow, StateStore, open_store
from runner.state.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

T0 = 1_800_000_000.0


def run(store: StateStore, run_id: str, at: float) -> None:
    store.begin_run(
        RunRow(run_id, "t", "default", "now", None, None, at, None, "items", "running", "h", ""),
        recurring=True,
    )


def attempt(
    store: StateStore,
    item: str,
    number: int,
    at: float,
    events: list[Checkpoint],
    *,
    queue: str = q.SUCCESSFUL,
) -> int:
    (attempt_id,) = store.start_attempts(
        [AttemptStart("t", item, number, "r1", "default", "h", at, "")]
    )
    end = AttemptEnd(attempt_id, "t", item, "ok", 0, None, None, queue, None, 0, at + 2, 2.0)
    store.finish_attempts([end], [(attempt_id, e, at + 1) for e in events])
    return attempt_id


def seeded(path: Path) -> tuple[StateStore, list[int]]:
    store = open_store(path)
    store.upsert_task("t", site="default", config_hash="c", modified_by="me", now=T0)
    store.sync_members("t", [(i, "{}", "") for i in ("a", "b", "c")], now=T0)
    run(store, "r1", T0)
    metric = Checkpoint("metric", '{"bytes": 100, "note": "x"}')
    ids = [
        attempt(store, "a", 1, T0 + 10, [metric, Checkpoint("metric", '{"bytes": 150}')]),
        attempt(store, "a", 2, T0 + 20, [Checkpoint("metric", '{"bytes": 50, "files": 3}')]),
        attempt(
            store,
            "b",
            1,
            T0 + 30,
            [Checkpoint("metric", '{"bytes": 7}', from_output=True)],
            queue=q.AWAITING_INTERVENTION,
        ),
    ]
    return store, ids


def test_metrics_per_attempt_item_and_task(tmp_path: Path) -> None:
    """An attempt keeps the last value per name (numbers only); items and tasks add them up."""
    store, (a1, a2, b1) = seeded(tmp_path / "s.db")
    with store:
        assert {a1: {"bytes": 150.0}, a2: {"bytes": 50.0, "files": 3.0}, b1: {"bytes": 7.0}} == (
            store.metrics_of_attempts([a1, a2, b1])
        )
        assert {"a": {"bytes": 200.0, "files": 3.0}, "b": {"bytes": 7.0}} == store.metrics_of_items(
            "t", ["a", "b", "c"]
        )
        assert {"bytes": 207.0, "files": 3.0} == store.metrics_of_task("t")
        (b_row,) = [a for a in store.attempts_of("t", "b")]
        assert (1, 0) == (b_row.checkpoints, b_row.events_read)  # a rule's event is no file line


def test_item_results_stream_in_id_order(tmp_path: Path) -> None:
    store, _ = seeded(tmp_path / "s.db")
    with store:
        store.move_item("t", "b", to_queue=q.SUCCESSFUL, by="op", reason="by hand", now=T0 + 40)
        rows = list(store.item_results("t"))
    assert ["a", "b", "c"] == [r.item_id for r in rows]
    a, b, c = rows
    assert (2, T0 + 10, T0 + 20, 4.0, T0 + 22) == (
        a.attempts,
        a.first_start,
        a.last_start,
        a.duration_s,
        a.last_end,
    )
    assert {"bytes": 200.0, "files": 3.0} == a.metrics
    assert (q.SUCCESSFUL, q.SUCCESSFUL, T0 + 40) == (b.queue, b.last_move_to, b.last_move_applied)
    assert (0, None, {}, q.UNATTEMPTED) == (c.attempts, c.first_start, c.metrics, c.queue)


def test_a_state_file_of_version_1_migrates_with_its_metrics(tmp_path: Path) -> None:
    """The metric events recorded before the table existed fill it: the last value per name."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute(
        "INSERT INTO attempts (id, task, item_id, run_id, site, number, definition_hash, "
        "started_at) VALUES (1, 't', 'a', 'r', 'default', 1, 'h', 0)"
    )
    events = ['{"rows": 1}', '{"rows": 5, "name": "x"}', "not json", "[1, 2]", '{"t": 0.5}']
    db.executemany(
        "INSERT INTO events (attempt_id, kind, value, at) VALUES (1, 'metric', ?, 0)",
        [(e,) for e in events],
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with open_store(path) as store:
        assert {1: {"rows": 5.0, "t": 0.5}} == store.metrics_of_attempts([1])
    check = sqlite3.connect(path)
    assert SCHEMA_VERSION == check.execute("PRAGMA user_version").fetchone()[0]
    check.close()
