"""Controlling a serving runner: stop (SIGTERM/SIGINT), reload now (SIGHUP), ready to serve."""

from __future__ import annotations

import signal
import threading

from runner.session import Control, Handler


class ServeControl(Control):
    """Stop, reload or wake a serving runner from another thread (signal handlers use it too)."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()
        """Set once the runner holds the lock, has resumed what was left, and waits for fires."""
        self._reload = threading.Event()

    def reload(self) -> None:
        """Ask the runner to re-read its configuration now (what SIGHUP does)."""
        self._reload.set()
        self.wake()

    def take_reload(self) -> bool:
        """True once after each `reload()`."""
        if self._reload.is_set():
            self._reload.clear()
            return True
        return False

    def signal_handlers(self) -> dict[int, Handler]:
        """SIGTERM/SIGINT stop, SIGHUP reloads."""
        return {**super().signal_handlers(), signal.SIGHUP: self.reload}
