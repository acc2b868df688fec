"""Recording what came back: finished attempts (outcome rules, policy), checkpoints, withdrawals.

Messages from the worker threads are filed here as they arrive and recorded
together by the next cycle's transaction (`record`); the log lines that
announce the outcomes are built and written once that transaction has
committed (one after-commit action per batch, nothing formatted inside it).
"""

from __future__ import annotations

from dataclasses import replace

from runner.domain import queues as q
from runner.domain.statuses import OK
from runner.domain.timefmt import iso
from runner.engine.active import ActiveAttempt, ActiveRun
from runner.engine.context import EngineContext
from runner.engine.hooks import Housekeeping
from runner.engine.inbox import EventsArrived, ItemFinished, Message, StepFinished, Withdrawn
from runner.engine.verdicts import judge
from runner.launch import INVALID_EVENT, parse_event
from runner.process import ProcessResult
from runner.state import AttemptEnd, Checkpoint
from runner.system import failpoints


class Recorder:
    """Holds the results filed since the last cycle and records them in the next one."""

    def __init__(self, ctx: EngineContext, hooks: Housekeeping) -> None:
        self._ctx = ctx
        self._hooks = hooks
        self.results: list[tuple[ActiveAttempt, ProcessResult]] = []
        self.steps: list[tuple[ActiveRun, ProcessResult]] = []
        self._checkpoints: list[tuple[int, Checkpoint, float]] = []
        self._withdrawn: list[int] = []

    def pending(self) -> bool:
        """Whether anything filed waits to be recorded."""
        return bool(self.results or self.steps or self._checkpoints)

    def file(self, message: Message) -> None:
        """File one message from a worker or a signal handler (a `Wake` needs no filing)."""
        ctx = self._ctx
        if isinstance(message, EventsArrived):
            owner = ctx.owner(message.attempt_id)
            running = owner.running.get(message.attempt_id) if owner is not None else None
            if running is not None:
                running.had_events = True
            for line in message.lines:
                if not line.strip():
                    continue
                event = ctx.masked(parse_event(line.strip()))
                if message.from_output:
                    event = replace(event, from_output=True)
                self._checkpoints.append((message.attempt_id, event, message.at))
                if event.kind == INVALID_EVENT and running is not None:
                    running.invalid_events += 1
                    if running.first_invalid_event is None:
                        running.first_invalid_event = event.value
        elif isinstance(message, ItemFinished):
            owner = ctx.owner(message.attempt_id)
            if owner is not None:
                self.results.append((owner.running.pop(message.attempt_id), message.result))
        elif isinstance(message, StepFinished):
            self.steps.append((message.run, message.result))
        elif isinstance(message, Withdrawn):
            owner = ctx.owner(message.attempt_id)
            if owner is not None:
                owner.running.pop(message.attempt_id)
                self._withdrawn.append(message.attempt_id)

    def take_steps(self) -> list[tuple[ActiveRun, ProcessResult]]:
        """The finished steps filed since the last cycle (the caller records them)."""
        steps, self.steps = self.steps, []
        return steps

    def record(self, now: float) -> None:
        """Record withdrawals, finished attempts and checkpoints (inside the cycle's transaction)."""
        ctx = self._ctx
        if self._withdrawn:
            withdrawn, self._withdrawn = self._withdrawn, []
            ctx.store.cancel_attempts(withdrawn)
        finished, self.results = self.results, []
        if finished:
            failpoints.hit("after-exit-before-outcome")
        ends = [self._decide(attempt, result, now) for attempt, result in finished]
        checkpoints, self._checkpoints = self._checkpoints, []
        if not ends and not checkpoints:
            return
        applied = ctx.store.finish_attempts(ends, checkpoints)
        by_id = {attempt.attempt_id: attempt for attempt, _ in finished}
        ctx.halts.count(
            ctx.store,
            (
                (by_id[end.attempt_id].run.name, by_id[end.attempt_id].run.task, end.status)
                for end, _ in applied
            ),
            now=now,
            after_commit=ctx.after_commit,
        )
        announced: list[tuple[ActiveAttempt, AttemptEnd, str]] = []
        for end, queue_name in applied:
            attempt = by_id[end.attempt_id]
            attempt.run.attempt_ended(end.duration_s)
            self._hooks.item_finished(now)
            progress = attempt.run.progress
            if progress is not None:
                progress.item_ended(attempt.item.item_id, queue_name)
            if progress is not None and queue_name != q.RETRY:
                progress.finished += 1
                progress.failed += queue_name != q.SUCCESSFUL
            announced.append((attempt, end, queue_name))
        if announced:
            ctx.after_commit.add(lambda: self._announce(announced))

    def _announce(self, announced: list[tuple[ActiveAttempt, AttemptEnd, str]]) -> None:
        """Log the outcomes a transaction recorded (after its commit; never inside it)."""
        log = self._ctx.log
        for attempt, end, queue_name in announced:
            run = attempt.run
            (log.info if end.status == OK else log.warning)(
                "item.finished",
                task=run.name,
                run_id=run.row.id,
                item=attempt.item.item_id,
                attempt=attempt.number,
                status=end.status,
                queue=queue_name,
                exit_code=end.exit_code,
                duration_s=round(end.duration_s, 3),
                retry_at=iso(end.retry_at) if end.retry_at else None,
                error=end.error,
            )
            if attempt.invalid_events:
                log.warning(
                    "attempt.events_invalid",
                    task=run.name,
                    run_id=run.row.id,
                    item=attempt.item.item_id,
                    attempt=attempt.number,
                    count=attempt.invalid_events,
                    first_line=attempt.first_invalid_event,
                )
            if attempt.had_events or attempt.wrote_processed:
                attempt.files.discard_protocol_files()

    def _decide(self, attempt: ActiveAttempt, result: ProcessResult, now: float) -> AttemptEnd:
        run = attempt.run
        return judge(
            result,
            definition=run.definition,
            policy=run.policy,
            attempt_id=attempt.attempt_id,
            task=run.name,
            item_id=attempt.item.item_id,
            retries_used=attempt.item.retries_used,
            masker=self._ctx.masker,
            now=now,
        )
