"""A child's output streams: masking, the tail kept in memory, the bounded file, a capture,
the output rules' line scan.

Each stream's file keeps at most `output_limit` bytes: beyond it the oldest
bytes are overwritten in a ring, and at the end the file is rewritten as a
truncation line followed by the tail in order. A file that cannot be written
(full disk, any OSError) is given up from that byte on: the stream's
`file_error` says which file, from which byte and why, and at the end that note
is appended to the file as a last line when there is room for it again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from pathlib import Path

from runner.masking import Masker, StreamMasker
from runner.process.linescan import LineScanner
from runner.process.spec import TAIL_BYTES
from runner.system.fs import current_modes, give_mode, make_dirs

_COPY_SIZE = 1024 * 1024


@functools.lru_cache(maxsize=16)
def shared_masker(secrets: tuple[str, ...]) -> Masker:
    """One (immutable, thread-safe) masker per set of secrets, shared by every attempt."""
    return Masker(secrets)


def os_error_message(exc: OSError) -> str:
    """`No such file or directory: './x'` from an OSError."""
    message = exc.strerror or str(exc)
    if exc.filename is not None:
        message += f": {os.fsdecode(exc.filename)!r}"
    return message


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_output(path: Path | str) -> int:
    """Open (create, truncate) an output file with the file mode, refusing symlinks."""
    modes = current_modes()
    make_dirs(Path(path).parent)
    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, modes.file)
    give_mode(fd, modes.file, exact=True)
    return fd


class _RingFile:
    """An output file keeping at most `limit` bytes (the tail) in a ring, ordered at the end."""

    def __init__(self, path: Path | str, limit: int) -> None:
        self._path = path
        self._limit = max(limit, 0)
        self._fd: int | None = None
        self._pos = 0
        self._total = 0
        self.error: str | None = None
        self._note_pending = False
        """A write to the open file failed: the error goes into the file at the end."""

    def write(self, data: bytes) -> None:
        """Append masked bytes; beyond the limit the oldest bytes are overwritten."""
        if self.error is not None:
            return
        start = self._total
        try:
            if self._fd is None:
                self._fd = _open_output(self._path)
            self._total += len(data)
            if self._limit == 0:
                return
            view = memoryview(data)
            if len(view) > self._limit:
                self._pos = (self._pos + len(view) - self._limit) % self._limit
                view = view[-self._limit :]
            first = min(len(view), self._limit - self._pos)
            _pwrite_all(self._fd, view[:first], self._pos)
            if first < len(view):
                _pwrite_all(self._fd, view[first:], 0)
            self._pos = (self._pos + len(view)) % self._limit
        except OSError as exc:
            self._fail(f"could not be written from byte {start} on", exc)

    def finish(self) -> None:
        """Close the file; if bytes were dropped, rewrite it as truncation line + tail in order.

        A file given up on an error gets that error as its last line, if there is room now.
        """
        if self._fd is not None:
            try:
                if self._total > self._limit and self.error is None:
                    self._rewrite(self._fd)
            except OSError as exc:
                self._fail("could not be put in order (it holds the tail as a ring)", exc)
            finally:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
        if self._note_pending:
            self._note_pending = False
            self._append_note()

    def _rewrite(self, fd: int) -> None:
        dropped = self._total - self._limit
        path = Path(self._path)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.open(tmp, flags, current_modes().file)
        give_mode(out, current_modes().file)
        try:
            os.write(out, f"[... {dropped} bytes truncated ...]\n".encode("ascii"))
            for start, end in ((self._pos, self._limit), (0, self._pos)):
                offset = start
                while offset < end:
                    chunk = os.pread(fd, min(_COPY_SIZE, end - offset), offset)
                    if not chunk:
                        break
                    os.write(out, chunk)
                    offset += len(chunk)
            os.close(out)
            out = -1
            os.replace(tmp, self._path)
        except OSError:
            if out != -1:
                os.close(out)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _fail(self, what: str, exc: OSError) -> None:
        self.error = f"output file {self._path} {what}: {os_error_message(exc)}"
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._note_pending = True

    def _append_note(self) -> None:
        """Best effort: the error as the file's last line (it fails again if the disk is still full)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        with contextlib.suppress(OSError):
            fd = os.open(self._path, flags)
            try:
                _write_all(fd, f"\n[runner: {self.error}]\n".encode())
            finally:
                os.close(fd)


class OutputStream:
    """One output stream of the child: masking, the tail, the bounded file, an optional capture."""

    def __init__(
        self,
        path: Path | str | None,
        limit: int,
        masker: Masker,
        capture_limit: int | None,
        scanner: LineScanner | None = None,
    ) -> None:
        self._masker = StreamMasker(masker)
        self._scanner = scanner if scanner else None
        self._file = _RingFile(path, limit) if path is not None else None
        self._limit = limit
        self._tail = bytearray()
        self._total = 0
        self._capture = bytearray() if capture_limit is not None else None
        self._capture_limit = capture_limit or 0

    def feed(self, data: bytes) -> None:
        """Take the next bytes read from the pipe."""
        self._emit(self._masker.feed(data))

    def finish(self) -> None:
        """The pipe is closed: flush the masker and finish the file."""
        self._emit(self._masker.flush())
        if self._scanner is not None:
            self._scanner.finish()
        if self._file is not None:
            self._file.finish()

    @property
    def file_error(self) -> str | None:
        """Why the output file is incomplete (which file, from which byte, the OS error), or None."""
        return self._file.error if self._file is not None else None

    @property
    def tail(self) -> str:
        """The last bytes of the stream, decoded."""
        return bytes(self._tail).decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        """More bytes came than are kept (`output_limit`, or the capture limit)."""
        if self._capture is not None:
            return self._total > self._capture_limit
        return self._total > self._limit

    @property
    def overflowed(self) -> bool:
        """A capture (run_capture only) received more than its limit: reading on is pointless."""
        return self._capture is not None and self._total > self._capture_limit

    @property
    def captured(self) -> bytes:
        """The captured head of the stream (run_capture only)."""
        return bytes(self._capture) if self._capture is not None else b""

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self._total += len(data)
        self._add_tail(data)
        if self._capture is not None:
            room = self._capture_limit - len(self._capture)
            if room > 0:
                self._capture += data[:room]
        if self._file is not None:
            self._file.write(data)
        if self._scanner is not None:
            self._scanner.feed(data)

    def _add_tail(self, data: bytes) -> None:
        if len(data) >= TAIL_BYTES:
            self._tail[:] = data[-TAIL_BYTES:]
            return
        self._tail += data
        excess = len(self._tail) - TAIL_BYTES
        if excess > 0:
            del self._tail[:excess]
