"""The worker threads: each takes the next recorded attempt from the launch slots and runs it.

Worker threads never touch the state store: they post what happened to the
main loop's inbox. Only the launch journal (an append-only file) is written
here, just before a launch, so that the next start can tell a launched attempt
from one recorded ahead of a free slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runner import queues as q
from runner.engine.active import ActiveAttempt, ActiveRun
from runner.engine.inbox import Inbox, ItemFinished, Message, StepFinished, Withdrawn
from runner.engine.launcher import Launcher
from runner.engine.slots import Slots
from runner.engine.verdicts import start_failed
from runner.process import LaunchSpec, ProcessResult
from runner.state import StateStore
from runner.state.launches import LaunchJournal

BATCH_LIMIT = 32
"""Most results recorded by one commit after a deliberate pause."""

Job = tuple[ActiveAttempt, LaunchSpec]


class WorkerPool:
    """`concurrency` worker threads draining the launch slots, plus a thread per running step."""

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
    ) -> None:
        self.concurrency = concurrency
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
        self._slots.offer(run, run.cap(self.concurrency), (attempt, spec))

    def waiting(self, run: ActiveRun) -> int:
        """Attempts of `run` offered but not yet taken by a worker."""
        return self._slots.waiting(run)

    def runs_in_rotation(self) -> int:
        """Runs the slots still keep."""
        return len(self._slots)

    def forget(self, run: ActiveRun) -> None:
        """The run ended or stopped: drop it from the slots' rotation."""
        self._slots.forget(run)

    def withdraw(
        self, run: ActiveRun, store: StateStore, keep: Callable[[ActiveAttempt], bool] | None = None
    ) -> None:
        """Take back attempts recorded but not launched (except those `keep`s): they are undone."""
        jobs = self._slots.withdraw(run, keep=(lambda job: keep(job[0])) if keep else None)
        if jobs:
            ids = [attempt.attempt_id for attempt, _ in jobs]
            for attempt_id in ids:
                run.running.pop(attempt_id, None)
            store.cancel_attempts(ids)

    def run_step(self, run: ActiveRun, spec: LaunchSpec) -> None:
        """Run a start or finish step on a thread of its own; its result goes to the inbox."""
        threading.Thread(target=self._step, args=(run, spec), name="step", daemon=True).start()

    def _work(self) -> None:
        """A launch slot: take the next recorded attempt, run it, report the result."""
        while (taken := self._slots.take()) is not None:
            run_key, (attempt, spec) = taken
            if not self._slots.waiting(run_key):
                self._inbox.hurry.set()  # its queue ran dry: the main loop should commit more now
            try:
                too_late = attempt.item.queue != q.RUN_NOW and not attempt.run.in_schedule(
                    self._now()
                )
                if self._cancel.is_set() or too_late:  # a stop, or the window closed since
                    self._inbox.put(Withdrawn(attempt.attempt_id))
                    continue
                self.journal.record(attempt.attempt_id)
                self._announce(attempt)
                self._post(ItemFinished(attempt.attempt_id, self._launch(spec)))
            finally:
                self._slots.done(run_key)

    def _step(self, run: ActiveRun, spec: LaunchSpec) -> None:
        self._inbox.put(StepFinished(run, self._launch(spec)))

    def _launch(self, spec: LaunchSpec) -> ProcessResult:
        try:
            return self._launcher(spec, self._cancel)
        except BaseException as exc:  # never lose a completion: the main loop must hear of it
            return start_failed(f"internal error: {exc!r}", time.time())

    def _post(self, message: Message) -> None:
        self._inbox.put(message)
        if self._inbox.size() >= BATCH_LIMIT:
            self._inbox.hurry.set()
