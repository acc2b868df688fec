"""Re-reading an events file after a crash: exactly the lines after those already persisted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.launch import read_events_file
from runner.state.records import Checkpoint

LINES = [
    {"processed": "mbx-1"},
    {"detail": "halfway"},
    {"metric": {"moved": 3}},
    {"detail": "almost"},
    {"processed": "mbx-2"},
]
RECORDS = [
    Checkpoint("processed", "mbx-1"),
    Checkpoint("detail", "halfway"),
    Checkpoint("metric", '{"moved": 3}'),
    Checkpoint("detail", "almost"),
    Checkpoint("processed", "mbx-2"),
]


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    return path


@pytest.mark.parametrize("persisted", range(len(LINES) + 1))
def test_the_lines_after_those_persisted_are_read_once(events: Path, persisted: int) -> None:
    """After `persisted` lines, each later line comes back exactly once, none before it."""
    assert RECORDS[persisted:] == list(read_events_file(events, skip_lines=persisted))


def test_blank_lines_do_not_count(tmp_path: Path) -> None:
    """Blank lines are neither read nor counted among the persisted ones."""
    path = tmp_path / "events.jsonl"
    path.write_text('\n{"detail": "one"}\n\n  \n{"detail": "two"}\n{"detail": "three"}\n')
    expected = [Checkpoint("detail", "two"), Checkpoint("detail", "three")]
    assert expected == list(read_events_file(path, skip_lines=1))


def test_an_unterminated_last_line_is_not_read(events: Path) -> None:
    """A line the child had not finished writing is not a checkpoint (nor counted)."""
    with events.open("a") as handle:
        handle.write('{"detail": "cut')
    assert [RECORDS[-1]] == list(read_events_file(events, skip_lines=len(LINES) - 1))


def test_a_missing_file_gives_nothing(tmp_path: Path) -> None:
    assert [] == list(read_events_file(tmp_path / "absent.jsonl", skip_lines=0))
