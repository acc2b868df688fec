"""The worker threads: each takes the next recorded attempt from the launch slots and runs it.

Worker threads never touch the state store: they post what happened to the
main loop's inbox. Only the launch journal (an append-only file) is written
here, just before a launch, so that the next start can tell a launched attempt
from one recorded ahead of a free slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.domain import queues as q
from runner.domain.limits import Limit, Running
from runner.engine.active import ActiveAttempt, ActiveRun
from runner.engine.inbox import Inbox, ItemFinished, Message, StepFinished, Withdrawn
from runner.engine.launcher import Launcher
from runner.engine.slots import Slots
from runner.engine.verdicts import not_launched, start_failed
from runner.process import LaunchSpec, ProcessResult
from runner.state import StateStore
from runner.state.launches import LaunchJournal

BATCH_LIMIT = 32
"""Most results recorded by one commit after a deliberate pause."""


@dataclass(frozen=True, slots=True)
class ItemJob:
    """A recorded attempt waiting for a slot."""

    attempt: ActiveAttempt
    spec: LaunchSpec


@dataclass(frozen=True, slots=True)
class StepJob:
    """A run's start or finish step waiting for a slot; `announce` logs its start."""

    run: ActiveRun
    spec: LaunchSpec
    announce: Callable[[], None]


Job = ItemJob | StepJob


class WorkerPool:
    """`concurrency` worker threads draining the launch slots: attempts and steps alike, so that
    the runner's concurrency counts every process it runs."""

    def __init__(
        self,
        concurrency: int,
        *,
        inbox: Inbox,
        journal: LaunchJournal,
        launcher: Launcher,
        cancel: threading.Event,
        now: Callable[[], float],
        announce: Callable[[ActiveAttempt], None],
        may_launch: Callable[[], bool] = lambda: True,
    ) -> None:
        self.concurrency = concurrency
        self._may_launch = may_launch
        """False while this runner cannot be sure it still holds its lease (a shared state):
        what waits for a slot is not launched then."""
        self.journal = journal
        self._inbox = inbox
        self._launcher = launcher
        self._cancel = cancel
        self._now = now
        self._announce = announce
        self._slots: Slots[Job] = Slots(concurrency)
        self._workers = [
            threading.Thread(target=self._work, name=f"attempt-{n}", daemon=True)
            for n in range(concurrency)
        ]
        for worker in self._workers:
            worker.start()

    def close(self) -> None:
        """Stop the worker threads (once no run is active)."""
        self._slots.close()
        for worker in self._workers:
            worker.join()

    def offer(self, attempt: ActiveAttempt, spec: LaunchSpec) -> None:
        """Queue a recorded attempt for the next free slot its run's cap allows."""
        run = attempt.run
        job = ItemJob(attempt, spec)
        self._slots.offer(run, run.cap(self.concurrency), job, attempt.item.attributes)

    def limit(self, run: ActiveRun, limits: Sequence[Limit], others: Running) -> None:
        """Launch `run`'s attempts only while their value has room under its limits per
        attribute, less `others` (what other runners' open attempts take of each value)."""
        self._slots.limit(run, limits, others)

    def waiting(self, run: ActiveRun) -> int:
        """Attempts of `run` offered but not yet taken by a worker."""
        return self._slots.waiting(run)

    def ready(self, run: ActiveRun) -> bool:
        """Whether the attempts of `run` waiting for a slot keep its slots busy: with limits
        per attribute, one may launch now or one waits for each value running now."""
        return self._slots.ready(run)

    def runs_in_rotation(self) -> int:
        """Runs the slots still keep."""
        return len(self._slots)

    def forget(self, run: ActiveRun) -> None:
        """The run ended or stopped: drop it from the slots' rotation."""
        self._slots.forget(run)

    def withdraw(
        self, run: ActiveRun, store: StateStore, keep: Callable[[ActiveAttempt], bool] | None = None
    ) -> None:
        """Take back attempts recorded but not launched (except those `keep`s): they are undone.

        A queued step is never taken back: a worker reports it interrupted after a stop."""

        def kept(job: Job) -> bool:
            return isinstance(job, StepJob) or (keep is not None and keep(job.attempt))

        jobs = self._slots.withdraw(run, keep=kept)
        if jobs:
            ids = [job.attempt.attempt_id for job in jobs if isinstance(job, ItemJob)]
            for attempt_id in ids:
                run.running.pop(attempt_id, None)
            store.cancel_attempts(ids)

    def run_step(self, run: ActiveRun, spec: LaunchSpec, announce: Callable[[], None]) -> None:
        """Queue a start or finish step for the next free slot; its result goes to the inbox."""
        self._slots.offer(run, run.cap(self.concurrency), StepJob(run, spec, announce))

    def _work(self) -> None:
        """A launch slot: take the next recorded attempt or step, run it, report the result."""
        while (taken := self._slots.take()) is not None:
            run_key, job = taken
            if not self._slots.ready(run_key):
                self._inbox.hurry.set()  # its slots would run dry: the main loop should commit more now
            try:
                if isinstance(job, StepJob):
                    self._step(job)
                else:
                    self._item(job)
            finally:
                self._slots.done(run_key, job)

    def _item(self, job: ItemJob) -> None:
        attempt = job.attempt
        too_late = attempt.item.queue != q.RUN_NOW and not attempt.run.in_schedule(self._now())
        if self._cancel.is_set() or too_late or not self._may_launch():
            # a stop, the window closed since, or the lease may be lost: taken back
            self._inbox.put(Withdrawn(attempt.attempt_id))
            return
        self.journal.record(attempt.attempt_id)
        self._announce(attempt)
        self._post(ItemFinished(attempt.attempt_id, self._launch(job.spec)))

    def _step(self, job: StepJob) -> None:
        if self._cancel.is_set() or not self._may_launch():
            self._inbox.put(StepFinished(job.run, not_launched(time.time())))
            return
        job.announce()
        self._inbox.put(StepFinished(job.run, self._launch(job.spec)))

    def _launch(self, spec: LaunchSpec) -> ProcessResult:
        try:
            return self._launcher(spec, self._cancel)
        except BaseException as exc:  # never lose a completion: the main loop must hear of it
            return start_failed(f"internal error: {exc!r}", time.time())

    def _post(self, message: Message) -> None:
        self._inbox.put(message)
        if self._inbox.size() >= BATCH_LIMIT:
            self._inbox.hurry.set()
