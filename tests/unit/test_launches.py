"""The launch journal: appended ids read back, torn lines skipped, compaction, no symlinks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from runner.errors import UnsafePathError
from runner.state import launches
from runner.state.launches import LaunchJournal, journal_path, read_launched


def test_recorded_ids_are_read_back(tmp_path: Path) -> None:
    journal = LaunchJournal(tmp_path / "j")
    for attempt_id in (1, 2, 30):
        journal.record(attempt_id)
    journal.close()
    assert {1, 2, 30} == read_launched(tmp_path / "j")
    assert 0o600 == (tmp_path / "j").stat().st_mode & 0o777


def test_an_existing_journal_is_kept_for_recovery(tmp_path: Path) -> None:
    """Opening appends: what a killed runner wrote is still there for the next start."""
    (tmp_path / "j").write_bytes(b"7\n8\n")
    journal = LaunchJournal(tmp_path / "j")
    journal.record(9)
    journal.close()
    assert {7, 8, 9} == read_launched(tmp_path / "j")


def test_a_torn_or_foreign_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "j").write_bytes(b"1\nnot-an-id\n-4\n\x00\x00\n12")
    assert {1, 12} == read_launched(tmp_path / "j")


def test_a_missing_journal_lists_nothing(tmp_path: Path) -> None:
    assert set() == read_launched(tmp_path / "absent")


def test_rewrite_keeps_only_the_given_ids_and_appends_after(tmp_path: Path) -> None:
    journal = LaunchJournal(tmp_path / "j")
    for attempt_id in range(100):
        journal.record(attempt_id)
    journal.rewrite([5, 99])
    journal.record(100)
    journal.close()
    assert {5, 99, 100} == read_launched(tmp_path / "j")
    assert not (tmp_path / "j.new").exists()


def test_oversized_after_compact_at_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launches, "COMPACT_AT", 10)
    journal = LaunchJournal(tmp_path / "j")
    journal.record(12345)
    assert not journal.oversized
    journal.record(67890)
    assert journal.oversized
    journal.rewrite(())
    assert not journal.oversized
    assert 0 == (tmp_path / "j").stat().st_size
    journal.close()


def test_records_from_many_threads_are_whole_lines(tmp_path: Path) -> None:
    journal = LaunchJournal(tmp_path / "j")

    def write(start: int) -> None:
        for attempt_id in range(start, start + 500):
            journal.record(attempt_id)

    threads = [threading.Thread(target=write, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    expected = {n * 1000 + k for n in range(4) for k in range(500)}
    assert expected == read_launched(tmp_path / "j")


def test_a_symlinked_journal_is_refused(tmp_path: Path) -> None:
    os.symlink(tmp_path / "elsewhere", tmp_path / "j")
    with pytest.raises(UnsafePathError):
        LaunchJournal(tmp_path / "j")


def test_one_journal_per_site_next_to_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first, second = journal_path(state, "default"), journal_path(state, "../other")
    assert first.parent == second.parent == tmp_path
    assert first != second
    assert "state.db.default.launches" == first.name


def test_a_failed_rewrite_keeps_the_journal_as_it_was(tmp_path: Path) -> None:
    """A journal that lists too much is safe (those attempts count as launched); one that
    lists too little is not, so a rewrite that cannot complete changes nothing."""
    journal = LaunchJournal(tmp_path / "j")
    journal.record(1)
    (tmp_path / "j.new").mkdir()  # the fresh file cannot be created
    assert not journal.rewrite([])
    journal.record(2)
    journal.close()
    assert {1, 2} == read_launched(tmp_path / "j")
