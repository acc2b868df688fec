"""Noticing that a site's runner went offline without a clean exit (`runner.offline`).

A runner that exits cleanly records `offline`; one that died (kill -9, a crash, its host
down) records nothing more. Two ways to notice it from one state:

- at start, the runner of a site finds its site's previous runner recorded as up: it died
  (this runner holds the site's lock, so that one is gone; on a shared state, where runners
  of a site run side by side, this does not apply);
- while running, a runner that saw another runner up (another site's, or of a shared state
  another of its own site's) sees its heartbeat go stale (older than
  `domain.workers.STALE_AFTER`) without a clean exit.

Each runner (a site's runner since it started) is reported once by this process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runner.domain.workers import WORKER_OFFLINE, worker_state
from runner.state import WorkerRow


@dataclass(frozen=True, slots=True)
class Offline:
    """A site's runner found offline without a clean exit, and how it was found."""

    worker: WorkerRow
    reason: str


class OfflineWatch:
    """What this runner saw of every other runner, to report each one that died once."""

    def __init__(self, site: str, instance: str = "", *, shared: bool = False) -> None:
        self._site = site
        self._me = instance
        self._shared = shared
        self._first = True
        self._seen_up: dict[tuple[str, str], float] = {}
        """Runners (site, identity) up when last looked at: their start time."""
        self._reported: set[tuple[str, str, float]] = set()

    def look(self, workers: Iterable[WorkerRow], now: float) -> list[Offline]:
        """The runners that went offline without a clean exit since the last look."""
        found: list[Offline] = []
        first, self._first = self._first, False
        for row in workers:
            who = (row.site, row.name)
            if row.site == self._site and row.name == self._me:
                continue
            if row.site == self._site and not self._shared:
                if first and row.state != WORKER_OFFLINE:
                    found.append(
                        Offline(row, "it stopped without a clean exit; found by the next runner")
                    )
                continue
            if worker_state(row, now) != WORKER_OFFLINE:
                self._seen_up[who] = row.started_at
            elif (
                row.state != WORKER_OFFLINE
                and self._seen_up.get(who) == row.started_at
                and (*who, row.started_at) not in self._reported
            ):
                self._reported.add((*who, row.started_at))
                found.append(
                    Offline(row, f"no heartbeat for {now - row.heartbeat:.0f} s and no clean exit")
                )
        return found
