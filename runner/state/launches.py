"""The launch journal: which recorded attempts were handed to the operating system.

Attempts are committed to the state file before their launch, several at a time and some
ahead of a free slot, so after `kill -9` the state alone cannot tell an attempt that ran
from one still waiting for its slot. Just before each launch a worker appends the
attempt's id to this journal: one `write`, no fsync, because what it must survive is the
death of the runner process, and the kernel keeps the written bytes. On the next start an
open attempt that is not in the journal and left no trace (no output or events file, no
recorded checkpoint) never ran, and is withdrawn instead of being reported `interrupted`.

After a power loss the journal's last lines may be gone: an attempt in flight at that
moment may then be withdrawn and its item run again, as an item in flight at a crash may
anyway. The file is one per runner site, next to the state file, and is emptied once
every attempt it vouches for has ended.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from runner.errors import UnsafePathError
from runner.system.fs import open_runner_file, site_file

COMPACT_AT = 1024 * 1024
"""Bytes after which the journal is rewritten with only the attempts still open."""


def journal_path(state_file: Path, site: str) -> Path:
    """The launch journal of `site` next to `state_file`: `<state file>.<site>.launches`."""
    return site_file(state_file, site, "launches")


def read_launched(path: Path) -> set[int]:
    """The attempt ids in a journal (a missing file: none; a torn or foreign line is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    return {int(line) for line in data.split(b"\n") if line.isdigit()}


class LaunchJournal:
    """Append-only record of launched attempt ids; `record` is safe from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = open_runner_file(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def record(self, attempt_id: int) -> None:
        """Note that `attempt_id` is about to be launched.

        A failed write (a full disk) is ignored: the launch goes on, and after a crash
        the attempt would only be withdrawn and run again, as after a power loss.
        """
        line = b"%d\n" % attempt_id
        with self._lock, contextlib.suppress(OSError):
            os.write(self._fd, line)
            self._size += len(line)

    @property
    def oversized(self) -> bool:
        """The journal has grown past COMPACT_AT bytes: time to `rewrite` it."""
        return self._size > COMPACT_AT

    def rewrite(self, keep: Iterable[int]) -> bool:
        """Replace the journal by `keep` (a superset of the launched attempts still open).

        On failure (a full disk) the journal is left as it was, which only lists more
        attempts than needed: those are taken as launched. Returns whether it was replaced.
        """
        data = b"".join(b"%d\n" % attempt_id for attempt_id in keep)
        fresh = self.path.with_name(self.path.name + ".new")
        try:
            fd = open_runner_file(fresh, os.O_WRONLY | os.O_TRUNC | os.O_APPEND)
        except UnsafePathError:
            return False
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.replace(fresh, self.path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(fresh)
            return False
        with self._lock:
            old, self._fd, self._size = self._fd, fd, len(data)
        if old != -1:
            os.close(old)
        return True

    def close(self) -> None:
        """Close the file (the journal stays on disk for the next start)."""
        with self._lock:
            if self._fd != -1:
                os.close(self._fd)
                self._fd = -1
