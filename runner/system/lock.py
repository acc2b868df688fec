"""One runner per (state file, site): an exclusive `flock` on a dedicated lock file.

The lock belongs to an open file description, so the kernel releases it when
the holder dies, however it dies (`kill -9` included): a stale lock file never
blocks the next runner. The holder's pid is written into the file for the
message a second runner prints; it is never trusted for anything else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from types import TracebackType

from runner.errors import LockHeldError, StateError, UnsafePathError
from runner.system.fs import current_modes, ensure_runner_dir, give_mode, site_file


def lock_path_for(state_path: Path, site: str) -> Path:
    """The lock file of one site on one state file: `<state path>.<site>.lock`."""
    return site_file(state_path, site, "lock")


_PID_RECORD = 32
"""Most bytes of the lock file read for the holder's pid."""

_HOLDER_WAIT_S = 0.5
"""How long a refused runner waits for the new holder's pid when the file still names a dead one."""


def _read_holder(fd: int) -> int | None:
    """The pid written into the lock file by its holder, if it is readable."""
    try:
        text = os.pread(fd, _PID_RECORD, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _running(pid: int) -> bool:
    """True if a process with this pid exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_holder(fd: int) -> int | None:
    """The pid of the lock's holder, once the file names a live process (None if it never does).

    A runner that has just taken the lock writes its pid a moment later; until then the file is
    empty or still names the previous holder, who may be dead (killed with SIGKILL). Neither
    may be reported as the holder, so a dead or missing pid is read again for a short while.
    """
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        pid = _read_holder(fd)
        if pid is not None and _running(pid):
            return pid
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


class RunnerLock:
    """The exclusive lock of one runner; held until `release()` or the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises LockHeldError (naming the holder's pid) when another runner
        holds it, UnsafePathError when the lock path is a symlink or not a
        regular file, and StateError when the file cannot be opened. Taking a
        lock this object already holds does nothing.
        """
        if self._fd is not None:
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _live_holder(fd)
            os.close(fd)
            raise LockHeldError(self.path, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StateError(
                f"cannot lock {self.path}: {exc.strerror}; "
                "put the state file on a local file system that supports flock"
            ) from exc
        try:
            record = f"{os.getpid()}\n".encode("ascii")
            os.pwrite(fd, record, 0)  # never empty in between; a mixed read is read again
            os.ftruncate(fd, len(record))
        except OSError:
            pass  # the pid is only for the message of a second runner
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the lock file stays; deleting it would race with a new holder)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunnerLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _open(self) -> int:
        """Open (create, with the file mode) the lock file, refusing symlinks and non-regular files."""
        if self.path.is_symlink():
            raise self._unsafe("is a symbolic link")
        try:
            ensure_runner_dir(self.path.parent, state=True)
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.path, flags, current_modes().file)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._unsafe("is a symbolic link") from exc
            raise StateError(
                f"cannot open the lock file {self.path}: {exc.strerror}; "
                "check that its directory exists and is writable by this user"
            ) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._unsafe("is not a regular file")
        give_mode(fd, current_modes().file)
        return fd

    def _unsafe(self, what: str) -> UnsafePathError:
        return UnsafePathError(
            f"the lock file {self.path} {what}; remove it (the runner creates a regular file there)"
        )
