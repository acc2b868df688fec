"""Tests of runner.logs.view: listing, filtering, reading and following the JSON logs."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from runner.errors import UsageError
from runner.logs import (
    MAX_LINE,
    LogFilter,
    close_logging,
    configure_logging,
    follow,
    format_event,
    get_logger,
    iter_log_files,
    read_events,
)

DAY1 = "runner-2026-11-21.jsonl"
DAY2 = "runner-2026-11-22.jsonl"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir(mode=0o700)
    return path


def event(name: str, ts: str = "2026-11-21T09:00:00.000Z", **keys: Any) -> dict[str, Any]:
    return {"ts": ts, "level": keys.pop("level", "info"), "event": name, **keys}


def append(path: Path, *events: dict[str, Any] | str) -> None:
    """Append events (or raw text lines) to a log file, one write per line."""
    with path.open("a", encoding="utf-8") as handle:
        for item in events:
            handle.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
            handle.flush()


def names(events: Any) -> list[str]:
    return [e["event"] for e in events]


class TestIterLogFiles:
    def test_files_come_in_date_order_and_others_are_ignored(self, log_dir: Path) -> None:
        """Only runner-YYYY-MM-DD.jsonl files are listed, oldest first."""
        for name in (DAY2, "notes.txt", DAY1, "runner-latest.jsonl", "runner-2026-13-40.jsonl"):
            (log_dir / name).write_text("")
        assert [log_dir / DAY1, log_dir / DAY2] == iter_log_files(log_dir)

    def test_a_missing_directory_has_no_files(self, tmp_path: Path) -> None:
        """A log directory that does not exist yet lists nothing."""
        assert [] == iter_log_files(tmp_path / "nothing")


class TestLogFilter:
    def test_an_empty_filter_matches_everything(self) -> None:
        """No condition set: every event passes."""
        assert LogFilter().matches({"anything": 1})

    def test_task_run_and_item_must_be_equal(self) -> None:
        """task, run_id and item compare exactly."""
        flt = LogFilter(task="nightly", run_id="r1", item="a@x")
        assert flt.matches(event("x", task="nightly", run_id="r1", item="a@x"))
        assert not flt.matches(event("x", task="nightly", run_id="r1", item="b@x"))
        assert not flt.matches(event("x", task="nightly", item="a@x"))

    def test_level_is_a_minimum(self) -> None:
        """level=warning keeps warnings and errors, drops info."""
        flt = LogFilter(level="warning")
        kept = [
            lvl
            for lvl in ("debug", "info", "warning", "error")
            if flt.matches(event("x", level=lvl))
        ]
        assert ["warning", "error"] == kept

    def test_event_matches_exactly_or_by_star_pattern(self) -> None:
        """event is an exact name, or a pattern where * is any text."""
        assert LogFilter(event="item.started").matches(event("item.started"))
        assert not LogFilter(event="item").matches(event("item.started"))
        assert LogFilter(event="item.*").matches(event("item.finished"))
        assert not LogFilter(event="item.*").matches(event("run.started"))
        assert LogFilter(event="*.finished").matches(event("step.finished"))

    def test_since_and_until_bound_the_timestamp_inclusively(self) -> None:
        """Events between since and until, both ends included, pass."""
        flt = LogFilter(
            since=dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC),
            until=dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC),
        )
        stamps = [
            "2026-11-21T08:59:59.999Z",
            "2026-11-21T09:00:00.000Z",
            "2026-11-21T10:00:00.000Z",
            "2026-11-21T10:00:00.001Z",
        ]
        assert [False, True, True, False] == [flt.matches(event("x", ts=s)) for s in stamps]

    def test_naive_datetimes_are_utc(self) -> None:
        """A since without a time zone is taken as UTC."""
        flt = LogFilter(since=dt.datetime(2026, 11, 21, 9, 0))
        assert flt.since is not None
        assert dt.UTC == flt.since.tzinfo

    def test_time_bounds_exclude_events_without_a_timestamp(self) -> None:
        """With since set, an event with no readable ts does not pass."""
        flt = LogFilter(since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        assert not flt.matches({"event": "x", "ts": "yesterday"})

    def test_unknown_level_is_a_usage_error(self) -> None:
        """A misspelt level is refused when the filter is built."""
        with pytest.raises(UsageError, match="unknown log level"):
            LogFilter(level="loud")

    def test_an_empty_time_range_is_a_usage_error(self) -> None:
        """since after until is refused with the fix."""
        with pytest.raises(UsageError, match="swap them"):
            LogFilter(since=dt.datetime(2026, 2, 1), until=dt.datetime(2026, 1, 1))


class TestReadEvents:
    def test_events_of_every_file_in_order(self, log_dir: Path) -> None:
        """Events are read file by file, oldest day first, in line order."""
        append(log_dir / DAY2, event("c"))
        append(log_dir / DAY1, event("a"), event("b"))
        assert ["a", "b", "c"] == names(read_events(log_dir))

    def test_filter_is_applied(self, log_dir: Path) -> None:
        """Only events passing the filter are yielded."""
        append(log_dir / DAY1, event("a", task="t1"), event("b", task="t2"), event("c", task="t1"))
        assert ["a", "c"] == names(read_events(log_dir, LogFilter(task="t1")))

    def test_lines_that_are_not_json_objects_are_skipped_and_counted(self, log_dir: Path) -> None:
        """Malformed JSON, arrays and invalid UTF-8 are skipped and counted; blank lines ignored."""
        append(log_dir / DAY1, event("a"), "{not json", "[1, 2]", "", event("b"))
        with (log_dir / DAY1).open("ab") as handle:
            handle.write(b'{"event": "\xff"}\n')
        stream = read_events(log_dir)
        assert ["a", "b"] == names(stream)
        assert 3 == stream.skipped

    def test_a_last_line_without_newline_is_read(self, log_dir: Path) -> None:
        """The final line of a file is read even without its newline."""
        (log_dir / DAY1).write_text(json.dumps(event("a")) + "\n" + json.dumps(event("b")))
        assert ["a", "b"] == names(read_events(log_dir))

    def test_days_outside_the_time_range_are_not_opened(self, log_dir: Path) -> None:
        """A file for a day before since is skipped without being read."""
        (log_dir / DAY1).write_text("garbage that would be counted\n")
        append(log_dir / DAY2, event("b", ts="2026-11-22T01:00:00.000Z"))
        stream = read_events(log_dir, LogFilter(since=dt.datetime(2026, 11, 22, tzinfo=dt.UTC)))
        assert ["b"] == names(stream)
        assert 0 == stream.skipped

    def test_overlong_lines_are_skipped_and_counted(self, log_dir: Path) -> None:
        """A line longer than MAX_LINE is skipped, not held in memory."""
        append(log_dir / DAY1, event("a"), "x" * (MAX_LINE + 10), event("b"))
        stream = read_events(log_dir)
        assert ["a", "b"] == names(stream)
        assert 1 == stream.skipped

    def test_reads_what_logging_wrote(self, log_dir: Path) -> None:
        """Events written by runner.logs come back with their keys."""
        configure_logging(log_dir=log_dir, stderr_format="json", stderr=io.StringIO())
        get_logger(task="nightly").info("item.finished", item="a", status="ok")
        close_logging()
        (got,) = list(read_events(log_dir))
        assert ("item.finished", "nightly", "a", "ok") == (
            got["event"],
            got["task"],
            got["item"],
            got["status"],
        )

    def test_closing_the_stream_ends_it(self, log_dir: Path) -> None:
        """A closed stream yields nothing more."""
        append(log_dir / DAY1, event("a"), event("b"))
        with read_events(log_dir) as stream:
            assert "a" == next(stream)["event"]
        assert [] == list(stream)


class TestFormatEvent:
    def test_logview_shares_the_console_formatter(self) -> None:
        """format_event renders file events like the console does."""
        got = format_event(event("item.finished", task="nightly", duration_s=0.31), color=False)
        assert "09:00:00 info  item.finished  task=nightly duration_s=0.31" == got


class TestFollow:
    def test_only_lines_appended_after_the_start_are_followed(self, log_dir: Path) -> None:
        """Existing events are not repeated; appended ones come in order."""
        append(log_dir / DAY1, event("old"))
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        append(log_dir / DAY1, event("new1"), event("new2"))
        stop.set()
        assert ["new1", "new2"] == names(stream)

    def test_a_writer_thread_and_a_new_days_file_are_followed(self, log_dir: Path) -> None:
        """Lines written by another thread, then a new day's file, all arrive."""
        append(log_dir / DAY1, event("old"))
        stop = threading.Event()
        guard = threading.Timer(30, stop.set)  # never hang the suite on a bug
        guard.start()
        stream = follow(log_dir, LogFilter(event="tick*"), poll=0.01, stop=stop)
        received: list[str] = []

        def writer() -> None:
            for index in range(20):
                append(log_dir / DAY1, event(f"tick{index}"), event("noise"))
            append(log_dir / DAY2, event("tick-day2", ts="2026-11-22T00:00:00.001Z"))

        def consume() -> None:
            for got in stream:
                received.append(got["event"])
                if got["event"] == "tick-day2":
                    stop.set()

        try:
            consumer = threading.Thread(target=consume)
            consumer.start()
            writer_thread = threading.Thread(target=writer)
            writer_thread.start()
            writer_thread.join()
            consumer.join()
        finally:
            guard.cancel()
            stop.set()
        assert [f"tick{i}" for i in range(20)] + ["tick-day2"] == received

    def test_late_lines_of_the_previous_day_are_still_read(self, log_dir: Path) -> None:
        """After a new day's file appears, lines appended to yesterday's still arrive."""
        append(log_dir / DAY1, event("old"))
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        append(log_dir / DAY2, event("today"))
        assert "today" == next(stream)["event"]
        append(log_dir / DAY1, event("late"))
        stop.set()
        assert ["late"] == names(stream)

    def test_files_appearing_in_an_empty_directory_are_read_from_the_start(
        self, tmp_path: Path
    ) -> None:
        """Following a directory that does not exist yet picks up its first file whole."""
        log_dir = tmp_path / "later"
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        log_dir.mkdir()
        append(log_dir / DAY1, event("first"), event("second"))
        stop.set()
        assert ["first", "second"] == names(stream)

    def test_an_unfinished_line_waits_for_its_newline(self, log_dir: Path) -> None:
        """A partial line is held back until the rest of it is written."""
        (log_dir / DAY1).write_text("")
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        with (log_dir / DAY1).open("a") as handle:
            handle.write('{"event": "one"}\n{"event": "tw')
        assert "one" == next(stream)["event"]
        with (log_dir / DAY1).open("a") as handle:
            handle.write('o"}\n')
        stop.set()
        assert ["two"] == names(stream)

    def test_a_truncated_file_is_read_again_from_the_start(self, log_dir: Path) -> None:
        """After truncation, the new content is followed from its beginning."""
        append(log_dir / DAY1, event("a" * 100))
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        append(log_dir / DAY1, event("b"))
        assert "b" == next(stream)["event"]
        (log_dir / DAY1).write_text(json.dumps(event("c")) + "\n")
        stop.set()
        assert ["c"] == names(stream)

    def test_a_replaced_file_is_reopened(self, log_dir: Path) -> None:
        """A file replaced under the same name is followed from its start."""
        append(log_dir / DAY1, event("a"))
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        append(log_dir / DAY1, event("b"))
        assert "b" == next(stream)["event"]
        replacement = log_dir / "replacement"
        append(replacement, event("c"), event("d"), event("e"))
        os.replace(replacement, log_dir / DAY1)
        stop.set()
        assert ["c", "d", "e"] == names(stream)

    def test_backlog_yields_the_last_matching_events_first(self, log_dir: Path) -> None:
        """backlog=N shows the last N matching events of the newest file before new ones."""
        append(log_dir / DAY1, *(event(f"e{i}", task="t" if i % 2 else "u") for i in range(10)))
        stop = threading.Event()
        stream = follow(log_dir, LogFilter(task="t"), poll=0.01, stop=stop, backlog=2)
        append(log_dir / DAY1, event("new", task="t"))
        stop.set()
        assert ["e7", "e9", "new"] == names(stream)

    def test_malformed_lines_are_counted_while_following(self, log_dir: Path) -> None:
        """Following skips and counts lines that are not JSON objects."""
        stop = threading.Event()
        stream = follow(log_dir, poll=0.01, stop=stop)
        append(log_dir / DAY1, "oops", event("a"))
        stop.set()
        assert ["a"] == names(stream)
        assert 1 == stream.skipped

    def test_negative_backlog_is_a_usage_error(self, log_dir: Path) -> None:
        """backlog must not be negative."""
        with pytest.raises(UsageError):
            follow(log_dir, backlog=-1)
