"""The one kill sequence for a process tree (psutil is imported here only, on the kill path).

1. `TreeKill(pid, pgid, marker)`: collect the process, its descendants and every
   process carrying the marker (before any signal: descendants are re-parented
   once their parent dies), then SIGTERM the group and everything collected.
2. The grace: `ended()` tells when all of it is gone; `wait(grace)` blocks for it.
3. `force()`: SIGKILL the group and what still runs, and sweep the marker again
   (catches processes started during the grace, grandchildren that called `setsid`).
4. `settle()`: wait for the killed to die and reap the orphans re-parented to this process.

`kill_tree` runs the steps back to back; the supervisor spreads them over its
poll loop so that the child's output keeps draining during the grace. Nothing
here ever signals this process or its own group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runner.process.reaper import reap_orphans
from runner.process.spec import MARKER_ENV

if TYPE_CHECKING:
    import psutil

_KILL_POLL_S = 0.05
_DEAD_WAIT_S = 2.0


class TreeKill:
    """One kill of a process tree, step by step (see the module's docstring)."""

    def __init__(self, pid: int, pgid: int | None, marker: str | None) -> None:
        """Step 1: collect the tree and SIGTERM it."""
        import psutil

        self._pgid = pgid
        self._marker = marker
        self._targets: list[psutil.Process] = []
        if pid > 1 and pid != os.getpid():
            with contextlib.suppress(psutil.Error):
                self._targets.append(psutil.Process(pid))
            self._targets.extend(_collect(pid, marker))
        elif marker:
            self._targets.extend(_marked_processes(marker))
        signal_group(pgid, signal.SIGTERM)
        _signal_procs(self._targets, signal.SIGTERM)

    def ended(self) -> bool:
        """Every collected process has ended (zombies count as ended)."""
        return not _alive(self._targets)

    def wait(self, timeout: float) -> None:
        """Wait (polling) until every collected process has ended or `timeout` passed."""
        _wait_dead(self._targets, timeout)

    def force(self) -> None:
        """Step 3: SIGKILL the group, what still runs, and every process carrying the marker."""
        signal_group(self._pgid, signal.SIGKILL)
        _signal_procs(_alive(self._targets), signal.SIGKILL)
        if self._marker:
            sweep_marker(self._marker)

    def settle(self) -> None:
        """Step 4: give the killed up to 2 s to die, then reap orphans left to this process."""
        _wait_dead(self._targets, _DEAD_WAIT_S)
        reap_orphans()


def kill_tree(pid: int, pgid: int | None, marker: str | None, grace: float) -> None:
    """Kill a process, its group, its descendants and every process carrying `marker`.

    Everything gets SIGTERM, then SIGKILL after `grace` seconds for what still
    runs; orphans re-parented to this process are reaped.
    """
    kill = TreeKill(pid, pgid, marker)
    if grace > 0:
        kill.wait(grace)
    kill.force()
    kill.settle()


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


def signal_group(pgid: int | None, sig: int) -> None:
    """Signal a process group, never this process's own group."""
    if pgid is None or pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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
