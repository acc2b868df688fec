"""A state file an older runner wrote (schema 7: one `workers` row per site): read by the
operators' verbs before any runner upgraded it, then upgraded by the next runner."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.state import open_store
from runner.state.sqlite.migrations import MIGRATIONS


def _schema_7(path: Path) -> None:
    db = sqlite3.connect(path)
    for statements in MIGRATIONS[:7]:
        for statement in statements:
            db.execute(statement)
    db.execute(
        "INSERT INTO workers VALUES ('default', 'offline', 4242, 'old-host', 1.0, 2.0, 7, 1.5)"
    )
    db.execute(
        "INSERT INTO runs (id, task, site, trigger, started_at, phase, status, definition_hash) "
        "VALUES ('r1', 't', 'default', 'now', 1.0, 'done', 'ok', 'h')"
    )
    db.execute(
        "INSERT INTO attempts (id, task, item_id, run_id, site, number, definition_hash, "
        "started_at) VALUES (1, 't', 'a', 'r1', 'default', 1, 'h', 1.0)"
    )
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()


def test_an_older_state_reads_as_upgraded_and_the_next_writer_upgrades_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _schema_7(path)
    before = path.read_bytes()
    with open_store(path, readonly=True) as store:
        (worker,) = store.workers()
        assert ("old-host:4242", "old-host", 7) == (worker.name, worker.host, worker.items_done)
        assert [""] == [a.runner for a in store.attempts_of("t", "a")]
        assert "" == store.runs_of("t", limit=None)[0].owner
    assert before == path.read_bytes()  # reading changed nothing
    with open_store(path) as store:
        assert ["old-host:4242"] == [w.name for w in store.workers()]
        version = store.connection.execute("PRAGMA user_version").fetchone()[0]
    assert len(MIGRATIONS) == version
