"""`runner serve` prunes daily: a thread that applies `settings.retention` every 24 hours.

The first prune comes `FIRST_AFTER` seconds after serve starts (recovery and the first runs
go first), then one every `EVERY` seconds since. It uses the configuration serve currently
runs (a reloaded one from its next prune on), its own connection to the state, and the
same batches as `runner prune --yes`, so the engine's commits wait at most a moment. A
prune that fails is logged as `prune.failed` and tried again at the next turn; it never
stops serve. With no retention key set, nothing is done and nothing logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final, Self

from runner.config.pipeline import Pipeline

EVERY: Final = 24 * 3600.0
"""Seconds between two prunes of a serving runner."""

FIRST_AFTER: Final = 300.0
"""Seconds after serve starts before its first prune."""


class DailyPrune:
    """The pruning thread of `runner serve` (a context manager: started on enter, stopped on exit)."""

    def __init__(
        self,
        pipeline: Callable[[], Pipeline],
        log: Any,
        *,
        clock: Callable[[], float] = time.time,
        first_after: float = FIRST_AFTER,
        every: float = EVERY,
    ) -> None:
        self._pipeline = pipeline
        self._log = log
        self._clock = clock
        self._first_after = first_after
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runner-prune", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # a prune under way ends after its current batch
        self._thread.join()

    def _loop(self) -> None:
        wait = self._first_after
        while not self._stop.wait(wait):
            self.prune_once()
            wait = self._every

    def prune_once(self) -> None:
        """Apply the retention of the current configuration now; log the outcome."""
        from runner.operations import prune

        pipeline = self._pipeline()
        retention = pipeline.settings.retention
        if retention.attempt_output is None and retention.runs is None and retention.logs is None:
            return
        try:
            prune(pipeline, apply=True, now=self._clock(), log=self._log, cancel=self._stop)
        except Exception as exc:  # serve must go on whatever went wrong
            self._log.error(
                "prune.failed",
                error=f"{type(exc).__name__}: {exc}",
                next_in_s=self._every,
            )
