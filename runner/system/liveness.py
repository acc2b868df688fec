"""Whether a runner's process is gone: known only on the host it ran on."""

from __future__ import annotations

import os
import socket


def gone_here(host: str, pid: int) -> bool:
    """True only when the process ran on this host and no process has its pid any more."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
