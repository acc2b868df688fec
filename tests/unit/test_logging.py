"""Tests of runner.logs (setup, sink, render): event shape, the daily file, stderr, masking, robustness."""

from __future__ import annotations

import calendar
import datetime as dt
import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import structlog

import runner
from runner.errors import UnsafePathError, UsageError
from runner.logs import (
    LogSetupError,
    close_logging,
    configure_logging,
    format_event,
    get_logger,
    level_number,
)
from runner.masking import Masker

NINE_AM = calendar.timegm((2026, 11, 21, 9, 0, 0)) + 0.123


class FakeClock:
    """A settable clock: seconds since the epoch."""

    def __init__(self, now: float = NINE_AM) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TtyStream(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def err() -> io.StringIO:
    return io.StringIO()


def file_events(log_dir: Path, date: str = "2026-11-21") -> list[dict[str, Any]]:
    text = (log_dir / f"runner-{date}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def json_setup(tmp_path: Path, clock: FakeClock, err: io.StringIO, **kwargs: Any) -> Path:
    log_dir = tmp_path / "logs"
    configure_logging(log_dir=log_dir, stderr_format="json", stderr=err, clock=clock, **kwargs)
    return log_dir


class TestEventShape:
    def test_keys_come_in_order_ts_level_event_then_bound_then_passed(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """The JSON keys are ts, level, event, then bound keys, then call keys."""
        log_dir = json_setup(tmp_path, clock, err)
        get_logger(task="nightly", run_id="r1").info("item.finished", item="a", status="ok")
        line = (log_dir / "runner-2026-11-21.jsonl").read_text(encoding="utf-8")
        expected = (
            '{"ts":"2026-11-21T09:00:00.123Z","level":"info","event":"item.finished",'
            '"task":"nightly","run_id":"r1","item":"a","status":"ok"}\n'
        )
        assert expected == line

    def test_timestamp_is_utc_with_milliseconds_and_z(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """ts is ISO 8601 UTC with milliseconds (rounded) and a Z."""
        log_dir = json_setup(tmp_path, clock, err)
        clock.now = calendar.timegm((2026, 11, 21, 23, 5, 7)) + 0.0041
        get_logger().info("x")
        assert "2026-11-21T23:05:07.004Z" == file_events(log_dir)[0]["ts"]

    def test_each_method_gives_its_level(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """info, warning, warn, error and critical are written as their level names."""
        log_dir = json_setup(tmp_path, clock, err)
        log = get_logger()
        log.info("a")
        log.warning("b")
        log.warn("c")
        log.error("d")
        log.critical("e")
        expected = ["info", "warning", "warning", "error", "critical"]
        assert expected == [event["level"] for event in file_events(log_dir)]

    def test_exception_adds_the_traceback(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """log.exception logs at error with the formatted traceback under `exception`."""
        log_dir = json_setup(tmp_path, clock, err)
        try:
            raise ValueError("boom")
        except ValueError:
            get_logger().exception("step.crashed")
        event = file_events(log_dir)[0]
        assert ("error", "step.crashed") == (event["level"], event["event"])
        assert event["exception"].endswith("ValueError: boom")
        assert "exc_info" not in event

    def test_reserved_keys_from_the_caller_are_replaced(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """A caller's own ts or level cannot forge the event's."""
        log_dir = json_setup(tmp_path, clock, err)
        get_logger(level="error").info("x", ts="yesterday")
        event = file_events(log_dir)[0]
        assert ("2026-11-21T09:00:00.123Z", "info") == (event["ts"], event["level"])

    def test_positional_arguments_are_interpolated(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """log.info("a %s", x) interpolates like the standard library."""
        log_dir = json_setup(tmp_path, clock, err)
        get_logger().info("hello %s", "world")
        assert "hello world" == file_events(log_dir)[0]["event"]


class TestLogFile:
    def test_file_and_directory_are_private(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """The log directory is created 0700 and the file 0600."""
        log_dir = json_setup(tmp_path, clock, err)
        get_logger().info("x")
        assert 0o700 == stat.S_IMODE(log_dir.stat().st_mode)
        assert 0o600 == stat.S_IMODE((log_dir / "runner-2026-11-21.jsonl").stat().st_mode)

    def test_a_new_file_starts_at_midnight_utc(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """Events go to the file of their own UTC date, rolling over at midnight."""
        clock.now = calendar.timegm((2026, 11, 21, 23, 59, 59)) + 0.9
        log_dir = json_setup(tmp_path, clock, err)
        log = get_logger()
        log.info("before")
        clock.now += 0.2
        log.info("after")
        assert ["before"] == [e["event"] for e in file_events(log_dir, "2026-11-21")]
        assert ["after"] == [e["event"] for e in file_events(log_dir, "2026-11-22")]

    def test_existing_lines_are_kept(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """The file is appended to, never truncated."""
        log_dir = tmp_path / "logs"
        log_dir.mkdir(mode=0o700)
        (log_dir / "runner-2026-11-21.jsonl").write_text('{"event":"earlier"}\n')
        json_setup(tmp_path, clock, err)
        get_logger().info("later")
        assert ["earlier", "later"] == [e["event"] for e in file_events(log_dir)]

    def test_a_symlinked_log_file_is_refused(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """A symlink in place of the log file is never written through."""
        log_dir = tmp_path / "logs"
        log_dir.mkdir(mode=0o700)
        target = tmp_path / "elsewhere"
        target.write_text("")
        (log_dir / "runner-2026-11-21.jsonl").symlink_to(target)
        with pytest.raises(UnsafePathError):
            json_setup(tmp_path, clock, err)
        assert "" == target.read_text()

    def test_a_directory_writable_by_everyone_is_refused(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """A log directory others can write to is refused with the fix in the message."""
        log_dir = tmp_path / "logs"
        log_dir.mkdir()
        log_dir.chmod(0o777)
        with pytest.raises(UnsafePathError, match="chmod o-w"):
            json_setup(tmp_path, clock, err)

    def test_an_uncreatable_directory_is_a_setup_error(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """A log directory under a regular file cannot be created: LogSetupError says so."""
        (tmp_path / "file").write_text("")
        with pytest.raises(LogSetupError, match="cannot create the log directory"):
            configure_logging(log_dir=tmp_path / "file" / "logs", stderr=err, clock=clock)

    def test_file_gets_info_even_when_stderr_shows_only_warnings(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """level=warning filters stderr only; the file keeps info and above, no debug."""
        log_dir = json_setup(tmp_path, clock, err, level="warning")
        log = get_logger()
        log.debug("d")
        log.info("i")
        log.warning("w")
        assert ["i", "w"] == [e["event"] for e in file_events(log_dir)]
        assert ["w"] == [json.loads(line)["event"] for line in err.getvalue().splitlines()]

    def test_debug_reaches_the_file_only_at_debug_level(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """level=debug writes debug events to the file too."""
        log_dir = json_setup(tmp_path, clock, err, level="debug")
        get_logger().debug("d")
        assert ["d"] == [e["event"] for e in file_events(log_dir)]

    def test_after_close_events_go_to_stderr_only(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """close_logging closes the file; later events still reach stderr."""
        log_dir = json_setup(tmp_path, clock, err)
        log = get_logger()
        log.info("a")
        close_logging()
        log.info("b")
        assert ["a"] == [e["event"] for e in file_events(log_dir)]
        assert ["a", "b"] == [json.loads(line)["event"] for line in err.getvalue().splitlines()]

    def test_threads_never_interleave_lines(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """Events logged from many threads at once each stay one whole line."""
        log_dir = json_setup(tmp_path, clock, err)

        def work(number: int) -> None:
            log = get_logger(thread=number)
            for index in range(300):
                log.info("tick", index=index, pad="x" * 500)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events = file_events(log_dir)
        assert 8 * 300 == len(events)
        assert {(n, i) for n in range(8) for i in range(300)} == {
            (e["thread"], e["index"]) for e in events
        }

    def test_processes_appending_to_one_file_never_interleave_lines(self, tmp_path: Path) -> None:
        """Several processes logging to the same directory produce only whole lines."""
        log_dir = tmp_path / "logs"
        code = (
            "import io, sys\n"
            "from pathlib import Path\n"
            "from runner.logs import configure_logging, get_logger, close_logging\n"
            "configure_logging(log_dir=Path(sys.argv[1]), stderr=io.StringIO(),"
            " stderr_format='json', clock=lambda: float(sys.argv[3]))\n"
            "log = get_logger(proc=int(sys.argv[2]))\n"
            "for i in range(400):\n"
            "    log.info('tick', index=i, pad='y' * 3000)\n"
            "close_logging()\n"
        )
        env = dict(os.environ, PYTHONPATH=str(Path(runner.__file__).parent.parent))
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(log_dir), str(n), str(NINE_AM)], env=env
            )
            for n in range(4)
        ]
        try:
            codes = [proc.wait(timeout=60) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert [0, 0, 0, 0] == codes
        events = file_events(log_dir)
        assert 4 * 400 == len(events)
        assert {(p, i) for p in range(4) for i in range(400)} == {
            (e["proc"], e["index"]) for e in events
        }

    def test_reconfiguring_closes_the_previous_file(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """A second configure_logging switches every new event to the new directory."""
        first = json_setup(tmp_path, clock, err)
        second = tmp_path / "other"
        configure_logging(log_dir=second, stderr_format="json", stderr=err, clock=clock)
        get_logger().info("x")
        assert [] == file_events(first)
        assert ["x"] == [e["event"] for e in file_events(second)]


class TestStderr:
    def test_json_on_stderr_is_the_line_in_the_file(
        self, tmp_path: Path, clock: FakeClock, err: io.StringIO
    ) -> None:
        """With format json, stderr gets exactly the file's lines."""
        log_dir = json_setup(tmp_path, clock, err)
        get_logger().info("x", n=1)
        assert (log_dir / "runner-2026-11-21.jsonl").read_text(encoding="utf-8") == err.getvalue()

    def test_console_format_gives_readable_lines(self, clock: FakeClock, err: io.StringIO) -> None:
        """Format console writes the readable one-liner."""
        configure_logging(log_dir=None, stderr_format="console", stderr=err, clock=clock)
        get_logger(task="nightly").info(
            "item.finished", item="alice@example.com", status="ok", duration_s=0.3100004
        )
        expected = (
            "09:00:00 info  item.finished  "
            "task=nightly item=alice@example.com status=ok duration_s=0.31\n"
        )
        assert expected == err.getvalue()

    def test_auto_writes_json_when_stderr_is_not_a_terminal(
        self, clock: FakeClock, err: io.StringIO
    ) -> None:
        """Format auto picks JSON for a pipe or file."""
        configure_logging(log_dir=None, stderr=err, clock=clock)
        get_logger().info("x")
        assert {"ts": "2026-11-21T09:00:00.123Z", "level": "info", "event": "x"} == json.loads(
            err.getvalue()
        )

    def test_auto_writes_coloured_console_lines_on_a_terminal(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Format auto on a terminal gives console lines with colour."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        tty = TtyStream()
        configure_logging(log_dir=None, stderr=tty, clock=clock)
        get_logger().error("x")
        assert "\x1b[31m" in tty.getvalue()

    def test_no_color_turns_colour_off(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """NO_COLOR in the environment keeps console lines plain."""
        monkeypatch.setenv("NO_COLOR", "1")
        tty = TtyStream()
        configure_logging(log_dir=None, stderr=tty, clock=clock)
        get_logger().error("x")
        assert "09:00:00 error x\n" == tty.getvalue()

    def test_events_below_the_level_are_not_shown(self, clock: FakeClock, err: io.StringIO) -> None:
        """Stderr shows only events at or above the level."""
        configure_logging(
            log_dir=None, stderr_format="json", stderr=err, level="error", clock=clock
        )
        log = get_logger()
        log.warning("w")
        log.error("e")
        assert ["e"] == [json.loads(line)["event"] for line in err.getvalue().splitlines()]

    def test_unconfigured_logging_writes_to_stderr_not_stdout(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A logger used before configure_logging writes to stderr only."""
        structlog.reset_defaults()
        get_logger().info("early")
        captured = capsys.readouterr()
        assert "" == captured.out
        assert "early" == json.loads(captured.err)["event"]

    def test_a_closed_stderr_does_not_raise(self, clock: FakeClock) -> None:
        """Writing to a closed stderr stream is silently skipped."""
        stream = io.StringIO()
        configure_logging(log_dir=None, stderr=stream, clock=clock)
        stream.close()
        get_logger().info("x")


class TestOptions:
    def test_unknown_level_is_a_usage_error(self, err: io.StringIO) -> None:
        """An unknown level names the valid ones."""
        with pytest.raises(UsageError, match="debug, info, warning, error"):
            configure_logging(log_dir=None, level="verbose", stderr=err)

    def test_unknown_format_is_a_usage_error(self, err: io.StringIO) -> None:
        """An unknown stderr format names the valid ones."""
        with pytest.raises(UsageError, match="auto, json, console"):
            configure_logging(log_dir=None, stderr_format="xml", stderr=err)

    def test_level_names_are_case_insensitive_and_warn_is_warning(self) -> None:
        """WARN and warning are the same level."""
        assert level_number("warning") == level_number("WARN")


class TestMasking:
    @pytest.fixture
    def log_dir(self, tmp_path: Path, clock: FakeClock, err: io.StringIO) -> Path:
        return json_setup(tmp_path, clock, err, masker=Masker(["hunter22"]))

    def test_secrets_are_masked_everywhere_in_the_event(
        self, log_dir: Path, err: io.StringIO
    ) -> None:
        """Event name, bound values and nested values are masked in file and stderr."""
        get_logger(cmd=["--pw", "hunter22"]).info("login hunter22", detail={"text": "pw=hunter22"})
        expected = {
            "ts": "2026-11-21T09:00:00.123Z",
            "level": "info",
            "event": "login ***",
            "cmd": ["--pw", "***"],
            "detail": {"text": "pw=***"},
        }
        assert [expected] == file_events(log_dir)
        assert "hunter22" not in err.getvalue()

    def test_secrets_in_tracebacks_are_masked(self, log_dir: Path) -> None:
        """An exception message carrying a secret is masked in the traceback."""
        try:
            raise RuntimeError("bad password hunter22")
        except RuntimeError:
            get_logger().exception("failed")
        assert "hunter22" not in (log_dir / "runner-2026-11-21.jsonl").read_text()

    def test_secrets_in_the_text_of_odd_objects_are_masked(self, log_dir: Path) -> None:
        """An object written by its repr is masked too."""

        class Holder:
            def __repr__(self) -> str:
                return "Holder(hunter22)"

        get_logger().info("x", obj=Holder(), things={"hunter22"})
        event = file_events(log_dir)[0]
        assert ("Holder(***)", ["***"]) == (event["obj"], event["things"])


class TestRobustness:
    @pytest.fixture
    def log_dir(self, tmp_path: Path, clock: FakeClock, err: io.StringIO) -> Path:
        return json_setup(tmp_path, clock, err)

    def test_values_json_cannot_write_are_written_as_text(self, log_dir: Path) -> None:
        """Paths, datetimes, sets and arbitrary objects become strings or lists."""
        get_logger().info(
            "x",
            path=Path("/srv/a"),
            when=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            tags={"b"},
            raw=b"bytes",
        )
        event = file_events(log_dir)[0]
        expected = ("/srv/a", "2026-01-02T03:04:05+00:00", ["b"], "bytes")
        assert expected == (event["path"], event["when"], event["tags"], event["raw"])

    def test_nan_cycles_and_odd_keys_do_not_raise(self, log_dir: Path) -> None:
        """NaN, self-containing lists and tuple keys still give one valid JSON line."""
        loop: list[Any] = [1]
        loop.append(loop)
        get_logger().info("x", ratio=float("nan"), loop=loop, table={(1, 2): "v"})
        event = file_events(log_dir)[0]
        assert ("nan", [1, "<cycle>"], {"(1, 2)": "v"}) == (
            event["ratio"],
            event["loop"],
            event["table"],
        )

    def test_a_broken_repr_does_not_raise(self, log_dir: Path) -> None:
        """An object whose repr raises is written as a placeholder."""

        class Broken:
            def __repr__(self) -> str:
                raise RuntimeError("no")

        get_logger().info("x", obj=Broken())
        assert "<unrepresentable" in file_events(log_dir)[0]["obj"]

    def test_lone_surrogates_are_written_as_valid_utf8(self, log_dir: Path) -> None:
        """A string with an undecodable-filename surrogate still gives a valid UTF-8 line."""
        get_logger().info("x", name="bad\udcff")
        data = (log_dir / "runner-2026-11-21.jsonl").read_bytes()
        assert "bad\udcff" == json.loads(data.decode("utf-8"))["name"]


class TestFormatEvent:
    def test_plain_shape(self) -> None:
        """Time of day, padded level, event name, two spaces, key=value pairs."""
        event = {
            "ts": "2026-11-21T09:00:00.123Z",
            "level": "info",
            "event": "item.finished",
            "task": "nightly",
            "attempt": 2,
            "ok": True,
            "queue": None,
        }
        expected = "09:00:00 info  item.finished  task=nightly attempt=2 ok=true queue=null"
        assert expected == format_event(event, color=False)

    def test_date_option_prefixes_the_date(self) -> None:
        """date=True shows the UTC date before the time."""
        event = {"ts": "2026-11-21T09:00:00.123Z", "level": "warning", "event": "x"}
        assert "2026-11-21 09:00:00 warning x" == format_event(event, color=False, date=True)

    def test_strings_with_spaces_or_quotes_are_quoted(self) -> None:
        """Values that would break key=value parsing are JSON-quoted."""
        event = {"ts": "2026-11-21T09:00:00Z", "level": "info", "event": "x", "d": 'a "b" c'}
        assert '09:00:00 info  x  d="a \\"b\\" c"' == format_event(event, color=False)

    def test_control_characters_never_reach_the_terminal(self) -> None:
        """Escape sequences in values, keys or names are shown escaped."""
        event = {"level": "info", "event": "x\x1b[2J", "k\x9b": "\x1b]0;title\x07"}
        line = format_event(event, color=False)
        assert not any(ch in line for ch in "\x1b\x9b\x07")
        assert "\\u001b" in line

    def test_nested_values_are_compact_json(self) -> None:
        """Lists and dicts are shown as compact JSON."""
        event = {"level": "info", "event": "x", "m": {"a": [1, 2]}}
        assert '--:--:-- info  x  m={"a":[1,2]}' == format_event(event, color=False)

    def test_floats_are_rounded_to_milliseconds(self) -> None:
        """Durations show at most three decimals; tiny values keep theirs."""
        event = {"level": "info", "event": "x", "a": 12.34567, "b": 0.00001}
        assert "--:--:-- info  x  a=12.346 b=1e-05" == format_event(event, color=False)

    def test_exception_follows_on_indented_lines(self) -> None:
        """A traceback is shown below the line, indented."""
        event = {"level": "error", "event": "x", "exception": "Traceback:\nValueError: boom"}
        expected = "--:--:-- error x\n    Traceback:\n    ValueError: boom"
        assert expected == format_event(event, color=False)

    def test_colour_marks_level_and_event(self) -> None:
        """With colour, the level carries its colour and the name is bold."""
        line = format_event({"level": "warning", "event": "x"}, color=True)
        assert "\x1b[33mwarning\x1b[0m" in line
        assert "\x1b[1mx\x1b[0m" in line
