"""Supervising one child to its end: `run_process`.

The child starts with no stdin, in a new session (so it leads its own process
group). The calling thread drains both output pipes with a poll loop, follows
the events file, and enforces the whole-attempt timeout and the idle timeout.
A timed-out, hung or interrupted child is killed with its whole tree through
the one kill sequence (`runner.process.kill`), spread over the loop so output
keeps draining during the grace.

The normal path costs little beyond `Popen` itself: no psutil, no sleeps, the
child's exit is awaited through a pidfd on Linux. psutil is only used on the
kill path.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import threading
import time

from runner.process.events import EventsReader
from runner.process.kill import TreeKill, signal_group
from runner.process.linescan import LineScanner
from runner.process.output import OutputStream, os_error_message, shared_masker
from runner.process.reaper import CHILDREN
from runner.process.spec import MARKER_ENV, LaunchSpec, Outcome, ProcessResult

_READ_SIZE = 64 * 1024
_EVENTS_POLL_S = 0.2
_DRAIN_AFTER_EXIT_S = 1.0
_CANCEL_POLL_S = 0.1
_EXIT_POLL_S = 0.05
_KILL_POLL_S = 0.05
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


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
    CHILDREN.forget(proc.pid)


_RUNNING, _KILLING, _WAIT_FULL, _DRAINING, _DONE = range(5)


def _scanner(spec: LaunchSpec, stream: str) -> LineScanner | None:
    """The output rules' scan of one stream, if any rule reads it."""
    if not spec.line_rules or spec.on_line_matches is None:
        return None
    scanner = LineScanner(stream, spec.line_rules, spec.on_line_matches, spec.line_limit)
    return scanner if scanner else None


class Attempt:
    """Runs one LaunchSpec to its end. Used once, from one thread."""

    def __init__(
        self, spec: LaunchSpec, cancel: threading.Event | None, capture_limit: int | None
    ) -> None:
        self._spec = spec
        self._cancel = cancel
        masker = shared_masker(tuple(spec.secrets))
        self._stdout = OutputStream(
            spec.stdout_path, spec.output_limit, masker, capture_limit, _scanner(spec, "stdout")
        )
        self._stderr = OutputStream(
            spec.stderr_path, spec.output_limit, masker, None, _scanner(spec, "stderr")
        )
        self._events = (
            EventsReader(spec.events_path, spec.on_events, masker)
            if spec.events_path is not None
            else None
        )
        self._started_at = time.time()
        self._t0 = time.monotonic()
        self._outcome: Outcome = "exited"
        self._phase = _RUNNING
        self._exited = False
        self._tree_kill = not spec.wait_full_timeout
        self._kill: TreeKill | None = None
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
        token = CHILDREN.begin_spawn()
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
            error = os_error_message(exc)
        except (ValueError, TypeError) as exc:
            error = str(exc)
        finally:
            CHILDREN.end_spawn(token, proc.pid if proc is not None else None)
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
            CHILDREN.forget(proc.pid)
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

    def _read(self, poller: select.poll, fd: int, stream: OutputStream) -> None:
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
                if proc.returncode == 0:
                    self._phase = _WAIT_FULL  # a launcher that succeeded: the whole timeout
                else:
                    self._drain_from(now)  # a failure is reported when it happens
                return
            if not spec.wait_full_timeout:
                # The leader is an unreaped zombie: its group id cannot have been reused.
                signal_group(proc.pid, signal.SIGKILL)
            _reap(proc)
            self._drain_from(now)
        elif self._cancel is not None and self._cancel.is_set():
            self._start_kill(proc, "interrupted", now)
        elif self._stdout.overflowed:
            self._start_kill(proc, "overflowed", now)
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
            self._kill = TreeKill(proc.pid, proc.pid, self._spec.marker)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        self._phase = _KILLING
        self._phase_deadline = now + max(self._spec.grace, 0.0)

    def _tree_gone(self, now: float) -> bool:
        """During the grace: the child and everything collected have ended (checked every 50 ms)."""
        if not self._exited or now < self._next_alive_check:
            return False
        self._next_alive_check = now + _KILL_POLL_S
        return self._kill is None or self._kill.ended()

    def _finish_kill(self, proc: subprocess.Popen[bytes]) -> None:
        if self._kill is not None:
            self._kill.force()
        elif not self._exited:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        _reap(proc)
        self._exited = True
        if self._kill is not None:
            self._kill.settle()

    def _emergency_kill(self, proc: subprocess.Popen[bytes]) -> None:
        """An exception escaped the loop: leave no running child behind."""
        if proc.returncode is not None:
            return
        if self._tree_kill:
            signal_group(proc.pid, signal.SIGKILL)
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
            output_error="; ".join(
                e for e in (self._stdout.file_error, self._stderr.file_error) if e is not None
            )
            or None,
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
    process should not keep writing to the inherited stdout/stderr. A main child
    that exits 0 early is followed by the rest of the timeout; one that fails
    (non-zero exit, killed by a signal) ends the wait at once.
    """
    return Attempt(spec, cancel, capture_limit=None).run()
