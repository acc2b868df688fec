"""A site's runner process as `status` and `explain` show it: offline, online or running.

The engine records its state with a heartbeat every few seconds (`online` when idle,
`running` with work in flight) and `offline` when it exits cleanly. A runner that died
recorded nothing more, so it counts as `offline` once its heartbeat is stale, or at once
when it ran on this host and its process is gone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Final

from runner.state import WorkerRow

# Worker states (SPEC §4), persisted: stable forever.
WORKER_OFFLINE: Final = "offline"
WORKER_ONLINE: Final = "online"
WORKER_RUNNING: Final = "running"

STALE_AFTER: Final = 60.0
"""A worker whose last heartbeat is older than this (12 heartbeats) is shown `offline`."""


def process_alive(worker: WorkerRow) -> bool:
    """False only when the worker ran on this host and its process is gone."""
    if worker.host != socket.gethostname():
        return True
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_state(
    row: WorkerRow,
    now: float,
    *,
    stale_after: float = STALE_AFTER,
    alive: Callable[[WorkerRow], bool] = lambda _row: True,
) -> str:
    """What a site's runner is now: offline, online (idle) or running."""
    if row.state == WORKER_OFFLINE or now - row.heartbeat > stale_after or not alive(row):
        return WORKER_OFFLINE
    return WORKER_RUNNING if row.state == WORKER_RUNNING else WORKER_ONLINE
