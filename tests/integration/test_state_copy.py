"""`runner state copy FROM TO`: a SQLite state into PostgreSQL and back, and its refusals."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runner import exitcodes
from runner.state import DatabaseUrl, open_store
from runner.system.lock import RunnerLock, lock_path_for
from tests.integration.test_operator_cli import ITEM, PIPELINE
from tests.support.postgres import PostgresServer
from tests.support.workspace import Workspace, settings

pytestmark = pytest.mark.sqlite_only  # FROM is the workspace's SQLite file; TO a database


def _ran(ws: Workspace) -> Path:
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(4) + textwrap.dedent(PIPELINE))
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t", "--task", "servers")
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    moved = ws.runner("move", "pipeline.yaml", "--task", "t", "--to", "trash", "exit-7")
    assert exitcodes.OK == moved.returncode, moved.stderr
    return ws.state_path


def _views(ws: Workspace) -> list[object]:
    """What the operator verbs show of the state (the worker's heartbeat aside)."""
    shown: list[object] = []
    for args in (
        ("status",),
        ("items", "--task", "t"),
        ("items", "--task", "servers"),
        ("history", "--task", "t", "exit-3"),
        ("history", "--task", "t", "exit-7"),
        ("runs", "--task", "t"),
    ):
        result = ws.runner(args[0], "pipeline.yaml", *args[1:], "--json")
        assert exitcodes.OK == result.returncode, result.stderr
        value = json.loads(result.stdout)
        if args == ("status",):
            value.pop("workers")
        shown.append(value)
    return shown


def test_sqlite_into_postgresql_and_back_keeps_everything(
    ws: Workspace, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    state = _ran(ws)
    before = _views(ws)
    url = postgres_server.new_state()
    try:
        copied = ws.runner("state", "copy", str(state), url)
        assert exitcodes.OK == copied.returncode, copied.stderr
        assert "the counts agree" in copied.stdout
        with open_store(state, readonly=True) as source:
            counts = source.row_counts()
        assert counts["attempts"] >= 7 and counts["moves"] == 1
        with open_store(DatabaseUrl(url, tmp_path / "side"), readonly=True) as target:
            assert counts == target.row_counts()

        on_postgresql = Workspace(ws.root, state=url)
        ws.write(
            "pipeline.yaml",
            ws.root.joinpath("pipeline.yaml").read_text().replace(".runner/state.db", url),
        )
        assert before == _views(on_postgresql)
        again = ws.runner("move", "pipeline.yaml", "--task", "t", "--to", "run-now", "exit-9")
        assert exitcodes.OK == again.returncode, again.stderr  # new ids follow the copied ones

        back = tmp_path / "back.db"
        returned = ws.runner("state", "copy", url, str(back), "--json")
        assert exitcodes.OK == returned.returncode, returned.stderr
        rows = json.loads(returned.stdout)["rows"]
        assert {**counts, "moves": 2} == rows
        with open_store(back, readonly=True) as copy:
            assert 1 == copy.queue_counts("t").get("run-now")
    finally:
        postgres_server.drop_state(url)


def test_refusals(ws: Workspace, postgres_server: PostgresServer, tmp_path: Path) -> None:
    state = _ran(ws)
    url = postgres_server.new_state()
    try:
        with RunnerLock(lock_path_for(state, "default")):
            held = ws.runner("state", "copy", str(state), url)
        assert exitcodes.LOCKED == held.returncode, held.stderr
        assert "holds the lock" in held.stderr

        first = ws.runner("state", "copy", str(state), url)
        assert exitcodes.OK == first.returncode, first.stderr
        second = ws.runner("state", "copy", str(state), url)
        assert exitcodes.RUN_FAILED == second.returncode
        assert "is not empty" in second.stderr

        exists = ws.runner("state", "copy", url, str(state))
        assert exitcodes.RUN_FAILED == exists.returncode
        assert "exists; copy into a new file" in exists.stderr

        secret = ws.runner("state", "copy", str(state), "postgresql://u:hunter2@db/x")
        assert exitcodes.BAD_CONFIG == secret.returncode
        assert "carries a password" in secret.stderr
        assert "hunter2" not in secret.stderr + secret.stdout

        nothing = ws.runner("state", "copy", str(tmp_path / "none.db"), str(tmp_path / "n2.db"))
        assert exitcodes.RUN_FAILED == nothing.returncode
        assert "nothing to copy" in nothing.stderr
    finally:
        postgres_server.drop_state(url)
