"""Where events go: one JSON line each, masked, to the daily file and to stderr.

Every string in an event (the event name, every value, nested values and nested
keys; not the top-level key names, which the code chooses) goes through the
`Masker` before anything is written anywhere. Values JSON cannot represent are
written as their text (``str`` of paths, ISO format of dates, ``repr`` of
anything else); encoding an event never raises because of a value.

The daily file is opened ``O_APPEND`` without following symlinks, created 0600
in a 0700 directory, and each line is written with one ``write`` call, so
several runner processes and CLI verbs can append to the same file without
interleaving partial lines. On stderr the same JSON lines, or readable console
lines (`runner.logs.render.format_event`), under an optional live status line.
Inside `grouped()` the lines a thread writes wait until the block ends and then
go out together: one write to the file and one to stderr (the engine writes the
lines that announce one commit so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path, PurePath
from typing import Any, Final, TextIO, cast

from runner.errors import RunnerError
from runner.logs.files import LogSetupError, log_file_name
from runner.logs.journald import journald_priority
from runner.logs.levels import LEVEL_ALIASES, LEVELS
from runner.logs.render import format_event
from runner.logs.terminal import compact_line
from runner.masking import Masker
from runner.system.fs import ensure_runner_dir, open_runner_file

CLEAR_LINE: Final = "\r\x1b[K"
"""Carriage return and erase-line: what rewrites the status line on a terminal."""


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


def _file_bytes(line: str) -> bytes:
    """A line as the file stores it: UTF-8 with its newline."""
    try:
        return (line + "\n").encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: written as JSON \\u escapes
        return (line + "\n").encode("utf-8", "backslashreplace")


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


def isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class Sink:
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
        self.footer_allowed = console and isatty(stderr)
        self.compact = False
        """Terminal only: per-item events shortened (runner.logs.terminal); set by the caller."""
        self.journald = journald_priority(stderr)
        self._footer = ""
        self._grouping = threading.local()

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

    # -- encoding

    def encode(
        self, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> tuple[int, str, str] | None:
        """The event as (level rank, UTC date, JSON line): ordered, masked, never failing.

        None when the event is below this sink's threshold (a logger cached under an older,
        lower one).
        """
        level = LEVEL_ALIASES.get(method_name, method_name)
        level_no = LEVELS.get(level, LEVELS["info"])
        if level_no < self.min_level:
            return None
        ts = self.timestamp()
        masker = self.masker
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
                line = _dumps(out, self.default)
            except (ValueError, TypeError, RecursionError):  # NaN, cycles, odd keys
                line = _dumps(cast(dict[str, Any], _sanitize(out, masker, set())), self.default)
        except Exception as exc:  # last resort: a log call never raises
            fallback = {
                "ts": ts,
                "level": "error",
                "event": "log.render_failed",
                "error": f"{type(exc).__name__}: {exc}",
            }
            line = _dumps(cast(dict[str, Any], _sanitize(fallback, masker, set())), self.default)
            level_no = LEVELS["error"]
        return level_no, ts[:10], line

    # -- the file

    def open(self) -> None:
        """Create the log directory and open today's file; raise if either is impossible."""
        assert self.log_dir is not None
        try:
            ensure_runner_dir(self.log_dir)
        except OSError as exc:
            raise LogSetupError(
                f"cannot create the log directory {self.log_dir}: {exc.strerror}; "
                "check the `logs` setting and the permissions of its parent directories"
            ) from exc
        today = self.timestamp()[:10]
        path = self.log_dir / log_file_name(today)
        try:
            self._fd = open_runner_file(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
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
            self._fd = open_runner_file(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
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
        text = self._stderr_text(line, level_no)
        if text is not None:
            self._emit_stderr(text)

    def _stderr_text(self, line: str, level_no: int) -> str | None:
        """What stderr shows of a line: itself, or its console form (None: nothing)."""
        if self.console:
            try:
                event = json.loads(line)
                shown = (
                    compact_line(event, color=self.color)
                    if self.compact
                    else format_event(event, color=self.color)
                )
            except ValueError:
                shown = line
            if shown is None:
                return None
            text = shown
        else:
            text = line
        if self.journald is not None:
            text = self.journald(level_no, text)
        return text

    def _emit_stderr(self, text: str) -> None:
        """Write lines (joined, without the last newline) to stderr, under the status line."""
        with self._stderr_lock, contextlib.suppress(OSError, ValueError):
            if self._footer:
                self.stderr.write(CLEAR_LINE + text + "\n" + self._footer)
            else:
                self.stderr.write(text + "\n")
            self.stderr.flush()

    def set_footer(self, text: str) -> bool:
        """Show `text` as the last line of the terminal, below the log lines; "" removes it."""
        if not self.footer_allowed:
            return False
        with self._stderr_lock, contextlib.suppress(OSError, ValueError):
            self._footer = text.replace("\n", " ")
            self.stderr.write(CLEAR_LINE + self._footer)
            self.stderr.flush()
        return True

    # -- public

    def write(self, level_no: int, date: str, line: str) -> None:
        """Send one rendered line to every destination whose level admits it."""
        held: list[tuple[int, str, str]] | None = getattr(self._grouping, "lines", None)
        if held is not None:
            held.append((level_no, date, line))
            return
        if self.log_dir is not None and level_no >= self.file_level:
            self._write_file(date, _file_bytes(line))
        if level_no >= self.stderr_level:
            self._write_stderr(line, level_no)

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """Hold the lines this thread writes until the block ends, then write them together:
        one write per destination (per date for the file). Nested blocks join the outer one."""
        grouping = self._grouping
        if getattr(grouping, "lines", None) is not None:
            yield
            return
        grouping.lines = []
        try:
            yield
        finally:
            held: list[tuple[int, str, str]] = grouping.lines
            grouping.lines = None
            self._write_held(held)

    def _write_held(self, held: list[tuple[int, str, str]]) -> None:
        if self.log_dir is not None:
            by_date: dict[str, list[bytes]] = {}
            for level_no, date, line in held:
                if level_no >= self.file_level:
                    by_date.setdefault(date, []).append(_file_bytes(line))
            for date, chunks in by_date.items():
                self._write_file(date, b"".join(chunks))
        shown = [
            text
            for level_no, _, line in held
            if level_no >= self.stderr_level
            and (text := self._stderr_text(line, level_no)) is not None
        ]
        if shown:
            self._emit_stderr("\n".join(shown))

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
