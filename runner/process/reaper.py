"""The runner's direct children and the orphans it inherits as a child subreaper.

`CHILDREN` registers the direct children that supervising threads are waiting
for, so that `reap_orphans` (useful once the runner is a child subreaper)
never reaps a child whose exit status a thread is about to collect. Every child
of the runner must therefore be started through this package (`run_process` or
`run_capture`): `reap_orphans` reaps any other exited child it finds.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

_PR_SET_CHILD_SUBREAPER = 36


class ChildRegistry:
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


CHILDREN = ChildRegistry()
"""The one registry of this process's direct children."""


def _waitable(pid: int) -> bool:
    """True if the child `pid` has exited and is not reaped yet (peek, does not reap)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is not None and info.si_pid == pid


def _reap_orphan(pid: int) -> bool:
    """Reap one exited child if it is an orphan, not a registered direct child."""
    if not CHILDREN.is_orphan(pid):
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
    with CHILDREN.reap_lock:
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
