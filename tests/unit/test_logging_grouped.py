"""runner.logs.grouped_output: the lines of a block go out together, once, in order."""

from __future__ import annotations

import calendar
import io
import os
import threading
from pathlib import Path

import pytest

from runner.logs import configure_logging, get_logger, grouped_output, set_status_line
from tests.unit.test_logging import FakeClock, TtyStream, file_events, json_setup


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def err() -> io.StringIO:
    return io.StringIO()


def test_lines_wait_for_the_block_then_go_out_in_one_write_per_destination(
    tmp_path: Path, clock: FakeClock, err: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_dir = json_setup(tmp_path, clock, err)
    log = get_logger()
    writes: list[bytes] = []
    real_write = os.write

    def counting(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting)
    with grouped_output():
        log.info("first", n=1)
        log.warning("second", n=2)
        with grouped_output():  # a nested block joins the outer one
            log.info("third", n=3)
        assert writes == []
        assert err.getvalue() == ""
        assert file_events(log_dir) == []
    monkeypatch.undo()
    assert len(writes) == 1
    assert [e["event"] for e in file_events(log_dir)] == ["first", "second", "third"]
    assert err.getvalue().count("\n") == 3
    log.info("after")
    assert [e["event"] for e in file_events(log_dir)][-1] == "after"


def test_the_levels_of_each_destination_still_apply(
    tmp_path: Path, clock: FakeClock, err: io.StringIO
) -> None:
    log_dir = json_setup(tmp_path, clock, err, level="warning")
    log = get_logger()
    with grouped_output():
        log.debug("hidden")
        log.info("file only")
        log.error("both")
    assert [e["event"] for e in file_events(log_dir)] == ["file only", "both"]
    assert '"event":"both"' in err.getvalue()
    assert "file only" not in err.getvalue()


def test_lines_of_a_block_spanning_midnight_go_to_each_dates_file(
    tmp_path: Path, clock: FakeClock, err: io.StringIO
) -> None:
    clock.now = calendar.timegm((2026, 11, 21, 23, 59, 59)) + 0.9
    log_dir = json_setup(tmp_path, clock, err)
    log = get_logger()
    with grouped_output():
        log.info("before")
        clock.now += 0.2
        log.info("after")
    assert ["before"] == [e["event"] for e in file_events(log_dir, "2026-11-21")]
    assert ["after"] == [e["event"] for e in file_events(log_dir, "2026-11-22")]


def test_other_threads_write_at_once(tmp_path: Path, clock: FakeClock, err: io.StringIO) -> None:
    log_dir = json_setup(tmp_path, clock, err)
    log = get_logger()
    with grouped_output():
        log.info("held")
        worker = threading.Thread(target=lambda: log.info("from a worker"))
        worker.start()
        worker.join()
        assert [e["event"] for e in file_events(log_dir)] == ["from a worker"]
    assert [e["event"] for e in file_events(log_dir)] == ["from a worker", "held"]


def test_console_lines_keep_the_status_line_below_them(clock: FakeClock) -> None:
    tty = TtyStream()
    configure_logging(log_dir=None, stderr_format="console", stderr=tty, clock=clock)
    assert set_status_line("3/10 done")
    log = get_logger()
    with grouped_output():
        log.warning("one", item="a")
        log.warning("two", item="b")
    shown = tty.getvalue()
    assert shown.endswith("3/10 done")
    assert shown.index("one") < shown.index("two") < shown.rindex("3/10 done")


def test_a_failing_action_still_writes_what_it_logged(
    tmp_path: Path, clock: FakeClock, err: io.StringIO
) -> None:
    log_dir = json_setup(tmp_path, clock, err)
    log = get_logger()
    with pytest.raises(RuntimeError), grouped_output():
        log.info("before the failure")
        raise RuntimeError("boom")
    assert [e["event"] for e in file_events(log_dir)] == ["before the failure"]
