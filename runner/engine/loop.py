"""The engine's main loop: runs task runs (start steps, items under their policies, finish steps).

One engine per runner process. A single main loop owns the state store (so
every state change is ordered and batched), launches processes on a pool of
worker threads (each thread blocks in `process.run_process` for one child),
and receives their events and results through one inbox:

    advance runs (steps, phase changes, completion)
    dispatch: record the attempts durably, THEN launch them
    wait for results; record outcomes and checkpoints in one transaction

A crash at any point leaves either an attempt recorded as started (and so
`interrupted` on the next start) or a recorded outcome; never a launch that
the state does not know about, and never a finished item run again.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner import failpoints
from runner.checkpoints import parse_event
from runner.config.models import Pipeline, Step
from runner.domain import queues as q
from runner.domain.runs import (
    PHASE_AFTER,
    PHASE_BEFORE,
    PHASE_ITEMS,
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_OK,
    RUN_RUNNING,
    RUN_WITH_ERRORS,
    TASK_FAILED,
    TASK_IDLE,
    TRIGGER_NOW,
    TRIGGER_RUN_NOW,
    TRIGGER_SCHEDULE,
    run_id_for,
)
from runner.domain.statuses import FAILED, MODE_RECURRING, OK
from runner.domain.timefmt import iso
from runner.domain.workers import WORKER_OFFLINE, WORKER_ONLINE, WORKER_RUNNING
from runner.engine.active import (
    ActiveAttempt,
    ActiveRun,
    ActiveStep,
    after_step_wanted,
    step_positions,
)
from runner.engine.recovery import attempt_marker, recover
from runner.engine.runs import RunReport, RunRequest, RunSource, task_config_hash
from runner.engine.verdicts import error_text, judge, start_failed
from runner.errors import DiskFullError, GroupResolutionError, TemplateRenderError
from runner.fsutil import ensure_private_dir
from runner.groups import Item, resolve_group
from runner.launch import (
    AttemptFiles,
    LaunchBuilder,
    display_command,
    item_prefix,
    run_context,
    step_files,
    task_context,
    write_processed,
)
from runner.masking import Masker
from runner.process import LaunchSpec, ProcessResult, reap_orphans, run_process
from runner.progress import RunProgress, format_progress
from runner.slots import Slots
from runner.state import (
    AttemptEnd,
    AttemptStart,
    Checkpoint,
    ItemRow,
    RunRow,
    StateStore,
    WorkerRow,
    state_disk_free,
)
from runner.state.launches import LaunchJournal, journal_path, read_launched
from runner.who import os_user

HEARTBEAT_EVERY = 5.0
REAP_EVERY = 1.0
DISK_CHECK_EVERY = 2.0
MAX_WAIT = 1.0
MAX_IDLE_WAIT = 60.0
PROGRESS_EVERY = 0.5
BATCH_WAIT = 0.004
"""Longest pause for more results before a commit, while every run still has queued attempts."""
BATCH_LIMIT = 32
"""Most results recorded by one commit after a deliberate pause."""
COMMAND_REFRESH = 1.0
"""Seconds between updates of a task's "command in progress" in the state."""
LOOKAHEAD = 16
"""Most attempts recorded ahead of a free slot (per run): they start the moment a slot frees,
while the main loop commits the next batch, and so bound the attempts one commit records. A run
records fewer when its items are slow (`LOOKAHEAD_SPAN`). A `kill -9` can leave these recorded
but unlaunched; the launch journal tells them apart, and the next start withdraws them."""
OPEN_BATCH = 100
"""Runs whose openings share one commit when many fire at once."""
LOOKAHEAD_SPAN = 0.02
"""Seconds of its slots' work a run keeps recorded ahead (at most LOOKAHEAD attempts)."""


class Engine:
    """Runs the runs of one site of one pipeline against one state store."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: StateStore,
        *,
        site: str,
        log: Any,
        cancel: threading.Event | None = None,
        now: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
        status_line: Callable[[str], bool] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._status_line = status_line
        self._last_status_line = 0.0
        self.store = store
        self.site = site
        self.log = log
        self.cancel = cancel or threading.Event()
        self.now = now
        settings = pipeline.settings
        self.env = dict(os.environ if env is None else env)
        self.masker = Masker.from_env(settings.secrets, self.env)
        self.logs_dir = ensure_private_dir(pipeline.logs_dir)
        self.state_path = pipeline.state_file
        self.concurrency = settings.concurrency
        self.builder = LaunchBuilder(
            pipeline,
            base_env=self.env,
            secrets=[self.env[n] for n in settings.secrets if self.env.get(n)],
            logs_dir=self.logs_dir,
        )
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._hurry = threading.Event()
        self._slots: Slots[tuple[ActiveAttempt, LaunchSpec]] = Slots(self.concurrency)
        self._journal = LaunchJournal(journal_path(self.state_path, site))
        self._workers = [
            threading.Thread(target=self._worker, name=f"attempt-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for worker in self._workers:
            worker.start()
        self._withdrawn: list[int] = []
        self._active: list[ActiveRun] = []
        self._reports: list[RunReport] = []
        self._pending_checkpoints: list[tuple[int, Checkpoint, float]] = []
        self._results: list[tuple[ActiveAttempt, ProcessResult]] = []
        self._step_results: list[tuple[ActiveRun, ProcessResult]] = []
        self._after_commit: list[Callable[[], None]] = []
        self._dirs: set[str] = set()
        self._empty_processed = self._make_empty_processed()
        self._finished_times: deque[float] = deque()
        self._items_done = 0
        self._started_at = self.now()
        self._last_heartbeat = 0.0
        self._last_reap = 0.0
        self._last_disk_check = 0.0
        self._disk_low = False
        self._disk_full = False
        self._round_robin = 0

    # -- public --------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads (call once no run is active); empty the launch journal."""
        self._slots.close()
        for worker in self._workers:
            worker.join()
        # Keep only what may still matter to the next start: attempts left open (a full disk).
        self._journal.rewrite(a.id for a in self.store.open_attempts(self.site))
        self._journal.close()

    def recover(self) -> int:
        """Take over what a dead runner left: its attempts become `interrupted` and go through the policy.

        Attempts it recorded but never launched are withdrawn instead. Returns how many
        attempts were interrupted.
        """
        interrupted = recover(
            self.pipeline,
            self.store,
            site=self.site,
            log=self.log,
            mask=self._masked,
            now=self.now(),
            launched=read_launched(self._journal.path),
        )
        self._journal.rewrite(())  # every attempt it vouched for has ended
        return interrupted

    def execute(self, requests: Sequence[RunRequest]) -> list[RunReport]:
        """Run (or resume) these runs until each ends, is interrupted, or its window closes."""
        with self._session():
            self._open_all(requests)
            while self._active:
                self._cycle(self.now())
                if self._active:
                    self._collect(self._wait_time(self.now()))
        return self._reports

    def serve(self, source: RunSource, resume: Sequence[RunRequest] = ()) -> list[RunReport]:
        """Stay up: start the runs `source` hands over, until a stop is requested and runs are left.

        `source.poll` is asked for new runs on every wake-up (it decides itself how often it
        really looks); between wake-ups the loop sleeps until the earliest of: a message from
        an attempt, a run's timer, `source.next_wakeup`, or `wake()` (signals call it).
        """
        with self._session():
            self._open_all(resume)
            while self._active or not self.cancel.is_set():
                now = self.now()
                if not self.cancel.is_set():
                    self._open_all(source.poll(now, frozenset(r.name for r in self._active)))
                if self._active or self._results or self._step_results or self._pending_checkpoints:
                    self._cycle(now)
                wait = self._wait_time(now) if self._active else MAX_IDLE_WAIT
                wakeup = source.next_wakeup(now)
                if wakeup is not None:
                    wait = min(wait, max(0.0, wakeup - now))
                self._collect(wait)
        return self._reports

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Around `execute` and `serve`: fresh reports; a full disk stops everything; whatever
        ends the loop, what already came back is recorded (unless the disk is full)."""
        self._reports = []
        try:
            yield
        except DiskFullError:
            self._stop_on_full_disk()
            raise
        finally:
            if not self._disk_full:
                self._cycle(self.now(), dispatch=False)

    def _stop_on_full_disk(self) -> None:
        """The state could not be written: launch nothing more, interrupt what runs, stop.

        Everything the failed transaction recorded was rolled back, so the launches waiting
        for it are dropped; the attempts already running are interrupted and, since their
        start is recorded, resume as `interrupted` on the next start.
        """
        self._disk_full = True
        self._after_commit.clear()
        self.cancel.set()
        self.log.error(
            "disk.full",
            path=str(self.state_path),
            action="stopped: running attempts are interrupted and resume on the next start; "
            "free space, then start the runner again",
        )

    def wake(self) -> None:
        """Wake the main loop now (from a signal handler or another thread)."""
        self._inbox.put(("wake",))
        self._hurry.set()

    def use_pipeline(self, pipeline: Pipeline) -> None:
        """Take a new configuration: runs opened from now on use it; running runs keep theirs."""
        self.pipeline = pipeline
        self.builder = LaunchBuilder(
            pipeline,
            base_env=self.env,
            secrets=self.builder.secrets,
            logs_dir=self.logs_dir,
        )

    def set_offline(self) -> None:
        """Record that this runner is going away (its site shows `offline`), if the state can be written."""
        if not self._disk_full:
            self._beat(force=True, state=WORKER_OFFLINE)

    def _open_all(self, requests: Sequence[RunRequest]) -> None:
        """Open the runs asked for, OPEN_BATCH at a time: their groups are resolved first (a
        resolver never runs inside a transaction), then what their openings record is one
        transaction, and their log lines follow it."""
        busy = {r.name for r in self._active} | {r.task for r in requests if r.resume is not None}
        wanted: list[RunRequest] = []
        for request in requests:
            if request.resume is None and request.task in busy:
                self.log.info(
                    "run.skipped", task=request.task, reason="its previous run is still going"
                )
                continue
            busy.add(request.task)
            wanted.append(request)
        for start in range(0, len(wanted), OPEN_BATCH):
            prepared = [self._prepare_opening(r) for r in wanted[start : start + OPEN_BATCH]]
            with self.store.batch():
                for active, resolved, resuming, now in prepared:
                    if self._record_opening(active, resolved, resuming=resuming, now=now):
                        self._active.append(active)
            self._run_after_commit()
        if requests:
            self._beat(force=True)

    def _cycle(self, now: float, *, dispatch: bool = True) -> None:
        """One step of the loop, in ONE transaction: record results, advance runs, pick new items.

        Launches and the log lines that announce state changes wait in `_after_commit`
        until the transaction is durable.
        """
        with self.store.batch():
            self._record_results(now)
            if dispatch:
                self._honour_moves()
                for run in list(self._active):
                    self._advance(run, now)
                self._dispatch(now)
        if self._after_commit:
            failpoints.hit("after-attempt-commit")
        self._run_after_commit()
        if self._journal.oversized:
            self._journal.rewrite(a for run in self._active for a in run.running)

    def _run_after_commit(self) -> None:
        """Launch and log what waited for the transaction that just committed."""
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    # -- opening runs --------------------------------------------------------

    def _prepare_opening(
        self, request: RunRequest
    ) -> tuple[ActiveRun, tuple[list[Item], float] | None, bool, float]:
        """A run to open (or resume) and its resolved group (None: resolution failed)."""
        name = request.task
        task = self.pipeline.tasks[name]
        definition = self.pipeline.definitions[task.definition]
        policy = self.pipeline.policy_for(name)
        fingerprint = definition.fingerprint()
        now = self.now()
        row = request.resume
        if row is None:
            instant = request.fire_time if request.fire_time is not None else now
            run_id = run_id_for(name, instant, request.trigger)
            row = RunRow(
                id=run_id,
                task=name,
                site=self.site,
                trigger=request.trigger,
                fire_time=request.fire_time,
                window_end=request.window_end,
                started_at=now,
                ended_at=None,
                phase=PHASE_BEFORE,
                status=RUN_RUNNING,
                definition_hash=fingerprint,
                message="",
            )
        active = ActiveRun(
            name=name,
            task=task,
            definition=definition,
            policy=policy,
            row=row,
            fingerprint=fingerprint,
            task_ctx=task_context(name, self.site, task.mode),
            run_ctx=run_context(row.id, name, row.trigger, iso(row.fire_time) or ""),
            phase=row.phase,
        )
        resuming = request.resume is not None
        return active, self._resolve_group(active, resuming=resuming), resuming, now

    def _record_opening(
        self,
        active: ActiveRun,
        resolved: tuple[list[Item], float] | None,
        *,
        resuming: bool,
        now: float,
    ) -> bool:
        """Record the opening of a run (inside the caller's transaction); False: it failed."""
        name, row = active.name, active.row
        self.store.upsert_task(
            name,
            site=self.site,
            config_hash=task_config_hash(self.pipeline, name),
            modified_by=os_user(),
            now=now,
        )
        if resolved is not None:
            self._sync_group(active, *resolved)
        elif not resuming:
            self.store.begin_run(row, recurring=False)
            self._finish(active, RUN_FAILED, active.failure)
            return False
        else:
            active.failed, active.failure = False, ""  # resume with the items the state already has
        if not resuming:
            self.store.begin_run(row, recurring=active.task.mode == MODE_RECURRING)
            self._log_later(
                "info",
                "run.started",
                {
                    "task": name,
                    "run_id": row.id,
                    "trigger": row.trigger,
                    "fire_time": iso(row.fire_time) or "",
                    "definition_hash": active.fingerprint,
                },
            )
        else:
            if row.definition_hash != active.fingerprint:
                self._log_later(
                    "warning",
                    "run.definition_changed",
                    {
                        "task": name,
                        "run_id": row.id,
                        "previous": row.definition_hash,
                        "current": active.fingerprint,
                    },
                )
            self._log_later(
                "info", "run.resumed", {"task": name, "run_id": row.id, "phase": row.phase}
            )
        for phase in (PHASE_BEFORE, PHASE_AFTER):
            active.steps_done[phase] = self.store.step_status(row.id, phase)
        if active.phase == PHASE_ITEMS:
            self._start_progress(active)
        return True

    def _resolve_group(self, run: ActiveRun, *, resuming: bool) -> tuple[list[Item], float] | None:
        """The run's group members and how long resolving took; None (logged) if it failed."""
        started = time.monotonic()
        try:
            items = resolve_group(self.pipeline, run.task.group, env=self.env)
        except GroupResolutionError as exc:
            run.failed, run.failure = True, f"group {run.task.group!r} could not be resolved: {exc}"
            self.log.error(
                "group.failed",
                task=run.name,
                run_id=run.row.id,
                group=run.task.group,
                error=str(exc),
                resuming=resuming,
            )
            return None
        return items, time.monotonic() - started

    def _sync_group(self, run: ActiveRun, items: list[Item], took: float) -> None:
        requires = run.definition.requires
        report = self.store.sync_members(
            run.name,
            (
                (
                    it.id,
                    json.dumps(dict(it.attributes), ensure_ascii=False, separators=(",", ":")),
                    ",".join(r for r in requires if not it.attributes.get(r)),
                )
                for it in items
            ),
            now=self.now(),
        )
        self._log_later(
            "info",
            "group.resolved",
            {
                "task": run.name,
                "run_id": run.row.id,
                "group": run.task.group,
                "total": report.total,
                "added": report.added,
                "incomplete": report.incomplete,
                "left": report.left,
                "duration_s": round(took, 3),
            },
        )

    # -- the run state machine -----------------------------------------------

    def _advance(self, run: ActiveRun, now: float) -> None:
        if run.step is not None:
            return
        stopping = self.cancel.is_set() or (self._disk_low and run.phase != PHASE_AFTER)
        if stopping:
            self._withdraw(run)
        elif run.phase == PHASE_ITEMS and not run.in_schedule(now):
            self._withdraw(run, keep_run_now=True)  # out of schedule: only run-now items may start
        if stopping:
            if not run.running:
                self._stop(
                    run,
                    "interrupted by a stop request" if self.cancel.is_set() else "disk nearly full",
                )
            return
        if run.phase == PHASE_BEFORE and (
            run.failed or not self._launch_next_step(run, PHASE_BEFORE, run.task.before, now)
        ):
            self._set_phase(run, PHASE_ITEMS if not run.failed else PHASE_AFTER)
        if run.phase == PHASE_ITEMS and (
            run.failed or (not run.running and not self._has_work(run, now))
        ):
            self._set_phase(run, PHASE_AFTER)
        if run.phase == PHASE_AFTER and not run.running:
            success = not run.failed and self.store.run_error_items(run.row.id) == 0
            wanted = [s for s in run.task.after if after_step_wanted(s, success)]
            if not self._launch_next_step(
                run, PHASE_AFTER, wanted, now, indices=step_positions(run.task.after, wanted)
            ):
                self._complete(run)

    def _has_work(self, run: ActiveRun, now: float) -> bool:
        in_schedule = run.in_schedule(now)
        if self.store.eligible_items(run.name, now=now, in_schedule=in_schedule, limit=1):
            return True
        if not in_schedule:
            return False
        retry_at = self.store.next_retry_at(run.name)
        if retry_at is None or (
            run.row.window_end is not None
            and retry_at >= run.row.window_end
            and run.row.trigger != TRIGGER_NOW
        ):
            return False
        run.next_wakeup = retry_at
        return True

    def _set_phase(self, run: ActiveRun, phase: str) -> None:
        run.phase = phase
        self.store.set_run_phase(run.row.id, phase)
        if phase == PHASE_ITEMS:
            self._start_progress(run)

    def _start_progress(self, run: ActiveRun) -> None:
        waiting = (q.RUN_NOW,) if run.row.trigger == TRIGGER_RUN_NOW else q.DISPATCH_ORDER
        total = self.store.count_waiting(run.name, waiting) + len(run.running)
        run.progress = RunProgress(task=run.name, started=self.now(), total=total)

    def _show_progress(self, now: float) -> None:
        """Refresh the terminal's live progress line (at most twice a second)."""
        if self._status_line is None or now - self._last_status_line < PROGRESS_EVERY:
            return
        self._last_status_line = now
        runs = [r.progress for r in self._active if r.progress is not None]
        for run in self._active:
            if run.progress is not None:
                run.progress.running = len(run.running)
        if not self._status_line(format_progress(runs, now)):
            self._status_line = None  # not a terminal: never again

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
        label = f"{phase}[{index}]"
        outputs = step_files(self.logs_dir, run.name, run.row.id, phase, index)
        protocol = {"RUNNER_TASK": run.name, "RUNNER_RUN_ID": run.row.id, "RUNNER_STEP": label}
        self.store.start_step(run.row.id, phase, index, now)
        run.step = ActiveStep(phase, index, step, now)
        try:
            spec = self.builder.step_launch(
                step,
                task=run.task_ctx,
                run=run.run_ctx,
                outputs=outputs,
                protocol=protocol,
                marker=attempt_marker(run.row.id, f"{phase}-{index}"),
            )
        except TemplateRenderError as exc:
            self._step_results.append((run, start_failed(str(exc), now)))
            return
        command = self.masker.mask_text(display_command(spec.argv))

        def launch() -> None:
            self.log.info(
                "step.started",
                task=run.name,
                run_id=run.row.id,
                step=label,
                command=command,
                timeout_s=step.timeout,
                wait=step.wait,
            )
            threading.Thread(
                target=self._run_step, args=(run, spec), name="step", daemon=True
            ).start()

        self._after_commit.append(launch)

    def _run_step(self, run: ActiveRun, spec: LaunchSpec) -> None:
        try:
            result = run_process(spec, self.cancel)
        except BaseException as exc:  # never lose a completion: the main loop must hear of it
            result = start_failed(f"internal error: {exc!r}", time.time())
        self._inbox.put(("step", run, result))

    def _step_finished(self, run: ActiveRun, result: ProcessResult) -> None:
        step = run.step
        assert step is not None
        run.step = None
        now = self.now()
        failed = not (result.outcome == "exited" and result.exit_code == 0)
        status = OK if not failed else (result.outcome if result.outcome != "exited" else FAILED)
        error = None if not failed else error_text(result, status)
        if result.outcome == "interrupted":
            self._log_later(
                "warning",
                "step.interrupted",
                {"task": run.name, "run_id": run.row.id, "step": f"{step.phase}[{step.index}]"},
            )
            return  # left unrecorded as finished: it runs again when the run resumes
        self.store.finish_step(
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
            "step": f"{step.phase}[{step.index}]",
            "status": status,
            "exit_code": result.exit_code,
            "duration_s": round(result.duration_s, 3),
        }
        if not failed:
            self._log_later("info", "step.finished", fields)
            return
        fields["error"] = error
        fields["on_failure"] = step.step.on_failure
        if step.step.on_failure == "error":
            self._log_later("error", "step.finished", fields)
            if not run.failed:
                run.failed, run.failure = True, f"{step.phase} step {step.index} failed: {error}"
            if step.phase == PHASE_BEFORE:
                self._set_phase(run, PHASE_AFTER)
        else:
            self._log_later("warning", "step.finished", fields)

    def _complete(self, run: ActiveRun) -> None:
        if run.failed:
            self._finish(run, RUN_FAILED, run.failure)
            return
        errors = self.store.run_error_items(run.row.id)
        leftover = self.store.count_waiting(run.name, (q.RESCHEDULED, q.RETRY, q.UNATTEMPTED))
        message = ""
        if leftover and run.row.trigger == TRIGGER_SCHEDULE:
            message = f"window closed: {leftover} items not reached"
        if errors:
            self._finish(
                run,
                RUN_WITH_ERRORS,
                f"{errors} items ended in error queues" + (f"; {message}" if message else ""),
            )
        else:
            self._finish(run, RUN_OK, message)

    def _finish(self, run: ActiveRun, status: str, message: str) -> None:
        now = self.now()
        task_status = TASK_FAILED if status == RUN_FAILED else TASK_IDLE
        self.store.finish_run(
            run.row.id, status=status, message=message, now=now, task_status=task_status
        )
        counts = self.store.queue_counts(run.name)
        errors = self.store.run_error_items(run.row.id)
        level = (
            "error"
            if status == RUN_FAILED
            else ("warning" if status == RUN_WITH_ERRORS else "info")
        )
        self._log_later(
            level,
            "run.finished",
            {
                "task": run.name,
                "run_id": run.row.id,
                "status": status,
                "message": message,
                "queues": counts,
                "error_items": errors,
                "duration_s": round(now - run.row.started_at, 3),
            },
        )
        self._reports.append(RunReport(run.name, run.row.id, status, message, counts, errors))
        run.stopped = True
        if run in self._active:
            self._active.remove(run)

    def _stop(self, run: ActiveRun, why: str) -> None:
        """Leave a run open (to be resumed by the next runner) and stop working on it."""
        self._log_later(
            "warning",
            "run.stopped",
            {"task": run.name, "run_id": run.row.id, "phase": run.phase, "reason": why},
        )
        self.store.set_task_status(run.name, TASK_IDLE, command="")
        self._reports.append(
            RunReport(run.name, run.row.id, RUN_INTERRUPTED, why, self.store.queue_counts(run.name))
        )
        run.stopped = True
        self._active.remove(run)

    # -- dispatch ------------------------------------------------------------

    def _dispatch(self, now: float) -> None:
        """Record the next attempts of each run, up to its cap plus its lookahead ready to start."""
        if self.cancel.is_set() or self._check_disk(now):
            return
        outstanding = sum(len(r.running) for r in self._active)
        runs = [
            r for r in self._active if r.phase == PHASE_ITEMS and not r.failed and r.step is None
        ]
        if not runs:
            return
        self._round_robin = (self._round_robin + 1) % len(runs)
        for run in runs[self._round_robin :] + runs[: self._round_robin]:
            ahead = run.lookahead(self.concurrency, LOOKAHEAD_SPAN, LOOKAHEAD)
            free = min(
                self.concurrency + ahead - outstanding,
                run.cap(self.concurrency) + ahead - len(run.running),
            )
            if free <= 0:
                continue
            rows = self.store.eligible_items(
                run.name, now=now, in_schedule=run.in_schedule(now), limit=free
            )
            if rows:
                outstanding += self._start_items(run, rows, now)

    def _start_items(self, run: ActiveRun, rows: Sequence[ItemRow], now: float) -> int:
        prepared: list[tuple[ItemRow, list[str], dict[str, str], str | None]] = []
        for row in rows:
            try:
                argv, extra_env = self.builder.render_item_argv(
                    run.definition,
                    item_id=row.item_id,
                    attributes=row.attributes,
                    task=run.task_ctx,
                    run=run.run_ctx,
                    attempt=row.attempts + 1,
                )
                prepared.append((row, argv, extra_env, None))
            except TemplateRenderError as exc:
                prepared.append((row, [], {}, str(exc)))
        starts = [
            AttemptStart(
                task=run.name,
                item_id=row.item_id,
                number=row.attempts + 1,
                run_id=run.row.id,
                site=self.site,
                definition_hash=run.fingerprint,
                started_at=now,
                output_dir=item_prefix(self.logs_dir, run.name, row.item_id),
            )
            for row, *_ in prepared
        ]
        command = None
        if now - run.command_shown >= COMMAND_REFRESH:  # "command in progress" is informational
            last_argv = next((argv for _, argv, _, err in reversed(prepared) if err is None), None)
            command = self.masker.mask_text(display_command(last_argv)) if last_argv else None
            run.command_shown = now
        # Recorded in this cycle's transaction; launched only after it commits (_after_commit).
        ids = self.store.start_attempts(starts, command=command)
        failpoints.hit("before-attempt-commit")
        resumable = self.store.items_with_checkpoints(run.name, [row.item_id for row in rows])
        for (row, argv, extra_env, render_error), start, attempt_id in zip(
            prepared, starts, ids, strict=True
        ):
            number = start.number
            files = AttemptFiles(start.output_dir, number)
            attempt = ActiveAttempt(attempt_id, number, row, run, files, argv, now, render_error)
            run.running[attempt_id] = attempt
            if render_error is not None:
                self._after_commit.append(self._launcher(attempt, None))
                continue
            processed = files.path("processed") if row.item_id in resumable else None
            if processed is not None:
                attempt.wrote_processed = True
                self._ensure_dir(files.directory)
                write_processed(processed, self.store.processed_subids(run.name, row.item_id))
            spec = self.builder.item_launch(
                run.definition,
                argv=argv,
                extra_env=extra_env,
                files=files,
                processed=processed or self._empty_processed,
                protocol={
                    "RUNNER_TASK": run.name,
                    "RUNNER_ITEM": row.item_id,
                    "RUNNER_ATTEMPT": str(number),
                    "RUNNER_PREVIOUS_STATUS": row.last_status or "",
                    "RUNNER_RUN_ID": run.row.id,
                },
                marker=attempt_marker(run.row.id, attempt_id),
                on_events=self._events_sink(attempt_id),
            )
            self._after_commit.append(self._launcher(attempt, spec))
        return len(prepared)

    def _launcher(self, attempt: ActiveAttempt, spec: LaunchSpec | None) -> Callable[[], None]:
        def offer() -> None:
            if spec is None:
                self._log_started(attempt)
                self._inbox.put(
                    (
                        "item",
                        attempt.attempt_id,
                        start_failed(attempt.render_error or "", attempt.started),
                    )
                )
                return
            self._ensure_dir(attempt.files.directory)
            self._slots.offer(attempt.run, attempt.run.cap(self.concurrency), (attempt, spec))

        return offer

    def _worker(self) -> None:
        """A launch slot: take the next recorded attempt, run it, report the result."""
        while (taken := self._slots.take()) is not None:
            run_key, (attempt, spec) = taken
            if not self._slots.waiting(run_key):
                self._hurry.set()  # its queue ran dry: the main loop should commit more now
            try:
                too_late = attempt.item.queue != q.RUN_NOW and not attempt.run.in_schedule(
                    self.now()
                )
                if (
                    self.cancel.is_set() or too_late
                ):  # a stop, or the window closed since it was recorded
                    self._inbox.put(("withdrawn", attempt.attempt_id))
                    continue
                self._journal.record(attempt.attempt_id)
                self._log_started(attempt)
                self._run_item(attempt.attempt_id, spec)
            finally:
                self._slots.done(run_key)

    def _log_started(self, attempt: ActiveAttempt) -> None:
        run, row = attempt.run, attempt.item
        self.log.info(
            "item.started",
            task=run.name,
            run_id=run.row.id,
            item=row.item_id,
            attempt=attempt.number,
            queue=row.queue,
            command=self.masker.mask_text(display_command(attempt.argv)) if attempt.argv else None,
        )

    def _honour_moves(self) -> None:
        """An operator moved an item whose attempt is recorded but not launched: withdraw it.

        (A launched attempt runs on; the move applies when it ends.)
        """
        if not any(self._slots.waiting(run) for run in self._active):
            return
        moved = self.store.attempts_with_pending_moves()
        if not moved:
            return
        for run in self._active:
            jobs = self._slots.withdraw(run, keep=lambda job: job[0].attempt_id not in moved)
            if jobs:
                ids = [attempt.attempt_id for attempt, _ in jobs]
                for attempt_id in ids:
                    run.running.pop(attempt_id, None)
                self.store.cancel_attempts(ids)

    def _withdraw(self, run: ActiveRun, *, keep_run_now: bool = False) -> None:
        """Take back attempts recorded but not launched: they never ran, so they are undone."""
        jobs = self._slots.withdraw(
            run, keep=(lambda job: job[0].item.queue == q.RUN_NOW) if keep_run_now else None
        )
        if jobs:
            ids = [attempt.attempt_id for attempt, _ in jobs]
            for attempt_id in ids:
                run.running.pop(attempt_id, None)
            self.store.cancel_attempts(ids)

    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._dirs:
            ensure_private_dir(Path(directory))
            self._dirs.add(directory)

    def _make_empty_processed(self) -> Path:
        """One read-only empty RUNNER_PROCESSED file shared by every attempt with nothing processed."""
        path = ensure_private_dir(self.logs_dir / "attempts") / "nothing-processed"
        if not path.exists():
            write_processed(path, ())
        path.chmod(0o400)
        return path

    def _events_sink(self, attempt_id: int) -> Callable[[list[bytes]], None]:
        """Where the worker running `attempt_id` sends the lines of its events file."""

        def on_events(lines: list[bytes]) -> None:
            self._inbox.put(("events", attempt_id, lines, time.time()))

        return on_events

    def _run_item(self, attempt_id: int, spec: LaunchSpec) -> None:
        try:
            result = run_process(spec, self.cancel)
        except BaseException as exc:  # never lose a completion: the main loop must hear of it
            result = start_failed(f"internal error: {exc!r}", time.time())
        self._inbox.put(("item", attempt_id, result))
        if self._inbox.qsize() >= BATCH_LIMIT:
            self._hurry.set()

    # -- results -------------------------------------------------------------

    def _wait_time(self, now: float) -> float:
        wakeups = [r.next_wakeup for r in self._active if r.next_wakeup is not None]
        for run in self._active:
            if (
                run.row.window_end is not None
                and run.row.trigger == TRIGGER_SCHEDULE
                and run.row.window_end > now
            ):
                wakeups.append(run.row.window_end)
        deadline = min(wakeups, default=now + MAX_WAIT)
        return max(0.0, min(deadline - now, MAX_WAIT))

    def _collect(self, timeout: float) -> None:
        """Wait for the next message (or the timeout), then take every message already there.

        Once results are in, wait (once) up to BATCH_WAIT for more, so that one commit
        records several: workers cut the pause short (`_hurry`) when a run's queue of
        recorded attempts runs dry or BATCH_LIMIT results are waiting.
        """
        try:
            message = self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait()
        except queue.Empty:
            self._beat()
            return
        paused = False
        while True:
            self._take(message)
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                if paused or not self._results or not self._may_wait():
                    break
                paused = True
                self._hurry.clear()
                if self._may_wait():  # looked again: a worker may have hurried meanwhile
                    self._hurry.wait(BATCH_WAIT)
                try:
                    message = self._inbox.get_nowait()
                except queue.Empty:
                    break
        for run in self._active:
            run.next_wakeup = None
        self._beat()
        self._show_progress(self.now())

    def _take(self, message: tuple[Any, ...]) -> None:
        """File one message from a worker or a signal handler."""
        kind = message[0]
        if kind == "events":
            _, attempt_id, lines, at = message
            for run in self._active:
                if attempt_id in run.running:
                    run.running[attempt_id].had_events = True
            self._pending_checkpoints.extend(
                (attempt_id, self._masked(parse_event(line.strip())), at)
                for line in lines
                if line.strip()
            )
        elif kind == "item":
            _, attempt_id, result = message
            owner = next((r for r in self._active if attempt_id in r.running), None)
            if owner is not None:
                self._results.append((owner.running.pop(attempt_id), result))
        elif kind == "step":
            _, run, result = message
            self._step_results.append((run, result))
        elif kind == "withdrawn":
            _, attempt_id = message
            owner = next((r for r in self._active if attempt_id in r.running), None)
            if owner is not None:
                owner.running.pop(attempt_id)
                self._withdrawn.append(attempt_id)
        # "wake": nothing to file; the loop goes round

    def _may_wait(self) -> bool:
        """Whether to pause for more results before committing (group commit).

        Only while every run with work in flight still has recorded attempts queued for its
        slots (so no slot starves while we wait), and below BATCH_LIMIT results.
        """
        if len(self._results) + self._inbox.qsize() >= BATCH_LIMIT:
            return False
        return all(self._slots.waiting(run) for run in self._active if run.running)

    def _record_results(self, now: float) -> None:
        """Record finished steps, finished attempts and checkpoints (inside the cycle's transaction)."""
        steps, self._step_results = self._step_results, []
        for run, result in steps:
            self._step_finished(run, result)
        if self._withdrawn:
            withdrawn, self._withdrawn = self._withdrawn, []
            self.store.cancel_attempts(withdrawn)
        finished, self._results = self._results, []
        if finished:
            failpoints.hit("after-exit-before-outcome")
        ends = [self._decide(attempt, result, now) for attempt, result in finished]
        checkpoints, self._pending_checkpoints = self._pending_checkpoints, []
        if not ends and not checkpoints:
            return
        applied = self.store.finish_attempts(ends, checkpoints)
        by_id = {attempt.attempt_id: attempt for attempt, _ in finished}
        for end, queue_name in applied:
            attempt = by_id[end.attempt_id]
            attempt.run.attempt_ended(end.duration_s)
            self._items_done += 1
            self._finished_times.append(now)
            progress = attempt.run.progress
            if progress is not None and queue_name != q.RETRY:
                progress.finished += 1
                progress.failed += queue_name != q.SUCCESSFUL
            self._log_later(
                "info" if end.status == OK else "warning",
                "item.finished",
                {
                    "task": attempt.run.name,
                    "run_id": attempt.run.row.id,
                    "item": attempt.item.item_id,
                    "attempt": attempt.number,
                    "status": end.status,
                    "queue": queue_name,
                    "exit_code": end.exit_code,
                    "duration_s": round(end.duration_s, 3),
                    "retry_at": iso(end.retry_at) if end.retry_at else None,
                    "error": end.error,
                },
            )
            if attempt.had_events or attempt.wrote_processed:
                self._after_commit.append(attempt.files.discard_protocol_files)

    def _log_later(self, level: str, event: str, fields: Mapping[str, object]) -> None:
        """Log once the cycle's transaction is durable (a log line never runs ahead of the state)."""
        self._after_commit.append(lambda: getattr(self.log, level)(event, **fields))

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
            masker=self.masker,
            now=now,
        )

    # -- housekeeping --------------------------------------------------------

    def _check_disk(self, now: float) -> bool:
        if now - self._last_disk_check < DISK_CHECK_EVERY:
            return self._disk_low
        self._last_disk_check = now
        minimum = self.pipeline.settings.min_free_disk
        low = [
            (str(p), free)
            for p in (self.state_path, self.logs_dir)
            if (free := state_disk_free(p)) < minimum
        ]
        if low and not self._disk_low:
            for path, free in low:
                self.log.error(
                    "disk.low",
                    path=path,
                    free_bytes=free,
                    min_free_bytes=minimum,
                    action="no new items start until space is freed",
                )
        elif not low and self._disk_low:
            self.log.info("disk.ok")
        self._disk_low = bool(low)
        return self._disk_low

    def _beat(self, *, force: bool = False, state: str | None = None) -> None:
        now = self.now()
        if now - self._last_reap >= REAP_EVERY:
            self._last_reap = now
            reap_orphans()  # descendants that outlived their attempt were re-parented to us
        if not force and now - self._last_heartbeat < HEARTBEAT_EVERY:
            return
        self._last_heartbeat = now
        while self._finished_times and self._finished_times[0] < now - 300:
            self._finished_times.popleft()
        span = min(300.0, max(1.0, now - self._started_at))
        throughput = round(len(self._finished_times) * 60.0 / span, 2)
        if state is None:
            state = (
                WORKER_RUNNING if any(r.running or r.step for r in self._active) else WORKER_ONLINE
            )
        self.store.heartbeat(
            WorkerRow(
                site=self.site,
                state=state,
                pid=os.getpid(),
                host=socket.gethostname(),
                started_at=self._started_at,
                heartbeat=now,
                items_done=self._items_done,
                throughput=throughput,
            )
        )

    def _masked(self, checkpoint: Checkpoint) -> Checkpoint:
        masked = self.masker.mask_text(checkpoint.value)
        return checkpoint if masked == checkpoint.value else Checkpoint(checkpoint.kind, masked)
