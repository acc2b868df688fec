"""The processes a dead runner left, found and killed in one pass over the process table.

Taking over after a runner died, every open attempt and step may have a process tree
still running, each carrying its marker in RUNNER_ATTEMPT_MARKER. Reading every
process's environment is what costs (a few milliseconds a pass), so all the markers
are looked for in the same pass instead of one pass per marker.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import Collection

from runner.process import MARKER_ENV


def sweep_markers(markers: Collection[str]) -> Counter[str]:
    """SIGKILL every process (but this one) carrying one of `markers`; how many per marker."""
    import psutil

    wanted = {marker for marker in markers if marker}
    killed: Counter[str] = Counter()
    if not wanted:
        return killed
    me = os.getpid()
    for proc in psutil.process_iter(["environ"]):
        environ = proc.info.get("environ")
        marker = environ.get(MARKER_ENV) if environ else None
        if proc.pid == me or marker is None or marker not in wanted:
            continue
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
            killed[marker] += 1
    return killed
