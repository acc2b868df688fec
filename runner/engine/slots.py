"""Launch slots: attempts recorded ahead of need, taken by worker threads under the caps.

The engine's main loop records attempts durably in batches and offers them
here; worker threads take the next one as soon as a slot frees, without
waiting for the main loop. Taking respects each run's cap (`task.concurrency`)
and the runner's cap (`settings.concurrency`), and rotates between runs so that
one run cannot starve another. A run with limits per attribute has a `Room`: a job
with attributes is taken only while its value has room (the first such job in the run's
queue, so the dispatch order holds as far as the limits allow); jobs recorded ahead wait,
queued, and do not count as running.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from runner.domain.limits import Limit, Room, Running

Job = TypeVar("Job")
Attributes = Mapping[str, str] | None
"""A job's item attributes (what limits per attribute read), None for a step."""


class Slots(Generic[Job]):
    """Per-run FIFO queues of ready jobs, drained by worker threads under per-run and global caps."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._cond = threading.Condition()
        self._queues: dict[Hashable, deque[tuple[Job, Attributes]]] = {}
        self._caps: dict[Hashable, int] = {}
        self._running: dict[Hashable, int] = {}
        self._order: deque[Hashable] = deque()
        self._leaving: set[Hashable] = set()
        self._rooms: dict[Hashable, Room] = {}
        self._taken: dict[int, Attributes] = {}
        """The attributes of each job taken and not done (by the job's id)."""
        self._busy = 0
        self._closed = False

    def __len__(self) -> int:
        """Runs in the rotation."""
        with self._cond:
            return len(self._order)

    def offer(self, run: Hashable, cap: int, job: Job, attributes: Attributes = None) -> None:
        """Add a ready job for `run` (whose cap is `cap`); `attributes`: its item's, which the
        run's limits per attribute read."""
        with self._cond:
            if run not in self._queues:
                self._queues[run] = deque()
                self._running.setdefault(run, 0)
                self._order.append(run)
            self._caps[run] = cap
            self._leaving.discard(run)
            self._queues[run].append((job, attributes))
            self._cond.notify()

    def limit(self, run: Hashable, limits: Sequence[Limit], others: Running) -> None:
        """Take `run`'s jobs only while their value has room under `limits` (fixed for a run),
        less `others` (the other runners' open attempts per value, counted now)."""
        with self._cond:
            room = self._rooms.get(run)
            if room is None:
                room = self._rooms[run] = Room(limits)
            if room.set_others(others):
                self._cond.notify_all()  # a value may have more room now

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
                        if self._running[run] >= self._caps[run]:
                            continue
                        job = self._first_fitting(run)
                        if job is not None:
                            self._running[run] += 1
                            self._busy += 1
                            return run, job
                self._cond.wait()

    def _first_fitting(self, run: Hashable) -> Job | None:
        """Pop the first queued job of `run` whose value has room (lock held)."""
        queue, room = self._queues[run], self._rooms.get(run)
        for index, (job, attributes) in enumerate(queue):
            if room is not None and attributes is not None:
                if not room.fits(attributes):
                    continue
                room.take(attributes)
            del queue[index]
            self._taken[id(job)] = attributes
            return job
        return None

    def done(self, run: Hashable, job: Job) -> None:
        """A job of `run` ended: its slot (and its value's room) is free."""
        with self._cond:
            attributes = self._taken.pop(id(job), None)
            room = self._rooms.get(run)
            if room is not None and attributes is not None:
                room.release(attributes)
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

    def ready(self, run: Hashable) -> bool:
        """Whether the jobs queued for `run` keep its slots busy (caps aside): with limits per
        attribute, one may start now or one waits for each set of values running now."""
        with self._cond:
            queue, room = self._queues.get(run), self._rooms.get(run)
            if not queue:
                return False
            if room is None or any(attributes is None for _, attributes in queue):
                return True
            return room.keeps_busy(attributes for _, attributes in queue if attributes is not None)

    def withdraw(self, run: Hashable, keep: Callable[[Job], bool] | None = None) -> list[Job]:
        """Take back the jobs of `run` not yet started (a stop, a closed window), except those `keep`s."""
        with self._cond:
            queue = self._queues.get(run)
            if not queue:
                return []
            kept = [entry for entry in queue if keep is not None and keep(entry[0])]
            taken = [job for job, _ in queue if keep is None or not keep(job)]
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
            self._rooms.pop(run, None)
            self._order.remove(run)
            self._leaving.discard(run)

    def close(self) -> None:
        """Wake every waiting worker and make `take` return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
