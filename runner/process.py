"""Run one child process: its own session, bounded output, timeouts, whole-tree kill.

`run_process` starts a child with no stdin, in a new session (so it leads its
own process group), drains both output pipes in the calling thread with a
poll loop, keeps at most `output_limit` bytes of each stream in its file (the
tail), masks secret values, follows the child's events file, and enforces the
whole-attempt timeout and the idle timeout. A timed-out, hung or interrupted
child is killed with its whole tree: the process group, every descendant seen
before the kill, and every process that carries the attempt's marker in its
environment (which catches grandchildren that called `setsid`).

The normal path costs little beyond `Popen` itself: no psutil, no sleeps, the
child's exit is awaited through a pidfd on Linux. psutil is only used on the
kill path.

Thread safety: `run_process` keeps no global state except a registry of the
direct children it is waiting for, so that `reap_orphans` (useful once the
runner is a child subreaper) never reaps a child whose exit status a thread is
about to collect. Every child of the runner must therefore be started through
this module (`run_process` or `run_capture`): `reap_orphans` reaps any other
exited child it finds.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from runner.masking import Masker, StreamMasker

if TYPE_CHECKING:
    import psutil

Outcome = Literal["exited", "timeout", "hung", "start-failed", "interrupted"]

MARKER_ENV = "RUNNER_ATTEMPT_MARKER"
"""Environment variable that carries an attempt's marker into its process tree."""

TAIL_BYTES = 64 * 1024
"""How much of the end of each stream a `ProcessResult` carries."""

EVENT_LINE_LIMIT = 1024 * 1024
"""Longest events line delivered; longer lines are dropped whole."""

_READ_SIZE = 64 * 1024
_COPY_SIZE = 1024 * 1024
_EVENTS_POLL_S = 0.2
_DRAIN_AFTER_EXIT_S = 1.0
_CANCEL_POLL_S = 0.1
_EXIT_POLL_S = 0.05
_KILL_POLL_S = 0.05
_DEAD_WAIT_S = 2.0
_CAPTURE_GRACE_S = 2.0
_PR_SET_CHILD_SUBREAPER = 36
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to run one child process."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    """The complete environment of the child."""
    shell: bool = False
    """True: `argv` is `[script]`, run as `/bin/sh -c script`."""
    timeout: float | None = None
    """Seconds for the whole attempt."""
    idle_timeout: float | None = None
    """No output on either stream and no growth of `events_path` for this long: hung."""
    stdout_path: Path | str | None = None
    """File for stdout, created (mode 0600) on the first byte; None: discarded (tail kept)."""
    stderr_path: Path | str | None = None
    output_limit: int = 10 * 1024 * 1024
    """Bytes kept per stream file; beyond it the tail is kept, after a truncation line."""
    events_path: Path | str | None = None
    on_events: Callable[[list[bytes]], None] | None = None
    """Called in the calling thread with new complete lines of `events_path` (masked, no EOL)."""
    secrets: Sequence[str] = ()
    """Values replaced by `***` in the output files, the tails and the events lines."""
    wait_full_timeout: bool = False
    """`wait: timeout` steps: wait for `timeout` even after an early exit; kill nothing left."""
    grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL."""
    marker: str | None = None
    """Put in the child's environment as RUNNER_ATTEMPT_MARKER; used to find escaped descendants."""


@dataclass(frozen=True)
class ProcessResult:
    """What happened to one child process."""

    outcome: Outcome
    exit_code: int | None
    """None when the child died of a signal (then `signal` is set) or never started."""
    signal: int | None
    error: str | None
    """For `start-failed`: the operating system's message; otherwise None."""
    pid: int | None
    started_at: float
    """`time.time()` at the launch."""
    duration_s: float
    stdout_tail: str
    """The last 64 KiB of stdout (masked), decoded as UTF-8 with replacement characters."""
    stderr_tail: str
    stdout_truncated: bool
    """More than `output_limit` bytes came (the file holds only the tail); run_capture: `limit`."""
    stderr_truncated: bool
    stdout: bytes = b""
    """Only filled by `run_capture`: the whole stdout up to its limit."""


# --------------------------------------------------------------------------------------------
# Direct children and orphan reaping


class _ChildRegistry:
    """The direct children threads are waiting for; keeps `reap_orphans` away from them.

    Spawns never wait for reapers. A pid becomes known only when `Popen`
    returns, so a reaper that finds an exited child it does not know waits for
    the spawns that were already under way when it looked (a later spawn
    cannot have produced a pid that had already exited): then the pid is
    either registered (not to be touched) or truly an orphan.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._live: set[int] = set()
        self._in_flight: set[int] = set()
        self._next_token = 0
        self.reap_lock = threading.Lock()

    def begin_spawn(self) -> int:
        """Announce a spawn; returns the token to give to `end_spawn`."""
        with self._cond:
            token = self._next_token
            self._next_token += 1
            self._in_flight.add(token)
            return token

    def end_spawn(self, token: int, pid: int | None) -> None:
        """Register the spawned child's pid (None: the spawn failed)."""
        with self._cond:
            self._in_flight.discard(token)
            if pid is not None:
                self._live.add(pid)
            self._cond.notify_all()

    def forget(self, pid: int) -> None:
        """The child was reaped by its owner."""
        with self._cond:
            self._live.discard(pid)

    def is_orphan(self, pid: int) -> bool:
        """True if the exited child `pid` is no registered direct child (may wait for spawns)."""
        with self._cond:
            earlier = set(self._in_flight)
            while pid not in self._live and earlier & self._in_flight:
                self._cond.wait()
            return pid not in self._live


_REGISTRY = _ChildRegistry()


def _waitable(pid: int) -> bool:
    """True if the child `pid` has exited and is not reaped yet (peek, does not reap)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is not None and info.si_pid == pid


def _reap_orphan(pid: int) -> bool:
    """Reap one exited child if it is an orphan, not a registered direct child."""
    if not _REGISTRY.is_orphan(pid):
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return reaped == pid


def _listed_children() -> list[int]:
    """Pids of every child of this process (all threads), from /proc; empty where unavailable."""
    pids: list[int] = []
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/children", encoding="ascii") as handle:
                pids.extend(int(part) for part in handle.read().split())
        except (OSError, ValueError):
            continue
    return pids


def reap_orphans() -> int:
    """Reap exited children that no thread of this module waits for; return how many.

    Once the runner is a child subreaper, orphaned descendants of its children
    are re-parented to it and stay zombies until reaped. This peeks with
    `waitid(WNOWAIT)` and reaps only pids that are not registered direct
    children, so no attempt ever loses its child's exit status (never
    `waitpid(-1)`).
    """
    if not hasattr(os, "waitid"):
        return 0
    count = 0
    with _REGISTRY.reap_lock:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid == 0:
                break
            if not _reap_orphan(info.si_pid):
                # A registered child is first in line: look at the others one by one.
                count += sum(
                    1 for pid in _listed_children() if _waitable(pid) and _reap_orphan(pid)
                )
                break
            count += 1
    return count


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux); False elsewhere.

    Orphaned descendants (including those that called `setsid`) are then
    re-parented to this process, so the kill path can find them and
    `reap_orphans` can reap them at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    zero = ctypes.c_ulong(0)
    result = libc.prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), zero, zero, zero)
    return int(result) == 0


# --------------------------------------------------------------------------------------------
# Whole-tree kill (psutil only here)


def _marked_processes(marker: str) -> list[psutil.Process]:
    """Every process (but this one) whose environment carries RUNNER_ATTEMPT_MARKER=marker."""
    import psutil

    found: list[psutil.Process] = []
    me = os.getpid()
    for proc in psutil.process_iter(["environ"]):
        environ = proc.info.get("environ")
        if proc.pid != me and environ and environ.get(MARKER_ENV) == marker:
            found.append(proc)
    return found


def _collect(pid: int, marker: str | None) -> list[psutil.Process]:
    """Descendants of `pid` and processes carrying `marker`, gathered before any signal."""
    import psutil

    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            found[child.pid] = child
    if marker:
        for proc in _marked_processes(marker):
            found.setdefault(proc.pid, proc)
    found.pop(pid, None)
    found.pop(os.getpid(), None)
    return list(found.values())


def _signal_group(pgid: int | None, sig: int) -> None:
    """Signal a process group, never this process's own group."""
    if pgid is None or pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_procs(procs: Sequence[psutil.Process], sig: int) -> None:
    """Signal each process that is still the one collected (psutil guards against pid reuse)."""
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _alive(procs: Sequence[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (zombies count as dead)."""
    import psutil

    alive: list[psutil.Process] = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def _wait_dead(procs: Sequence[psutil.Process], timeout: float) -> None:
    """Wait (polling, kill path only) until every process is dead or `timeout` passed."""
    deadline = time.monotonic() + timeout
    pending = _alive(procs)
    delay = 0.001
    while pending and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, _KILL_POLL_S)
        pending = _alive(pending)


def sweep_marker(marker: str) -> int:
    """SIGKILL every process whose environment carries RUNNER_ATTEMPT_MARKER=marker; count them.

    Scans every process's environment (a few milliseconds): used on the kill
    path and to clean up after an earlier runner, never on a normal exit.
    """
    import psutil

    if not marker:
        return 0
    count = 0
    for proc in _marked_processes(marker):
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
            count += 1
    return count


def kill_tree(pid: int, pgid: int | None, marker: str | None, grace: float) -> None:
    """Kill a process, its group, its descendants and every process carrying `marker`.

    Descendants are collected before any signal (they are re-parented once
    their parent dies). Everything gets SIGTERM, then SIGKILL after `grace`
    seconds for what still runs; orphans re-parented to this process are
    reaped. Never signals this process or its own group.
    """
    import psutil

    targets: list[psutil.Process] = []
    if pid > 1 and pid != os.getpid():
        with contextlib.suppress(psutil.Error):
            targets.append(psutil.Process(pid))
        targets.extend(_collect(pid, marker))
    elif marker:
        targets.extend(_marked_processes(marker))
    _signal_group(pgid, signal.SIGTERM)
    _signal_procs(targets, signal.SIGTERM)
    if grace > 0:
        _wait_dead(targets, grace)
    _signal_group(pgid, signal.SIGKILL)
    _signal_procs(_alive(targets), signal.SIGKILL)
    if marker:
        sweep_marker(marker)
    _wait_dead(targets, _DEAD_WAIT_S)
    reap_orphans()


# --------------------------------------------------------------------------------------------
# Output: masking, bounded files, tails, events


@functools.lru_cache(maxsize=16)
def _masker(secrets: tuple[str, ...]) -> Masker:
    """One (immutable, thread-safe) masker per set of secrets, shared by every attempt."""
    return Masker(secrets)


def _os_error_message(exc: OSError) -> str:
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


def _open_private(path: Path | str) -> int:
    """Open (create, truncate) an output file with mode 0600, refusing symlinks."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    if os.fstat(fd).st_mode & 0o777 != 0o600:
        os.fchmod(fd, 0o600)
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

    def write(self, data: bytes) -> None:
        """Append masked bytes; beyond the limit the oldest bytes are overwritten."""
        if self.error is not None:
            return
        try:
            if self._fd is None:
                self._fd = _open_private(self._path)
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
            self._fail(exc)

    def finish(self) -> None:
        """Close the file; if bytes were dropped, rewrite it as truncation line + tail in order."""
        if self._fd is None:
            return
        try:
            if self._total > self._limit and self.error is None:
                self._rewrite(self._fd)
        except OSError as exc:
            self._fail(exc)
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _rewrite(self, fd: int) -> None:
        dropped = self._total - self._limit
        path = Path(self._path)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.open(tmp, flags, 0o600)
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

    def _fail(self, exc: OSError) -> None:
        self.error = f"output file {self._path} could not be written: {_os_error_message(exc)}"
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Stream:
    """One output stream of the child: masking, the tail, the bounded file, an optional capture."""

    def __init__(
        self, path: Path | str | None, limit: int, masker: Masker, capture_limit: int | None
    ) -> None:
        self._masker = StreamMasker(masker)
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
        if self._file is not None:
            self._file.finish()
            if self._file.error is not None:
                self._add_tail(f"\n[runner: {self._file.error}]\n".encode())

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

    def _add_tail(self, data: bytes) -> None:
        if len(data) >= TAIL_BYTES:
            self._tail[:] = data[-TAIL_BYTES:]
            return
        self._tail += data
        excess = len(self._tail) - TAIL_BYTES
        if excess > 0:
            del self._tail[:excess]


class _EventsReader:
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
            chunk = os.pread(fd, min(_COPY_SIZE, size - self._offset), self._offset)
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


# --------------------------------------------------------------------------------------------
# One attempt


def _pidfd_open(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the child has exited, without reaping it where the platform allows."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return proc.poll() is not None
    try:
        info = waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None and info.si_pid == proc.pid


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Collect a direct child's exit status, then drop it from the registry."""
    proc.wait()
    _REGISTRY.forget(proc.pid)


_RUNNING, _KILLING, _WAIT_FULL, _DRAINING, _DONE = range(5)


class _Attempt:
    """Runs one LaunchSpec to its end. Used once, from one thread."""

    def __init__(
        self, spec: LaunchSpec, cancel: threading.Event | None, capture_limit: int | None
    ) -> None:
        self._spec = spec
        self._cancel = cancel
        masker = _masker(tuple(spec.secrets))
        self._stdout = _Stream(spec.stdout_path, spec.output_limit, masker, capture_limit)
        self._stderr = _Stream(spec.stderr_path, spec.output_limit, masker, None)
        self._events = (
            _EventsReader(spec.events_path, spec.on_events, masker)
            if spec.events_path is not None
            else None
        )
        self._started_at = time.time()
        self._t0 = time.monotonic()
        self._outcome: Outcome = "exited"
        self._phase = _RUNNING
        self._exited = False
        self._tree_kill = not spec.wait_full_timeout
        self._collected: list[psutil.Process] = []
        self._open_pipes: set[int] = set()
        self._phase_deadline = 0.0
        self._next_alive_check = 0.0
        self._last_activity = self._t0
        self._next_events_poll = self._t0 + _EVENTS_POLL_S
        self._deadline = self._t0 + spec.timeout if spec.timeout is not None else None

    # -- entry -----------------------------------------------------------------------------

    def run(self) -> ProcessResult:
        """Start the child and supervise it; never raises for a child that cannot start."""
        if self._cancel is not None and self._cancel.is_set():
            return self._not_started("interrupted", None)
        argv = self._argv()
        if isinstance(argv, str):
            return self._not_started("start-failed", argv)
        env = dict(self._spec.env)
        if self._spec.marker:
            env[MARKER_ENV] = self._spec.marker
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        proc: subprocess.Popen[bytes] | None = None
        error: str | None = None
        token = _REGISTRY.begin_spawn()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                cwd=self._spec.cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            error = _os_error_message(exc)
        except (ValueError, TypeError) as exc:
            error = str(exc)
        finally:
            _REGISTRY.end_spawn(token, proc.pid if proc is not None else None)
            os.close(out_w)
            os.close(err_w)
        if proc is None:
            os.close(out_r)
            os.close(err_r)
            return self._not_started("start-failed", error or "the process could not be started")
        self._open_pipes = {out_r, err_r}
        try:
            self._supervise(proc, out_r, err_r)
        except BaseException:
            self._emergency_kill(proc)
            raise
        finally:
            _REGISTRY.forget(proc.pid)
            self._stdout.finish()
            self._stderr.finish()
            if self._events is not None:
                self._events.close()
        return self._result(proc)

    def _argv(self) -> list[str] | str:
        """The argv to execute, or a start-failure message."""
        argv = [str(part) for part in self._spec.argv]
        if self._spec.shell:
            if len(argv) != 1:
                return (
                    f"a shell command must be exactly one script string, got {len(argv)} "
                    "elements; join them into one string or set shell to false"
                )
            return ["/bin/sh", "-c", argv[0]]
        if not argv:
            return "the command is empty; give at least the program to run"
        return argv

    # -- the loop --------------------------------------------------------------------------

    def _supervise(self, proc: subprocess.Popen[bytes], out_r: int, err_r: int) -> None:
        poller = select.poll()
        streams = {out_r: self._stdout, err_r: self._stderr}
        pidfd = _pidfd_open(proc.pid)
        try:
            for fd in streams:
                os.set_blocking(fd, False)
                poller.register(fd, _READABLE)
            if pidfd is not None:
                poller.register(pidfd, select.POLLIN)
            while self._phase != _DONE:
                wait = self._wait_time(pidfd is not None)
                for fd, _ in poller.poll(None if wait is None else math.ceil(wait * 1000)):
                    if fd == pidfd:
                        self._exited = True
                        poller.unregister(fd)
                    else:
                        self._read(poller, fd, streams[fd])
                if pidfd is None and not self._exited:
                    self._exited = _has_exited(proc)
                self._step(proc, time.monotonic())
            if self._events is not None:
                self._events.poll()
        finally:
            for fd in self._open_pipes:
                os.close(fd)
            self._open_pipes.clear()
            if pidfd is not None:
                os.close(pidfd)

    def _read(self, poller: select.poll, fd: int, stream: _Stream) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        if data:
            stream.feed(data)
            self._last_activity = time.monotonic()
        else:
            poller.unregister(fd)
            self._open_pipes.discard(fd)
            os.close(fd)

    def _wait_time(self, have_pidfd: bool) -> float | None:
        now = time.monotonic()
        wake: list[float] = []
        if self._phase == _RUNNING:
            if self._deadline is not None:
                wake.append(self._deadline)
            if self._spec.idle_timeout is not None:
                wake.append(self._last_activity + self._spec.idle_timeout)
        elif self._phase == _WAIT_FULL and self._deadline is not None:
            wake.append(self._deadline)
        elif self._phase == _KILLING:
            wake.extend((self._phase_deadline, now + _KILL_POLL_S))
        elif self._phase == _DRAINING:
            wake.append(self._phase_deadline)
        if self._events is not None:
            wake.append(self._next_events_poll)
        if self._cancel is not None and self._phase in (_RUNNING, _WAIT_FULL):
            wake.append(now + _CANCEL_POLL_S)
        if not have_pidfd and not self._exited:
            wake.append(now + _EXIT_POLL_S)
        if not wake:
            return None
        return max(0.0, min(wake) - now)

    def _step(self, proc: subprocess.Popen[bytes], now: float) -> None:
        if self._events is not None and now >= self._next_events_poll:
            if self._events.poll():
                self._last_activity = now
            self._next_events_poll = now + _EVENTS_POLL_S
        pipes_open = bool(self._open_pipes)
        if self._phase == _RUNNING:
            self._step_running(proc, now)
        elif self._phase == _KILLING:
            if now >= self._phase_deadline or self._tree_gone(now):
                self._finish_kill(proc)
                self._drain_from(time.monotonic())
        elif self._phase == _WAIT_FULL:
            if self._cancel is not None and self._cancel.is_set():
                self._outcome = "interrupted"
                self._phase = _DONE
            elif self._deadline is not None and now >= self._deadline:
                self._phase = _DONE
        if self._phase == _DRAINING and (not pipes_open or now >= self._phase_deadline):
            self._phase = _DONE

    def _step_running(self, proc: subprocess.Popen[bytes], now: float) -> None:
        spec = self._spec
        if self._exited:
            if spec.wait_full_timeout and self._deadline is not None:
                _reap(proc)
                self._phase = _WAIT_FULL
                return
            if not spec.wait_full_timeout:
                # The leader is an unreaped zombie: its group id cannot have been reused.
                _signal_group(proc.pid, signal.SIGKILL)
            _reap(proc)
            self._drain_from(now)
        elif self._cancel is not None and self._cancel.is_set():
            self._start_kill(proc, "interrupted", now)
        elif self._deadline is not None and now >= self._deadline:
            self._start_kill(proc, "timeout", now)
        elif spec.idle_timeout is not None and now - self._last_activity >= spec.idle_timeout:
            self._start_kill(proc, "hung", now)

    def _drain_from(self, now: float) -> None:
        self._phase = _DRAINING
        self._phase_deadline = now + _DRAIN_AFTER_EXIT_S

    # -- killing ---------------------------------------------------------------------------

    def _start_kill(self, proc: subprocess.Popen[bytes], outcome: Outcome, now: float) -> None:
        self._outcome = outcome
        if self._tree_kill:
            self._collected = _collect(proc.pid, self._spec.marker)
            _signal_group(proc.pid, signal.SIGTERM)
            _signal_procs(self._collected, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        self._phase = _KILLING
        self._phase_deadline = now + max(self._spec.grace, 0.0)

    def _tree_gone(self, now: float) -> bool:
        """During the grace: the child and everything collected have ended (checked every 50 ms)."""
        if not self._exited or now < self._next_alive_check:
            return False
        self._next_alive_check = now + _KILL_POLL_S
        return not _alive(self._collected)

    def _finish_kill(self, proc: subprocess.Popen[bytes]) -> None:
        if self._tree_kill:
            _signal_group(proc.pid, signal.SIGKILL)
        if not self._exited:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        if self._tree_kill:
            _signal_procs(_alive(self._collected), signal.SIGKILL)
            if self._spec.marker:
                sweep_marker(self._spec.marker)
        _reap(proc)
        self._exited = True
        if self._tree_kill:
            _wait_dead(self._collected, _DEAD_WAIT_S)
            reap_orphans()

    def _emergency_kill(self, proc: subprocess.Popen[bytes]) -> None:
        """An exception escaped the loop: leave no running child behind."""
        if proc.returncode is not None:
            return
        if self._tree_kill:
            _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        _reap(proc)

    # -- results ---------------------------------------------------------------------------

    def _result(self, proc: subprocess.Popen[bytes]) -> ProcessResult:
        code = proc.returncode
        return ProcessResult(
            outcome=self._outcome,
            exit_code=code if code is not None and code >= 0 else None,
            signal=-code if code is not None and code < 0 else None,
            error=None,
            pid=proc.pid,
            started_at=self._started_at,
            duration_s=time.monotonic() - self._t0,
            stdout_tail=self._stdout.tail,
            stderr_tail=self._stderr.tail,
            stdout_truncated=self._stdout.truncated,
            stderr_truncated=self._stderr.truncated,
            stdout=self._stdout.captured,
        )

    def _not_started(self, outcome: Outcome, error: str | None) -> ProcessResult:
        return ProcessResult(
            outcome=outcome,
            exit_code=None,
            signal=None,
            error=error,
            pid=None,
            started_at=self._started_at,
            duration_s=time.monotonic() - self._t0,
            stdout_tail="",
            stderr_tail="",
            stdout_truncated=False,
            stderr_truncated=False,
        )


def run_process(spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
    """Run one child to its end and report what happened; blocks the calling thread.

    Thread-safe: many threads may run attempts at once. A child that cannot
    start gives outcome `start-failed` with the OS message, never an exception.
    `cancel` (the runner is stopping) is handled like a timeout with outcome
    `interrupted`. In `wait_full_timeout` mode only the main child is ever
    signalled (when it still runs at the timeout); what it left behind is not
    touched, and its output pipes are closed at the timeout, so a background
    process should not keep writing to the inherited stdout/stderr.
    """
    return _Attempt(spec, cancel, capture_limit=None).run()


def run_capture(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    limit: int = 16 * 2**20,
) -> ProcessResult:
    """Run a short command and capture its stdout (the first `limit` bytes) in `result.stdout`.

    For group resolvers: no output files; `stdout_truncated` tells that more
    than `limit` bytes came. The child gets its own marker so a timeout kills
    its whole tree.
    """
    spec = LaunchSpec(
        argv=argv,
        cwd=cwd,
        env=env,
        timeout=timeout,
        output_limit=limit,
        grace=_CAPTURE_GRACE_S,
        marker=f"capture-{uuid.uuid4().hex}",
    )
    return _Attempt(spec, None, capture_limit=limit).run()
