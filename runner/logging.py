"""Structured logging: JSON lines to a daily file and to stderr, readable lines on a terminal.

Every event is one JSON object on one line whose first keys are ``ts`` (UTC,
ISO 8601 with milliseconds and ``Z``), ``level`` and ``event``, followed by the
caller's keys in the order they were bound or passed::

    {"ts":"2026-11-21T09:00:00.123Z","level":"info","event":"item.finished","task":"nightly",...}

Destinations:

- a file ``runner-YYYY-MM-DD.jsonl`` under the log directory, chosen by the
  event's UTC date (a long-running process rolls over at midnight UTC). It is
  opened ``O_APPEND`` without following symlinks, created 0600 in a 0700
  directory, and each line is written with one ``write`` call, so several
  runner processes and CLI verbs can append to the same file without
  interleaving partial lines. The file gets ``info`` and above (``debug`` too
  when the level is ``debug``).
- stderr: the same JSON lines, or readable console lines (`format_event`) when
  the format is ``console``, or ``auto`` and stderr is a terminal. Events below
  the configured level are not shown there.

Every string in an event (the event name, every value, nested values and
nested keys; not the top-level key names, which the code chooses) goes through
the `Masker` before anything is written anywhere. Values JSON cannot
represent are written as their text (``str`` of paths, ISO format of dates,
``repr`` of anything else); a log call never raises because of a value.

The keys ``ts``, ``level`` and ``event`` are reserved: a caller's own values
under these names are replaced. Call `configure_logging` before the first
event; a logger used before that is configured with the defaults (stderr only,
``info``), and a logger object kept from before a reconfiguration keeps its old
level threshold (structlog caches loggers on first use).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import math
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path, PurePath
from typing import Any, Final, TextIO, TypeAlias, cast

import structlog
from structlog.typing import FilteringBoundLogger

from runner.errors import RunnerError, UsageError
from runner.fsutil import ensure_private_dir, open_private_file
from runner.masking import Masker

__all__ = [
    "LEVELS",
    "STDERR_FORMATS",
    "BoundLogger",
    "LogSetupError",
    "close_logging",
    "configure_logging",
    "format_event",
    "get_logger",
    "level_number",
    "log_file_name",
]

BoundLogger: TypeAlias = FilteringBoundLogger
"""The logger type `get_logger` returns: ``debug``/``info``/``warning``/``error``, ``bind``."""

LEVELS: Final[Mapping[str, int]] = {
    "debug": 10,
    "info": 20,
    "warning": 30,
    "error": 40,
    "critical": 50,
}
"""Level names and their rank; an event is kept when its rank is at least the threshold's."""

STDERR_FORMATS: Final = ("auto", "json", "console")
"""Accepted values of ``stderr_format``."""

_ALIASES: Final[Mapping[str, str]] = {
    "warn": "warning",
    "exception": "error",
    "fatal": "critical",
    "msg": "info",
}

_RESERVED: Final = ("ts", "level", "event")


def journald_priority(stream: TextIO) -> Callable[[int, str], str] | None:
    """When `stream` is the journal's (JOURNAL_STREAM names its device and inode), a function
    putting the syslog priority of a level before each line of a text (`<3>` for error), so
    `journalctl -p err` filters; None for any other stream."""
    try:
        device, inode = (int(n) for n in os.environ["JOURNAL_STREAM"].split(":"))
        status = os.fstat(stream.fileno())
    except (KeyError, ValueError, OSError, AttributeError):
        return None
    if (status.st_dev, status.st_ino) != (device, inode):
        return None

    def prefix(level_no: int, text: str) -> str:
        priority = 7 if level_no < 20 else 6 if level_no < 30 else 4 if level_no < 40 else 3
        return "\n".join(f"<{priority}>{line}" for line in text.split("\n"))

    return prefix


class LogSetupError(RunnerError):
    """Raised when the log directory or a log file cannot be created, opened or read."""


def level_number(name: str) -> int:
    """Return the rank of a level name (case-insensitive; ``warn`` means ``warning``).

    Raises `UsageError` for an unknown name.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return LEVELS[key]
    except KeyError:
        choices = ", ".join(LEVELS)
        raise UsageError(f"unknown log level {name!r}; use one of {choices}") from None


def log_file_name(date: str) -> str:
    """Return the log file name for a UTC date written ``YYYY-MM-DD``."""
    return f"runner-{date}.jsonl"


# --------------------------------------------------------------------------
# Readable one-line rendering, shared by the console output and `runner logs`.

_RESET: Final = "\x1b[0m"
_BOLD: Final = "\x1b[1m"
_DIM: Final = "\x1b[2m"
_KEY_COLOR: Final = "\x1b[36m"
_LEVEL_COLORS: Final[Mapping[str, str]] = {
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_TS_PATTERN: Final = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})")
# Shown as they are: no whitespace, quotes, '=', backslash or control characters
# (C0, DEL and C1: a terminal must never receive an escape sequence from a log).
_BARE: Final = re.compile(r"[^\s\"'=\\\x00-\x1f\x7f-\x9f\ud800-\udfff]+")
_UNSAFE_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# What json.dumps leaves alone but a terminal must not get: DEL, C1, lone surrogates.
_C1_OR_DEL: Final = re.compile(r"[\x7f-\x9f\ud800-\udfff]")


def _escape_char(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def _quote(text: str) -> str:
    """JSON-quote `text`, escaping every control character (C1 and DEL included)."""
    return _C1_OR_DEL.sub(_escape_char, json.dumps(text, ensure_ascii=False))


def _word(text: str) -> str:
    """Show a key or name bare when it is safe to, else quoted."""
    return text if _BARE.fullmatch(text) else _quote(text)


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return _word(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and abs(value) >= 0.001:
            return repr(round(value, 3))
        return repr(value)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return _C1_OR_DEL.sub(_escape_char, text)


def format_event(event: Mapping[str, Any], *, color: bool, date: bool = False) -> str:
    """Render one event as a readable line.

    Shape: ``09:00:00 info  item.finished  task=nightly item=alice@example.com
    status=ok duration_s=0.31`` (time of day in UTC; with ``date=True`` the
    date comes first). Strings with spaces, quotes or control characters are
    shown JSON-quoted, so no value can break the line or send escape sequences
    to a terminal. A traceback under ``exception`` follows on its own lines.
    ``color`` adds ANSI colours (level by severity, event name in bold).
    """
    ts = event.get("ts")
    found = _TS_PATTERN.match(ts) if isinstance(ts, str) else None
    if found is None:
        when = "---------- --:--:--" if date else "--:--:--"
    else:
        when = f"{found.group(1)} {found.group(2)}" if date else found.group(2)
    raw_level = event.get("level", "")
    level = raw_level if isinstance(raw_level, str) and raw_level in LEVELS else None
    level_text = level if level is not None else _format_value(raw_level)
    raw_name = event.get("event", "")
    name = _word(raw_name) if isinstance(raw_name, str) else _format_value(raw_name)
    exception = event.get("exception")
    pairs: list[tuple[str, str]] = [
        (_word(str(key)), _format_value(value))
        for key, value in event.items()
        if key not in _RESERVED and not (key == "exception" and isinstance(value, str))
    ]
    if color:
        level_color = _LEVEL_COLORS.get(level or "", "")
        head = f"{_DIM}{when}{_RESET} {level_color}{level_text:<5}{_RESET} {_BOLD}{name}{_RESET}"
        body = " ".join(f"{_KEY_COLOR}{key}{_RESET}={value}" for key, value in pairs)
    else:
        head = f"{when} {level_text:<5} {name}"
        body = " ".join(f"{key}={value}" for key, value in pairs)
    line = f"{head}  {body}" if body else head
    if isinstance(exception, str) and exception:
        trace = _UNSAFE_CONTROL.sub(_escape_char, exception.rstrip("\n"))
        line += "\n" + "\n".join("    " + part for part in trace.split("\n"))
    return line


# --------------------------------------------------------------------------
# JSON rendering that never fails.


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break a log call
        return f"<unrepresentable {type(value).__qualname__}>"


def _jsonable(value: object) -> object:
    """A JSON-friendly stand-in for a value `json` cannot write."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=_safe_repr)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return _safe_repr(value)


def _sanitize(value: object, masker: Masker | None, path: set[int]) -> object:
    """Deep-convert `value` into plain JSON data, masking strings; cycles become "<cycle>"."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return masker.mask_text(value) if masker else value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict | list | tuple):
        marker = id(value)
        if marker in path:
            return "<cycle>"
        path.add(marker)
        try:
            if isinstance(value, dict):
                return {
                    str(
                        _sanitize(key if isinstance(key, str) else _safe_repr(key), masker, path)
                    ): _sanitize(item, masker, path)
                    for key, item in value.items()
                }
            return [_sanitize(item, masker, path) for item in value]
        finally:
            path.discard(marker)
    return _sanitize(_jsonable(value), masker, path)


def _dumps(event: Mapping[str, Any], default: Callable[[object], object]) -> str:
    return json.dumps(
        event, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=default
    )


def _format_exception(exc_info: object) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        return "".join(traceback.format_exception(exc_info[1])).rstrip("\n")
    return None


# --------------------------------------------------------------------------
# The sink: where rendered lines go.


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class _Sink:
    """Writes rendered lines to the daily file and to stderr; thread-safe."""

    def __init__(
        self,
        *,
        log_dir: Path | None,
        stderr: TextIO,
        console: bool,
        color: bool,
        stderr_level: int,
        masker: Masker | None,
        clock: Callable[[], float],
    ) -> None:
        self.log_dir = log_dir
        self.stderr = stderr
        self.console = console
        self.color = color
        self.stderr_level = stderr_level
        # The file gets info and above; debug only when debug was asked for.
        self.file_level = min(stderr_level, LEVELS["info"])
        self.min_level = self.file_level if log_dir is not None else stderr_level
        self.masker = masker if masker else None
        self.clock = clock
        self._file_lock = threading.Lock()
        self._stderr_lock = threading.Lock()
        self._fd: int | None = None
        self._date: str | None = None
        self._path = Path()
        self._file_open = log_dir is not None
        self._write_failing = False
        self._ts_cache: tuple[int, str] = (-1, "")
        # A live status line kept under the log lines (console on a terminal only).
        self.footer_allowed = console and _isatty(stderr)
        self.journald = journald_priority(stderr)
        self._footer = ""

    # -- timestamps

    def timestamp(self) -> str:
        """The current UTC time as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
        second, millis = divmod(round(self.clock() * 1000), 1000)
        cached = self._ts_cache
        if cached[0] != second:
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._ts_cache = cached  # one tuple assignment: safe between threads
        return f"{cached[1]}.{millis:03d}Z"

    def default(self, value: object) -> object:
        """`json.dumps` fallback: a masked JSON-friendly stand-in."""
        stand_in = _jsonable(value)
        return self.masker.mask_value(stand_in) if self.masker else stand_in

    # -- the file

    def open(self) -> None:
        """Create the log directory and open today's file; raise if either is impossible."""
        assert self.log_dir is not None
        try:
            ensure_private_dir(self.log_dir)
        except OSError as exc:
            raise LogSetupError(
                f"cannot create the log directory {self.log_dir}: {exc.strerror}; "
                "check the `logs` setting and the permissions of its parent directories"
            ) from exc
        today = self.timestamp()[:10]
        path = self.log_dir / log_file_name(today)
        try:
            self._fd = open_private_file(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
            self._path = path
        except OSError as exc:
            raise LogSetupError(
                f"cannot open the log file {path}: {exc.strerror}; "
                "check the permissions of the log directory"
            ) from exc
        self._date = today

    def _roll(self, date: str) -> None:
        """Switch to the file of `date` (lock held)."""
        assert self.log_dir is not None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._date = date  # a failed open is retried at the next date change
        path = self._path = self.log_dir / log_file_name(date)
        try:
            self._fd = open_private_file(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        except (RunnerError, OSError) as exc:
            self._complain("log.file_failed", path, exc)

    def _write_file(self, date: str, data: bytes) -> None:
        with self._file_lock:
            if not self._file_open:
                return
            if date != self._date:
                self._roll(date)
            fd = self._fd
            if fd is None:
                return
            try:
                view = memoryview(data)
                while view:  # one write in practice; loop only on a short write
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                if not self._write_failing:
                    self._write_failing = True
                    self._complain("log.write_failed", self._path, exc)
            else:
                self._write_failing = False

    def _complain(self, name: str, path: Path, exc: Exception) -> None:
        """Tell stderr that the log file is failing (never through the log file itself)."""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        event = {
            "ts": self.timestamp(),
            "level": "error",
            "event": name,
            "path": str(path),
            "error": f"{reason}; events are missing from the log file until this is fixed",
        }
        self._write_stderr(_dumps(event, self.default), LEVELS["error"])

    # -- stderr

    def _write_stderr(self, line: str, level_no: int) -> None:
        if self.console:
            try:
                text = format_event(json.loads(line), color=self.color)
            except ValueError:
                text = line
        else:
            text = line
        if self.journald is not None:
            text = self.journald(level_no, text)
        with self._stderr_lock, contextlib.suppress(OSError, ValueError):
            if self._footer:
                self.stderr.write(_CLEAR_LINE + text + "\n" + self._footer)
            else:
                self.stderr.write(text + "\n")
            self.stderr.flush()

    def set_footer(self, text: str) -> bool:
        """Show `text` as the last line of the terminal, below the log lines; "" removes it."""
        if not self.footer_allowed:
            return False
        with self._stderr_lock, contextlib.suppress(OSError, ValueError):
            self._footer = text.replace("\n", " ")
            self.stderr.write(_CLEAR_LINE + self._footer)
            self.stderr.flush()
        return True

    # -- public

    def write(self, level_no: int, date: str, line: str) -> None:
        """Send one rendered line to every destination whose level admits it."""
        if self.log_dir is not None and level_no >= self.file_level:
            try:
                data = (line + "\n").encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: written as JSON \\u escapes
                data = (line + "\n").encode("utf-8", "backslashreplace")
            self._write_file(date, data)
        if level_no >= self.stderr_level:
            self._write_stderr(line, level_no)

    def close(self) -> None:
        """Close the file (events go to stderr only from now on) and flush stderr."""
        if self._footer:
            self.set_footer("")
        with self._file_lock:
            self._file_open = False
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None
        with self._stderr_lock, contextlib.suppress(OSError, ValueError):
            self.stderr.flush()


_SINK: _Sink | None = None
_CLEAR_LINE = "\r\x1b[K"


def set_status_line(text: str) -> bool:
    """Show a live status line under the console log lines on a terminal.

    Returns False (and shows nothing) when stderr is not a terminal or carries JSON: the
    status line never mixes with the JSON stream. An empty text removes the line.
    """
    sink = _SINK
    return sink.set_footer(text) if sink is not None else False


# --------------------------------------------------------------------------
# structlog glue: one processor renders, one "logger" writes.


def _render(
    _logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The only processor: order, mask and serialize the event into one JSON line."""
    sink = _SINK
    if sink is None:
        raise structlog.DropEvent
    level = _ALIASES.get(method_name, method_name)
    level_no = LEVELS.get(level, LEVELS["info"])
    if level_no < sink.min_level:  # a logger cached under an older, lower threshold
        raise structlog.DropEvent
    ts = sink.timestamp()
    masker = sink.masker
    try:
        exc_info = event_dict.pop("exc_info", None)
        name = event_dict.pop("event", "")
        event_dict.pop("ts", None)
        event_dict.pop("level", None)
        out: dict[str, Any] = {
            "ts": ts,
            "level": level,
            "event": name if isinstance(name, str) else _safe_repr(name),
        }
        out.update(event_dict)
        if exc_info:
            trace = _format_exception(exc_info)
            if trace is not None:
                out["exception"] = trace
        try:
            if masker is not None:
                for key, value in out.items():
                    if key != "ts" and key != "level":
                        out[key] = masker.mask_value(value)
            line = _dumps(out, sink.default)
        except (ValueError, TypeError, RecursionError):  # NaN, cycles, odd keys
            line = _dumps(cast(dict[str, Any], _sanitize(out, masker, set())), sink.default)
    except Exception as exc:  # last resort: a log call never raises
        fallback = {
            "ts": ts,
            "level": "error",
            "event": "log.render_failed",
            "error": f"{type(exc).__name__}: {exc}",
        }
        line = _dumps(cast(dict[str, Any], _sanitize(fallback, masker, set())), sink.default)
        level_no = LEVELS["error"]
    return (sink, level_no, ts[:10], line), {}


class _Output:
    """The structlog "logger": hands each rendered line to the sink that rendered it."""

    def _write(self, sink: _Sink, level_no: int, date: str, line: str) -> None:
        sink.write(level_no, date, line)

    debug = info = warning = warn = error = exception = critical = fatal = msg = _write


_OUTPUT: Final = _Output()


def _output_factory(*_args: Any) -> _Output:
    return _OUTPUT


def configure_logging(
    *,
    log_dir: Path | None,
    stderr_format: str = "auto",
    masker: Masker | None = None,
    level: str = "info",
    stderr: TextIO | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Set up logging for this process (again: a previous file is closed).

    ``log_dir``: where ``runner-YYYY-MM-DD.jsonl`` files go (created 0700), or
    None for stderr only. ``stderr_format``: ``auto`` (console lines on a
    terminal, JSON otherwise), ``json`` or ``console``. ``masker``: secrets to
    mask in every event. ``level``: the stderr threshold; the file gets
    ``info`` and above, ``debug`` too when the level is ``debug``. ``stderr``:
    the stream for stderr output (default `sys.stderr`). ``clock``: seconds
    since the epoch (default `time.time`), injectable for tests.

    Raises `UsageError` for an unknown level or format, `UnsafePathError` when
    the log directory is unsafe (a symlink, writable by others), and
    `LogSetupError` when it or today's file cannot be created.
    """
    global _SINK
    stderr_level = level_number(level)
    if stderr_format not in STDERR_FORMATS:
        choices = ", ".join(STDERR_FORMATS)
        raise UsageError(f"unknown log format {stderr_format!r}; use one of {choices}")
    stream = stderr if stderr is not None else sys.stderr
    tty = _isatty(stream)
    console = stderr_format == "console" or (stderr_format == "auto" and tty)
    sink = _Sink(
        log_dir=log_dir,
        stderr=stream,
        console=console,
        color=console and tty and "NO_COLOR" not in os.environ,
        stderr_level=stderr_level,
        masker=masker,
        clock=clock if clock is not None else time.time,
    )
    if log_dir is not None:
        sink.open()
    previous, _SINK = _SINK, sink
    if previous is not None:
        previous.close()
    structlog.configure(
        processors=[_render],
        wrapper_class=structlog.make_filtering_bound_logger(sink.min_level),
        logger_factory=_output_factory,
        context_class=dict,
        cache_logger_on_first_use=True,
    )


def get_logger(**initial_values: Any) -> BoundLogger:
    """Return a logger with `initial_values` bound (e.g. ``task=...``, ``run_id=...``).

    When logging was never configured, it is configured first with the
    defaults: stderr only, level ``info``, format ``auto``.
    """
    if _SINK is None or not structlog.is_configured():
        configure_logging(log_dir=None)
    return cast(BoundLogger, structlog.get_logger(**initial_values))


def close_logging() -> None:
    """Flush and close the log file; later events go to stderr only until reconfigured."""
    sink = _SINK
    if sink is not None:
        sink.close()
