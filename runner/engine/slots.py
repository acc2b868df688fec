"""Launch slots: attempts recorded ahead of need, taken by worker threads under the caps.

The engine's main loop records attempts durably in batches and offers them
here; worker threads take the next one as soon as a slot frees, without
waiting for the main loop. Taking respects each run's cap (`task.concurrency`)
and the runner's cap (`settings.concurrency`), and rotates between runs so that
one run cannot starve another.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Job = TypeVar("Job")


class Slots(Generic[Job]):
    """Per-run FIFO queues of ready jobs, drained by worker threads under per-run and global caps."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._cond = threading.Condition()
        self._queues: dict[Hashable, deque[Job]] = {}
        self._caps: dict[Hashable, int] = {}
        self._running: dict[Hashable, int] = {}
        self._order: deque[Hashable] = deque()
        self._leaving: set[Hashable] = set()
        self._busy = 0
        self._closed = False

    def __len__(self) -> int:
        """Runs in the rotation."""
        with self._cond:
            return len(self._order)

    def offer(self, run: Hashable, cap: int, job: Job) -> None:
        """Add a ready job for `run` (whose cap is `cap`)."""
        with self._cond:
            if run not in self._queues:
                self._queues[run] = deque()
                self._running.setdefault(run, 0)
                self._order.append(run)
            self._caps[run] = cap
            self._leaving.discard(run)
            self._queues[run].append(job)
            self._cond.notify()

    def take(self) -> tuple[Hashable, Job] | None:
        """Block until a job may start (its run and the runner below their caps); None once closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                if self._busy < self._total:
                    for _ in range(len(self._order)):
                        run = self._order[0]
                        self._order.rotate(-1)
                        queue = self._queues[run]
                        if queue and self._running[run] < self._caps[run]:
                            self._running[run] += 1
                            self._busy += 1
                            return run, queue.popleft()
                self._cond.wait()

    def done(self, run: Hashable) -> None:
        """A job of `run` ended: its slot is free."""
        with self._cond:
            self._running[run] -= 1
            self._busy -= 1
            if run in self._leaving:
                self._drop(run)
            self._cond.notify_all()

    def waiting(self, run: Hashable) -> int:
        """Jobs of `run` offered but not yet taken."""
        with self._cond:
            queue = self._queues.get(run)
            return len(queue) if queue else 0

    def withdraw(self, run: Hashable, keep: Callable[[Job], bool] | None = None) -> list[Job]:
        """Take back the jobs of `run` not yet started (a stop, a closed window), except those `keep`s."""
        with self._cond:
            queue = self._queues.get(run)
            if not queue:
                return []
            kept = [job for job in queue if keep is not None and keep(job)]
            taken = [job for job in queue if keep is None or not keep(job)]
            queue.clear()
            queue.extend(kept)
            return taken

    def forget(self, run: Hashable) -> None:
        """Drop a finished run from the rotation (at once, or when its last job is done)."""
        with self._cond:
            if run in self._queues:
                self._leaving.add(run)
                self._drop(run)

    def _drop(self, run: Hashable) -> None:
        """Forget a leaving run once nothing of it is queued or running (lock held)."""
        if not self._queues[run] and not self._running[run]:
            del self._queues[run]
            del self._running[run]
            self._caps.pop(run, None)
            self._order.remove(run)
            self._leaving.discard(run)

    def close(self) -> None:
        """Wake every waiting worker and make `take` return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
