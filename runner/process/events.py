"""Following a child's events file while it runs: growth is activity, complete lines go on.

Lines are handed to the callback masked and without their end of line; an
unterminated last line is kept until it is completed (or dropped at the end),
and a line longer than EVENT_LINE_LIMIT is dropped whole. A replaced or
truncated file is read again from its start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from runner.masking import Masker

EVENT_LINE_LIMIT = 1024 * 1024
"""Longest events line delivered; longer lines are dropped whole."""

_READ_CHUNK = 1024 * 1024


class EventsReader:
    """Follows the events file: growth counts as activity; complete lines go to the callback."""

    def __init__(
        self, path: Path | str, on_events: Callable[[list[bytes]], None] | None, masker: Masker
    ) -> None:
        self._path = path
        self._on_events = on_events
        self._masker = masker
        self._fd: int | None = None
        self._ino = -1
        self._offset = 0
        self._partial = bytearray()
        self._dropping = False

    def poll(self) -> bool:
        """Read what was appended since the last poll; True if the file grew."""
        if self._on_events is None:
            try:
                size = os.stat(self._path).st_size
            except OSError:
                return False
            grew = size != self._offset
            self._offset = size
            return grew
        fd = self._open_current()
        if fd is None:
            return False
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return False
        while self._offset < size:
            chunk = os.pread(fd, min(_READ_CHUNK, size - self._offset), self._offset)
            if not chunk:
                break
            self._offset += len(chunk)
            lines = self._split(chunk)
            if lines:
                self._on_events([self._masker.mask_bytes(line) for line in lines])
        return True

    def close(self) -> None:
        """Close the file; an unterminated last line is not delivered."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open_current(self) -> int | None:
        """The fd of the file now at the path (reopened if it was replaced or truncated)."""
        try:
            current = os.stat(self._path)
        except OSError:
            return self._fd
        if self._fd is None or current.st_ino != self._ino or current.st_size < self._offset:
            self.close()
            try:
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
            self._ino = os.fstat(self._fd).st_ino
            self._offset = 0
            self._partial.clear()
            self._dropping = False
        return self._fd

    def _split(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            piece = data[start:newline]
            start = newline + 1
            if self._dropping:
                self._dropping = False
                continue
            if len(self._partial) + len(piece) > EVENT_LINE_LIMIT:
                self._partial.clear()
                continue
            line = bytes(self._partial) + piece if self._partial else piece
            self._partial.clear()
            line = line.rstrip(b"\r")
            if line.strip():
                lines.append(line)
        rest = data[start:]
        if not self._dropping and rest:
            if len(self._partial) + len(rest) > EVENT_LINE_LIMIT:
                self._partial.clear()
                self._dropping = True
            else:
                self._partial += rest
        return lines
