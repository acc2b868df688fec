"""A run's life: its phases (before steps, items, after steps), its steps, and how it ends.

A run moves `before` -> `items` -> `after` -> done. Each step runs alone (one
at a time per run); a failed step with `on_failure: error` fails the run and,
in `before`, skips the items. A stop request or a nearly full disk leaves the
run open for the next runner (`stop`); otherwise it ends (`finish`) with a
status the after steps and its error items decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.config.tasks import Step
from runner.domain import queues as q
from runner.domain.outcomes import EXITED
from runner.domain.runs import (
    PHASE_AFTER,
    PHASE_BEFORE,
    PHASE_ITEMS,
    RUN_FAILED,
    RUN_HALTED,
    RUN_INTERRUPTED,
    RUN_OK,
    RUN_WITH_ERRORS,
    TASK_FAILED,
    TASK_IDLE,
    TRIGGER_NOW,
    TRIGGER_RUN_NOW,
    TRIGGER_SCHEDULE,
)
from runner.domain.statuses import FAILED, OK
from runner.engine.active import ActiveRun, ActiveStep, after_step_wanted, step_positions
from runner.engine.context import EngineContext
from runner.engine.inbox import Inbox, StepFinished
from runner.engine.pool import WorkerPool
from runner.engine.runs import RunReport
from runner.engine.summary import ERROR_ITEMS_LOGGED, error_entries, outcome_so_far, run_summary
from runner.engine.verdicts import error_text, start_failed
from runner.errors import TemplateRenderError, UnsafePathError
from runner.launch import (
    after_step_env,
    display_command,
    step_env,
    step_files,
    step_marker,
    summary_file,
    write_summary,
)
from runner.process import ProcessResult
from runner.progress import RunProgress

ELSEWHERE_POLL = 0.5
"""Seconds between looks, on a shared state, at whether other runners' attempts of a run whose
items are all started have ended."""


class Lifecycle:
    """Advances runs through their phases, runs their steps, and ends or stops them."""

    def __init__(self, ctx: EngineContext, pool: WorkerPool, inbox: Inbox) -> None:
        self._ctx = ctx
        self._pool = pool
        self._inbox = inbox

    def advance(self, run: ActiveRun, now: float, *, disk_low: bool) -> None:
        """Take the run as far as it can go now (inside the cycle's transaction)."""
        if run.step is not None:
            return
        ctx = self._ctx
        stopping = ctx.cancel.is_set() or (disk_low and run.phase != PHASE_AFTER)
        if stopping:
            self._pool.withdraw(run, ctx.store)
        elif run.phase == PHASE_ITEMS and not run.in_schedule(now):
            # out of schedule: only run-now items may start
            self._pool.withdraw(run, ctx.store, keep=lambda a: a.item.queue == q.RUN_NOW)
        if stopping:
            if not run.running:
                why = "interrupted by a stop request" if ctx.cancel.is_set() else "disk nearly full"
                if run.joined:
                    self.leave(run, why)
                else:
                    self.stop(run, why)
            return
        halt = ctx.halts.get(run.name)
        if halt is not None and run.phase == PHASE_ITEMS:
            # no new item starts; once the running ones finished the run is left open
            self._pool.withdraw(run, ctx.store)
            if not run.running:
                if run.joined:
                    self.leave(run, f"task {halt.action} by {halt.by}")
                else:
                    self.stop(run, f"task {halt.action} by {halt.by}: {halt.reason}", RUN_HALTED)
            return
        if run.joined:
            self._advance_joined(run, now)
            return
        if run.phase == PHASE_BEFORE and (
            run.failed or not self._launch_next_step(run, PHASE_BEFORE, run.task.before, now)
        ):
            self.set_phase(run, PHASE_ITEMS if not run.failed else PHASE_AFTER)
        if run.phase == PHASE_ITEMS and (
            run.failed or (not run.running and not self._has_work(run, now))
        ):
            if not run.failed and self._running_elsewhere(run, now):
                return
            self.set_phase(run, PHASE_AFTER)
        if run.phase == PHASE_AFTER and not run.running:
            success = self._outcome(run) == RUN_OK
            wanted = [s for s in run.task.after if after_step_wanted(s, success)]
            if not self._launch_next_step(
                run, PHASE_AFTER, wanted, now, indices=step_positions(run.task.after, wanted)
            ):
                self._complete(run)

    def set_phase(self, run: ActiveRun, phase: str) -> None:
        """Move the run to `phase` (recorded)."""
        run.phase = phase
        self._ctx.store.set_run_phase(run.row.id, phase)
        if phase == PHASE_ITEMS:
            self.start_progress(run)

    def start_progress(self, run: ActiveRun) -> None:
        """Start counting the run's items for the progress line."""
        store = self._ctx.store
        waiting = (q.RUN_NOW,) if run.row.trigger == TRIGGER_RUN_NOW else q.DISPATCH_ORDER
        total = store.count_waiting(run.name, waiting) + len(run.running)
        run.progress = RunProgress(task=run.name, started=self._ctx.now(), total=total)

    def step_finished(self, run: ActiveRun, result: ProcessResult) -> None:
        """Record the end of the run's step (an interrupted step is left to run again on resume)."""
        ctx = self._ctx
        step = run.step
        assert step is not None
        run.step = None
        now = ctx.now()
        failed = not (result.outcome == "exited" and result.exit_code == 0)
        status = OK if not failed else (result.outcome if result.outcome != EXITED else FAILED)
        error = None if not failed else error_text(result, status)
        label = f"{step.phase}[{step.index}]"
        if result.outcome == "interrupted":
            ctx.after_commit.log(
                "warning",
                "step.interrupted",
                {"task": run.name, "run_id": run.row.id, "step": label},
            )
            return  # left unrecorded as finished: it runs again when the run resumes
        ctx.store.finish_step(
            run.row.id,
            step.phase,
            step.index,
            status=status,
            exit_code=result.exit_code,
            error=error,
            now=now,
        )
        run.steps_done.setdefault(step.phase, {})[step.index] = status
        fields: dict[str, object] = {
            "task": run.name,
            "run_id": run.row.id,
            "step": label,
            "status": status,
            "exit_code": result.exit_code,
            "duration_s": round(result.duration_s, 3),
        }
        if not failed:
            ctx.after_commit.log("info", "step.finished", fields)
            return
        fields["error"] = error
        fields["on_failure"] = step.step.on_failure
        if step.step.on_failure == "error":
            ctx.after_commit.log("error", "step.finished", fields)
            if not run.failed:
                run.failed, run.failure = True, f"{step.phase} step {step.index} failed: {error}"
            if step.phase == PHASE_BEFORE:
                for later in range(step.index + 1, len(run.task.before)):
                    ctx.after_commit.log(
                        "warning",
                        "step.skipped",
                        {
                            "task": run.name,
                            "run_id": run.row.id,
                            "step": f"{PHASE_BEFORE}[{later}]",
                            "reason": f"{label} failed (on_failure: error)",
                        },
                    )
                self.set_phase(run, PHASE_AFTER)
        else:
            ctx.after_commit.log("warning", "step.finished", fields)

    def finish(self, run: ActiveRun, status: str, message: str) -> None:
        """End the run with `status` (recorded) and stop working on it."""
        ctx = self._ctx
        now = ctx.now()
        task_status = TASK_FAILED if status == RUN_FAILED else TASK_IDLE
        ctx.store.finish_run(
            run.row.id, status=status, message=message, now=now, task_status=task_status
        )
        counts = ctx.store.queue_counts(run.name)
        errors = ctx.store.run_errors(run.row.id, ERROR_ITEMS_LOGGED)
        level = (
            "error"
            if status == RUN_FAILED
            else ("warning" if status == RUN_WITH_ERRORS else "info")
        )
        ctx.after_commit.log(
            level,
            "run.finished",
            {
                "task": run.name,
                "run_id": run.row.id,
                "status": status,
                "message": message,
                "queues": counts,
                "error_items": errors.total,
                "error_sample": error_entries(errors),
                "duration_s": round(now - run.row.started_at, 3),
            },
        )
        ctx.reports.append(RunReport(run.name, run.row.id, status, message, counts, errors.total))
        self._leave(run)

    def stop(self, run: ActiveRun, why: str, status: str = RUN_INTERRUPTED) -> None:
        """Leave a run open (to be resumed by the next runner) and stop working on it."""
        ctx = self._ctx
        ctx.after_commit.log(
            "warning",
            "run.stopped",
            {"task": run.name, "run_id": run.row.id, "phase": run.phase, "reason": why},
        )
        ctx.store.set_task_status(run.name, TASK_IDLE, command="")
        ctx.reports.append(
            RunReport(run.name, run.row.id, status, why, ctx.store.queue_counts(run.name))
        )
        self._leave(run)

    def leave(self, run: ActiveRun, why: str) -> None:
        """Stop taking items from a run another runner owns (it goes on without this one)."""
        self._ctx.after_commit.log(
            "info",
            "run.left",
            {"task": run.name, "run_id": run.row.id, "owner": run.row.owner, "reason": why},
        )
        self._leave(run)

    def _advance_joined(self, run: ActiveRun, now: float) -> None:
        """A run another runner owns: take items while it has some; leave once none is left
        to start here (or the owner moved on), when this runner's attempts of it have ended."""
        if run.leaving:
            self._pool.withdraw(run, self._ctx.store)
        if run.running:
            return
        if run.leaving:
            self.leave(run, "its owner ended its items phase")
        elif not self._has_work(run, now):
            self.leave(run, "no item of it is left to start")

    def _running_elsewhere(self, run: ActiveRun, now: float) -> bool:
        """On a shared state: other runners still have attempts of the run open; its items
        phase ends (and its finish steps run here) once they have ended."""
        if not self._ctx.store.shared or not self._ctx.store.open_attempts_of_run(run.row.id):
            return False
        run.next_wakeup = now + ELSEWHERE_POLL
        return True

    def _leave(self, run: ActiveRun) -> None:
        """Stop working on the run: out of the active runs and the launch slots' rotation."""
        run.stopped = True
        if run in self._ctx.active:
            self._ctx.active.remove(run)
        self._pool.forget(run)

    def _has_work(self, run: ActiveRun, now: float) -> bool:
        store = self._ctx.store
        in_schedule = run.in_schedule(now)
        if store.eligible_items(run.name, now=now, in_schedule=in_schedule, limit=1):
            return True
        if not in_schedule:
            return False
        retry_at = store.next_retry_at(run.name)
        if retry_at is None or (
            run.row.window_end is not None
            and retry_at >= run.row.window_end
            and run.row.trigger != TRIGGER_NOW
        ):
            return False
        run.next_wakeup = retry_at
        return True

    def _outcome(self, run: ActiveRun) -> str:
        """The run's status if it ended now."""
        errors = 0 if run.failed else self._ctx.store.run_error_items(run.row.id)
        return outcome_so_far(failed=run.failed, error_items=errors)

    def _complete(self, run: ActiveRun) -> None:
        if run.failed:
            self.finish(run, RUN_FAILED, run.failure)
            return
        store = self._ctx.store
        errors = store.run_error_items(run.row.id)
        leftover = store.count_waiting(run.name, (q.RESCHEDULED, q.RETRY, q.UNATTEMPTED))
        message = ""
        if leftover and run.row.trigger == TRIGGER_SCHEDULE:
            message = f"window closed: {leftover} items not reached"
        if errors:
            self.finish(
                run,
                RUN_WITH_ERRORS,
                f"{errors} items ended in error queues" + (f"; {message}" if message else ""),
            )
        else:
            self.finish(run, RUN_OK, message)

    def _launch_next_step(
        self,
        run: ActiveRun,
        phase: str,
        steps: Sequence[Step],
        now: float,
        *,
        indices: Sequence[int] = (),
    ) -> bool:
        done = run.steps_done.setdefault(phase, {})
        for position, step in enumerate(steps):
            index = indices[position] if indices else position
            if done.get(index) is not None:
                continue
            self._launch_step(run, phase, index, step, now)
            return True
        return False

    def _launch_step(self, run: ActiveRun, phase: str, index: int, step: Step, now: float) -> None:
        ctx = self._ctx
        label = f"{phase}[{index}]"
        outputs = step_files(ctx.logs_dir, run.name, run.row.id, phase, index)
        protocol = step_env(task=run.name, run_id=run.row.id, step=label)
        status = self._outcome(run) if phase == PHASE_AFTER else None
        ctx.store.start_step(run.row.id, phase, index, now)
        run.step = ActiveStep(phase, index, step, now)
        try:
            if status is not None:
                summary = summary_file(outputs)
                report = run_summary(ctx.store, task=run.name, run_id=run.row.id, status=status)
                write_summary(summary, ctx.masker.mask_value(report))
                protocol = after_step_env(
                    task=run.name, run_id=run.row.id, step=label, run_status=status, summary=summary
                )
            spec = ctx.builder.step_launch(
                step,
                task=run.task_ctx,
                run=run.run_ctx,
                outputs=outputs,
                protocol=protocol,
                marker=step_marker(run.row.id, phase, index),
            )
        except TemplateRenderError as exc:
            self._inbox.put(StepFinished(run, start_failed(str(exc), now)))
            return
        except (OSError, UnsafePathError) as exc:  # the summary file could not be written
            self._inbox.put(
                StepFinished(run, start_failed(f"cannot write the run summary: {exc}", now))
            )
            return
        command = ctx.masker.mask_text(display_command(spec.argv))

        def announce() -> None:
            ctx.log.info(
                "step.started",
                task=run.name,
                run_id=run.row.id,
                step=label,
                command=command,
                timeout_s=step.timeout,
                wait=step.wait,
            )

        ctx.after_commit.add(lambda: self._pool.run_step(run, spec, announce))
