"""The SQLite store's defences, on real files: checks, one-row writes, file identity, copies,
recovery of damaged pages, and the errors told apart."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from runner import exitcodes
from runner.cli import main
from runner.errors import (
    LockHeldError,
    StateBusyError,
    StateDamagedError,
    StateError,
    StateGoneError,
    StateReadOnlyError,
)
from runner.state import AttemptStart, check_sqlite_file, open_store, salvage_sqlite_state
from runner.state.sqlite.failures import state_failure, translate
from runner.system.lock import RunnerLock, lock_path_for
from tests.support.damage import empty_index, page_size
from tests.support.workspace import Workspace, settings

IDS = [f"item-{n:04d}" for n in range(400)]


def seeded(path: Path, ids: list[str] = IDS) -> None:
    with open_store(path) as store:
        store.upsert_task("t", site="default", config_hash="", modified_by="t", now=1.0)
        store.sync_members("t", [(i, '{"pad": "' + "x" * 200 + '"}', "") for i in ids], now=1.0)


def start(item: str) -> AttemptStart:
    return AttemptStart("t", item, 1, "r", "default", "h", 2.0, "")


class TestOneRowWrites:
    def test_an_update_that_finds_no_row_stops_instead_of_starting_the_item_again(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "state.db"
        seeded(path, ["a", "b"])
        empty_index(path, "sqlite_autoindex_items_1")
        with open_store(path, check="schema") as store:
            with pytest.raises(StateDamagedError, match="changed 0 row"):
                store.start_attempts([start("a")])
            assert [] == store.open_attempts("default")  # rolled back: nothing recorded

    def test_the_start_check_finds_the_broken_index(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        seeded(path, ["a"])
        empty_index(path, "sqlite_autoindex_items_1")
        with pytest.raises(StateDamagedError, match="sqlite_autoindex_items_1"):
            open_store(path, check="start")
        assert any("sqlite_autoindex_items_1" in p for p in check_sqlite_file(path, "full"))
        assert [] == check_sqlite_file(path, "quick")  # quick_check cannot see it


class TestOpening:
    def test_a_file_that_is_not_a_database_is_damaged_not_an_internal_error(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "state.db"
        path.write_bytes(b"this is not SQLite" * 400)
        with pytest.raises(StateDamagedError, match="runner state recover"):
            open_store(path)
        assert check_sqlite_file(path, "full")

    def test_a_missing_table_is_named(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        seeded(path, ["a"])
        db = sqlite3.connect(path)
        db.execute("DROP TABLE moves")
        db.commit()
        db.close()
        with pytest.raises(StateDamagedError, match="table moves is missing"):
            open_store(path, readonly=True)

    def test_a_non_empty_file_without_tables_is_refused_not_started_anew(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "state.db"
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode = WAL")  # writes the header, as a first open does
        db.close()
        assert path.stat().st_size > 0
        with pytest.raises(StateDamagedError, match="-wal"):
            open_store(path)
        with pytest.raises(StateDamagedError, match="-wal"):
            open_store(path, readonly=True)

    def test_a_new_file_is_created(self, tmp_path: Path) -> None:
        with open_store(tmp_path / "new" / "state.db", check="start") as store:
            assert [] == store.tasks()


class TestFileIdentity:
    def test_a_removed_file_is_written_back_from_the_open_connection(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        seeded(path, ["a", "b"])
        store = open_store(path)
        try:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            with pytest.raises(StateGoneError, match="written back") as caught:
                store.start_attempts([start("a")])
            assert path == caught.value.saved_to
        finally:
            store.close()
        with open_store(path, readonly=True) as back:  # the commit that noticed is kept too
            item = back.item("t", "a")
            assert item is not None and item.running_attempt is not None

    def test_a_replaced_file_is_left_alone_and_the_copy_goes_beside_it(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "state.db"
        seeded(path, ["a"])
        store = open_store(path)
        try:
            path.unlink()
            seeded(path, ["other"])
            with pytest.raises(StateGoneError, match="replaced") as caught:
                store.start_attempts([start("a")])
        finally:
            store.close()
        saved = caught.value.saved_to
        assert saved is not None and saved.name.startswith("state.db.rescued-")
        with open_store(path, readonly=True) as current:
            assert current.item("t", "a") is None and current.item("t", "other") is not None
        with open_store(saved, readonly=True) as rescued:
            assert rescued.item("t", "a") is not None


class TestCopies:
    def test_a_backup_is_a_sound_copy_and_never_overwrites(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        seeded(path)
        target = tmp_path / "backup.db"
        with open_store(path) as store:
            store.copy_to(target)
            with pytest.raises(StateError, match="exists"):
                store.copy_to(target)
        assert [] == check_sqlite_file(target, "full")
        with open_store(target, readonly=True) as copy:
            assert {"unattempted": len(IDS)} == copy.queue_counts("t")

    def test_recovery_keeps_the_rows_on_both_sides_of_an_unreadable_page(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "state.db"
        seeded(path)
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode = DELETE")
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'items'").fetchone()
        db.close()
        size = page_size(path)
        data = bytearray(path.read_bytes())
        interior = (root - 1) * size
        assert data[interior] == 0x05  # the table spans several leaves
        (cells,) = struct.unpack(">H", data[interior + 3 : interior + 5])
        offset = struct.unpack(">H", data[interior + 12 + 2 : interior + 12 + 4])[0]
        (leaf,) = struct.unpack(">I", data[interior + offset : interior + offset + 4])
        data[(leaf - 1) * size : leaf * size] = b"\xff" * size  # the second leaf: garbage
        path.write_bytes(bytes(data))
        assert cells >= 2

        salvage = salvage_sqlite_state(path, tmp_path / "recovered.db")

        items = next(t for t in salvage.tables if t.table == "items")
        assert items.unreadable and 0 < items.kept < len(IDS)
        assert not salvage.complete and [] == salvage.problems_after
        with open_store(salvage.target, readonly=True) as copy:
            kept = {i for i in IDS if copy.item("t", i) is not None}
        assert IDS[0] in kept and IDS[-1] in kept  # both sides of the damage
        assert path.read_bytes() == bytes(data)  # the damaged original is untouched


class TestErrorsToldApart:
    def test_busy_read_only_and_damaged_have_their_own_errors(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        busy = sqlite3.OperationalError("database is locked")
        busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
        readonly = sqlite3.OperationalError("attempt to write a readonly database")
        readonly.sqlite_errorcode = sqlite3.SQLITE_READONLY  # type: ignore[attr-defined]
        corrupt = sqlite3.DatabaseError("database disk image is malformed")
        corrupt.sqlite_errorcode = sqlite3.SQLITE_CORRUPT  # type: ignore[attr-defined]
        assert isinstance(translate(path, busy), StateBusyError)
        assert exitcodes.LOCKED == translate(path, busy).exit_code
        assert isinstance(translate(path, readonly), StateReadOnlyError)
        assert isinstance(translate(path, corrupt), StateDamagedError)
        for error in (translate(path, busy), translate(path, readonly)):
            assert "sound" in str(error) and "recover" not in str(error)

    def test_a_programming_error_stays_a_bug(self) -> None:
        assert state_failure(sqlite3.ProgrammingError("closed")) is None
        assert state_failure(ValueError("x")) is None


class TestStateVerbs:
    def test_recover_is_refused_while_a_runner_holds_the_state(
        self, ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws.write(
            "pipeline.yaml",
            settings(2) + "groups:\n  g: {members: [a]}\ndefinitions:\n  d: {command: ['true']}\n"
            "tasks:\n  t: {definition: d, group: g}\n",
        )
        state = ws.root / ".runner" / "state.db"
        seeded(state, ["a"])
        monkeypatch.chdir(ws.root)
        with RunnerLock(lock_path_for(state, "default")):
            with pytest.raises(LockHeldError):
                from runner import api, operations

                operations.recover_state(api.load("pipeline.yaml"))
            assert exitcodes.LOCKED == main(["state", "recover", "pipeline.yaml"])
        assert "holds the lock" in capsys.readouterr().err
        assert [] == list(state.parent.glob("state.db.recovered-*"))

    def test_backup_check_and_their_refusals(
        self, ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws.write(
            "pipeline.yaml",
            settings(2) + "groups:\n  g: {members: [a]}\ndefinitions:\n  d: {command: ['true']}\n"
            "tasks:\n  t: {definition: d, group: g}\n",
        )
        monkeypatch.chdir(ws.root)
        assert exitcodes.RUN_FAILED == main(["state", "check", "pipeline.yaml"])
        assert "no state file" in capsys.readouterr().err
        seeded(ws.root / ".runner" / "state.db", ["a"])
        assert exitcodes.OK == main(["state", "check", "pipeline.yaml"])
        assert "sound" in capsys.readouterr().out
        assert exitcodes.OK == main(["state", "backup", "pipeline.yaml", "b.db"])
        assert exitcodes.RUN_FAILED == main(["state", "backup", "pipeline.yaml", "b.db"])
        assert "exists" in capsys.readouterr().err
        assert exitcodes.BAD_CONFIG == main(["state", "backup", "pipeline.yaml", "x", "y"])
        assert [] == check_sqlite_file(ws.root / "b.db", "full")
