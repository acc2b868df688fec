"""A site's runner as `status` and `explain` show it: offline, online or running.

The engine records its state with a heartbeat every few seconds (`online` when idle,
`running` with work in flight) and `offline` when it exits cleanly. A runner that died
recorded nothing more, so it counts as `offline` once its heartbeat is stale, or at once
when the caller knows its process is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol, TypeVar

# Worker states (SPEC §4), persisted: stable forever.
WORKER_OFFLINE: Final = "offline"
WORKER_ONLINE: Final = "online"
WORKER_RUNNING: Final = "running"

STALE_AFTER: Final = 60.0
"""A worker whose last heartbeat is older than this (12 heartbeats) is shown `offline`."""
HEARTBEAT_EVERY: Final = 5.0
"""Longest pause between two heartbeats of a runner (a short lease shortens it)."""


def heartbeat_every(lease: float) -> float:
    """Seconds between two heartbeats of a runner whose lease is `lease` seconds: four
    heartbeats fit in a lease, so one late or lost heartbeat never costs it."""
    return min(HEARTBEAT_EVERY, lease / 4)


class Heartbeat(Protocol):
    """What the rule reads of a worker's record."""

    @property
    def state(self) -> str: ...

    @property
    def heartbeat(self) -> float: ...


Row = TypeVar("Row", bound=Heartbeat)


def worker_state(
    row: Row,
    now: float,
    *,
    stale_after: float = STALE_AFTER,
    alive: Callable[[Row], bool] = lambda _row: True,
) -> str:
    """What a site's runner is now: offline, online (idle) or running."""
    if row.state == WORKER_OFFLINE or now - row.heartbeat > stale_after or not alive(row):
        return WORKER_OFFLINE
    return WORKER_RUNNING if row.state == WORKER_RUNNING else WORKER_ONLINE
