"""While a write waits for another process's lock: `state.busy` at a bounded rate with the
seconds waited, and once more, at once, when a stop was asked meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path

from runner.session import BusyWait
from runner.testing import LogCapture


def test_state_busy_is_said_at_most_every_few_seconds_and_at_once_on_a_stop() -> None:
    log = LogCapture()
    cancel = threading.Event()
    told = BusyWait(Path("state.db"), log, cancel)
    for waited in range(5, 13):  # tries of 1 s after a first of 5 s
        told(float(waited))
    cancel.set()
    for waited in range(13, 25):
        told(float(waited))
    said = [(e["waited_s"], e["stopping"]) for e in log.events if e["event"] == "state.busy"]
    assert [(5.0, False), (10.0, False), (13.0, True), (18.0, True), (23.0, True)] == said
    assert all("sound" in e["action"] for e in log.events)
    assert "a stop was asked" in log.events[-1]["action"]
