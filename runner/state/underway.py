"""Which open attempts are running and which wait, recorded ahead, for a free slot.

A runner records a few attempts per run before a slot frees, so that they start at once;
only its site's launch journal (runner.state.launches) tells which were launched. This
joins what the store knows with what each site's journal says (on a shared state, this
host's journals speak for this host's runners only).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from runner.state.base import StateStore
from runner.state.launches import journal_path, read_launched


@dataclass(frozen=True, slots=True)
class UnderWay:
    """Items with an open attempt: launched (running), or recorded ahead of a free slot.

    A site without a readable journal counts every open attempt as running.
    """

    running: dict[str, int]
    """Per task, items whose attempt was launched."""
    ahead: dict[str, int]
    """Per task, items whose attempt is recorded and waits for a free slot."""
    ahead_attempts: frozenset[int]

    def launched(self, attempt_id: int) -> bool:
        """Whether this open attempt was handed to the operating system."""
        return attempt_id not in self.ahead_attempts


def read_under_way(store: StateStore) -> UnderWay:
    """Which items of each task are running and which are about to launch (a few reads)."""
    journals: dict[str, set[int] | None] = {}
    running: dict[str, int] = {}
    ahead: dict[str, int] = {}
    ahead_attempts: set[int] = set()
    here = _runners_of_this_host(store)
    for task, attempt_id, site, runner in store.running_attempts():
        if site not in journals:
            journals[site] = _launched_per_journal(store, site)
        launched = journals[site] if here is None or runner in here else None
        if launched is None or attempt_id in launched:
            running[task] = running.get(task, 0) + 1
        else:
            ahead[task] = ahead.get(task, 0) + 1
            ahead_attempts.add(attempt_id)
    return UnderWay(running, ahead, frozenset(ahead_attempts))


def _runners_of_this_host(store: StateStore) -> set[str] | None:
    """On a shared state, the runners of this host (this host's journals know only theirs;
    another host's attempts count as running). None on SQLite: every runner is of this host."""
    if not store.shared:
        return None
    host = socket.gethostname()
    return {w.name for w in store.workers() if w.host == host}


def _launched_per_journal(store: StateStore, site: str) -> set[int] | None:
    path = journal_path(store.path, site)
    try:
        return read_launched(path) if path.exists() else None
    except OSError:
        return None
