"""Reading the JSON logs back: the library behind ``runner logs``.

The log directory holds one ``runner-YYYY-MM-DD.jsonl`` file per UTC day
(see `runner.logs.files`). `read_events` streams the events of every file in date
order through a `LogFilter`; `follow` does the same for events appended from
now on, like ``tail -F``, moving on to a new day's file when it appears.
Lines that are not JSON objects are skipped and counted (`EventStream.skipped`).
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import os
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from runner.errors import UsageError
from runner.logs.files import LogSetupError, iter_log_files, log_file_date
from runner.logs.filter import LogFilter

__all__ = [
    "MAX_LINE",
    "Event",
    "EventStream",
    "follow",
    "read_events",
]

Event = dict[str, Any]

_CHUNK: Final = 64 * 1024
MAX_LINE: Final = 8 * 1024 * 1024
"""Longer lines are skipped (and counted) rather than held in memory."""


class EventStream(Iterator[Event]):
    """An iterator of log events that counts the lines it had to skip.

    ``skipped``: lines that were not JSON objects (or longer than `MAX_LINE`)
    seen so far. Closing the stream (or leaving its ``with`` block) closes the
    files it holds open.
    """

    def __init__(self) -> None:
        self.skipped = 0
        self._source: Generator[Event, None, None] | None = None

    def _attach(self, source: Generator[Event, None, None]) -> EventStream:
        self._source = source
        return self

    def __next__(self) -> Event:
        if self._source is None:
            raise StopIteration
        return next(self._source)

    def close(self) -> None:
        """Stop iterating and close any open file."""
        if self._source is not None:
            self._source.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _parse(self, raw: bytes) -> Event | None:
        """One line -> its event; None (counted unless blank) when it is not a JSON object."""
        if not raw.strip():
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            self.skipped += 1
            return None
        if not isinstance(value, dict):
            self.skipped += 1
            return None
        return value


class _LineBuffer:
    """Splits chunks of bytes into complete lines, holding back an unfinished last line."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._parts: list[bytes] = []
        self._size = 0
        self._discarding = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add `chunk`; return the lines it completed (without their newline)."""
        pieces = chunk.split(b"\n")
        lines: list[bytes] = []
        for piece in pieces[:-1]:
            if self._discarding:
                self._discarding = False  # the overlong line ends here
            elif self._parts:
                self._parts.append(piece)
                lines.append(b"".join(self._parts))
                self._parts.clear()
                self._size = 0
            else:
                lines.append(piece)
        rest = pieces[-1]
        if rest and not self._discarding:
            self._parts.append(rest)
            self._size += len(rest)
            if self._size > MAX_LINE:
                self._parts.clear()
                self._size = 0
                self._discarding = True
                self._stream.skipped += 1
        return lines

    def remainder(self) -> bytes:
        """The unfinished last line, and forget it."""
        rest = b"".join(self._parts)
        self.reset()
        return rest

    def reset(self) -> None:
        """Forget everything held (the file was truncated or replaced)."""
        self._parts.clear()
        self._size = 0
        self._discarding = False


def _open(path: Path) -> io.FileIO | None:
    """Open a log file for reading (unbuffered: a read after EOF sees new data); None if gone."""
    try:
        return io.FileIO(path, "r")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogSetupError(
            f"cannot read the log file {path}: {exc.strerror}; "
            "run this as the user the runner runs as"
        ) from exc


def _read_files(
    files: list[Path], flt: LogFilter | None, stream: EventStream
) -> Generator[Event, None, None]:
    for path in files:
        handle = _open(path)
        if handle is None:  # removed since it was listed
            continue
        with handle:
            lines = _LineBuffer(stream)
            while chunk := handle.read(_CHUNK):
                for raw in lines.feed(chunk):
                    event = stream._parse(raw)
                    if event is not None and (flt is None or flt.matches(event)):
                        yield event
            event = stream._parse(lines.remainder())
            if event is not None and (flt is None or flt.matches(event)):
                yield event


def read_events(log_dir: Path, flt: LogFilter | None = None) -> EventStream:
    """Stream the events of every log file of `log_dir` that pass `flt`, oldest first.

    Files are read a chunk at a time, never whole; days outside the filter's
    ``since``/``until`` are not opened. Lines that are not JSON objects are
    skipped and counted in the stream's ``skipped``.
    """
    files = iter_log_files(log_dir)
    if flt is not None:
        files = [p for p in files if flt.admits_day(log_file_date(p) or dt.date.min)]
    stream = EventStream()
    return stream._attach(_read_files(files, flt, stream))


class _Tail:
    """One followed file: its handle, identity and unfinished line."""

    def __init__(self, path: Path, handle: io.FileIO, stream: EventStream) -> None:
        self.path = path
        self.handle = handle
        info = os.fstat(handle.fileno())
        self.identity = (info.st_dev, info.st_ino)
        self.lines = _LineBuffer(stream)

    def read(self, limit: int | None = None) -> Iterator[bytes]:
        """Complete lines appended since the last read (at most `limit` bytes read)."""
        while True:
            size = _CHUNK if limit is None else min(_CHUNK, limit)
            if size <= 0:
                return
            chunk = self.handle.read(size)
            if not chunk:
                return
            if limit is not None:
                limit -= len(chunk)
            yield from self.lines.feed(chunk)

    def changed(self) -> str | None:
        """``"gone"``, ``"replaced"`` or ``"truncated"`` when the file is no longer what we read."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return "gone"
        except OSError:
            return None
        if (info.st_dev, info.st_ino) != self.identity:
            return "replaced"
        if info.st_size < self.handle.tell():
            return "truncated"
        return None

    def close(self) -> None:
        self.handle.close()


def follow(
    log_dir: Path,
    flt: LogFilter | None = None,
    *,
    poll: float = 0.5,
    stop: threading.Event | None = None,
    backlog: int = 0,
) -> EventStream:
    """Stream events appended to the logs of `log_dir` from now on, like ``tail -F``.

    The starting point is fixed when this function is called: the end of the
    newest log file (a later file is read from its start). With ``backlog=N``
    the last N matching events of the newest file come first. The newest two
    days are watched, so a new day's file is picked up while late lines of
    the previous day are still read; a truncated or replaced file is read again
    from its start. Every `poll` seconds without new lines the directory is
    checked again. When `stop` is set the stream reads what is already there
    and ends; without `stop` it ends only when closed.
    """
    if backlog < 0:
        raise UsageError(f"backlog must be 0 or more, not {backlog}")
    stream = EventStream()
    tails: dict[str, _Tail] = {}
    start_name = ""
    backlog_end = 0
    files = iter_log_files(log_dir)
    if files:
        newest = files[-1]
        handle = _open(newest)
        if handle is not None:
            backlog_end = handle.seek(0, os.SEEK_END)
            if backlog:
                handle.seek(0)
            tails[newest.name] = _Tail(newest, handle, stream)
        start_name = newest.name
    return stream._attach(
        _follow(log_dir, flt, stream, tails, start_name, backlog, backlog_end, poll, stop)
    )


def _follow(
    log_dir: Path,
    flt: LogFilter | None,
    stream: EventStream,
    tails: dict[str, _Tail],
    start_name: str,
    backlog: int,
    backlog_end: int,
    poll: float,
    stop: threading.Event | None,
) -> Generator[Event, None, None]:
    def wanted(raw: bytes) -> Event | None:
        event = stream._parse(raw)
        if event is not None and (flt is None or flt.matches(event)):
            return event
        return None

    try:
        if backlog and tails:
            (first,) = tails.values()
            recent: collections.deque[Event] = collections.deque(maxlen=backlog)
            for raw in first.read(limit=backlog_end):
                event = wanted(raw)
                if event is not None:
                    recent.append(event)
            yield from recent
        while True:
            stopping = stop is not None and stop.is_set()
            # Which files to watch: the newest two days from the starting file on.
            watched = [p for p in iter_log_files(log_dir) if p.name >= start_name][-2:]
            names = {p.name for p in watched}
            for path in watched:
                if path.name not in tails:
                    handle = _open(path)
                    if handle is not None:
                        tails[path.name] = _Tail(path, handle, stream)
            got_any = False
            for name in sorted(tails):
                tail = tails[name]
                while True:
                    for raw in tail.read():
                        got_any = True
                        event = wanted(raw)
                        if event is not None:
                            yield event
                    change = tail.changed()
                    if change == "truncated":
                        tail.handle.seek(0)
                        tail.lines.reset()
                        continue
                    if change == "replaced":
                        handle = _open(tail.path)
                        tail.close()
                        if handle is not None:
                            tail = tails[name] = _Tail(tail.path, handle, stream)
                            continue
                        change = "gone"
                    if change == "gone" or name not in names:
                        tail.close()
                        del tails[name]
                    break
            if stopping:
                return
            if not got_any:
                if stop is not None:
                    stop.wait(poll)
                else:
                    time.sleep(poll)
    finally:
        for tail in tails.values():
            tail.close()
