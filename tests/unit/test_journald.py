"""stderr lines carry syslog priority prefixes when stderr is the journal (JOURNAL_STREAM)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from runner.logs import close_logging, configure_logging, get_logger


@pytest.fixture
def stream(tmp_path: Path) -> Iterator[TextIO]:
    with (tmp_path / "stderr").open("w+", encoding="utf-8") as handle:
        yield handle
    close_logging()


def _journal_of(handle: TextIO) -> str:
    status = os.fstat(handle.fileno())
    return f"{status.st_dev}:{status.st_ino}"


def _lines(handle: TextIO, stderr_format: str) -> list[str]:
    configure_logging(log_dir=None, stderr_format=stderr_format, stderr=handle, level="debug")
    log = get_logger()
    log.debug("a.debug")
    log.info("an.info")
    log.warning("a.warning")
    log.error("an.error")
    handle.seek(0)
    return handle.read().splitlines()


def test_json_lines_get_the_priority_of_their_level(
    stream: TextIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", _journal_of(stream))
    lines = _lines(stream, "json")
    assert ["<7>{", "<6>{", "<4>{", "<3>{"] == [line[:4] for line in lines]
    assert '"event":"an.error"' in lines[3]


def test_console_lines_are_prefixed_too(stream: TextIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", _journal_of(stream))
    lines = _lines(stream, "console")
    assert 4 == len(lines) and lines[3].startswith("<3>") and "an.error" in lines[3]


def test_no_prefix_when_the_journal_is_another_stream(
    stream: TextIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert all(line.startswith("{") for line in _lines(stream, "json"))


def test_no_prefix_without_journal_stream(stream: TextIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert all(line.startswith("{") for line in _lines(stream, "json"))
