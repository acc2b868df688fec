"""Controlling a serving runner: stop (SIGTERM/SIGINT), reload now (SIGHUP), look at the state
now (SIGUSR1: a run-now request was recorded), ready to serve."""

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
        self._poke = threading.Event()

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

    def poke(self) -> None:
        """Ask the runner to look at the state now (what SIGUSR1 does: a run-now request)."""
        self._poke.set()
        self.wake()

    def take_poke(self) -> bool:
        """True once after each `poke()`."""
        if self._poke.is_set():
            self._poke.clear()
            return True
        return False

    def signal_handlers(self) -> dict[int, Handler]:
        """SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1 looks at the state now."""
        return {
            **super().signal_handlers(),
            signal.SIGHUP: self.reload,
            signal.SIGUSR1: self.poke,
        }
