"""How the engine starts a process: a `Launcher`, injected like the clock (tests use a fake one)."""

from __future__ import annotations

import threading
from typing import Protocol

from runner.process import LaunchSpec, ProcessResult, run_process


class Launcher(Protocol):
    """Runs the process a spec describes to its end (blocking, called from worker threads)."""

    def __call__(self, spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
        """Run `spec`; `cancel` set means stop it now (the result says `interrupted`)."""
        ...


REAL_LAUNCHER: Launcher = run_process
"""The default: real child processes through `runner.process.run_process`."""
