"""A fake clock for a runner in another process: the test writes the time to a file.

The child program starts with `FILE_CLOCK` (which defines `clock()` reading the file named by
its second argument) and passes `clock` to the runner; the test moves time with `set_clock`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

CLOCK_FILE = "clock.txt"

FILE_CLOCK = """\
import sys
from pathlib import Path

clock_file = Path(sys.argv[2])

def clock() -> float:
    return float(clock_file.read_text())
"""


def at(text: str) -> float:
    """An ISO time (UTC) as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def set_clock(root: Path, instant: float) -> None:
    """Move the fake clock in `root` (atomically: a reader never sees half a number)."""
    tmp = root / "clock.tmp"
    tmp.write_text(repr(instant))
    os.replace(tmp, root / CLOCK_FILE)


SERVE_AT = (
    FILE_CLOCK
    + """\
import threading
from runner.serve import ServeControl, serve

control = ServeControl()

def follow() -> None:
    control.ready.wait()
    Path("serve-ready").write_text("")
    last = None
    while not control.cancel.is_set():
        text = clock_file.read_text()
        if text != last:
            last = text
            control.wake()
        control.cancel.wait(0.02)

threading.Thread(target=follow, daemon=True).start()
instance = sys.argv[3] if len(sys.argv) > 3 else None
raise SystemExit(
    serve(sys.argv[1], log_format="json", clock=clock, control=control, instance=instance)
)
"""
)
"""`runner serve` on the file clock: `python -c SERVE_AT PIPELINE CLOCK_FILE [INSTANCE]`; it
writes `serve-ready` once serving, and wakes the runner whenever the clock file changes."""
