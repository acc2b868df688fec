"""Dispatch: which items start next, under the caps, and recording their attempts before launch.

Each cycle records, for each run in its items phase, the next eligible items
(the store's dispatch order) up to its cap plus a lookahead, rotating which run
goes first. The attempts are recorded in the cycle's transaction and offered to
the worker pool only once it commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from runner.domain.limits import admit, count_running, full_values, widen, without
from runner.domain.runs import PHASE_ITEMS
from runner.engine.active import ActiveAttempt, ActiveRun
from runner.engine.context import EngineContext
from runner.engine.inbox import EventsArrived, Inbox, ItemFinished
from runner.engine.pool import WorkerPool
from runner.engine.verdicts import start_failed
from runner.errors import TemplateRenderError
from runner.launch import (
    AttemptFiles,
    attempt_marker,
    display_command,
    item_env,
    item_prefix,
    write_processed,
)
from runner.process import LaunchSpec
from runner.state import AttemptStart, ItemRow
from runner.system import failpoints
from runner.system.fs import ensure_runner_dir, make_read_only
from runner.templatelimits import RENDER_BUDGET_S

COMMAND_REFRESH = 1.0
"""Seconds between updates of a task's "command in progress" in the state."""
LOOKAHEAD = 16
"""Most attempts recorded ahead of a free slot (per run): they start the moment a slot frees,
while the main loop commits the next batch, and so bound the attempts one commit records. A run
records fewer when its items are slow (`LOOKAHEAD_SPAN`). A `kill -9` can leave these recorded
but unlaunched; the launch journal tells them apart, and the next start withdraws them."""
LIMIT_SPARE = 32
"""Candidates read beyond the free slots when a task has limits per attribute and twice the
free slots' worth did not fill them: the items of a value that fills up in this cycle are
skipped and the next ones taken, in the same cycle."""
LOOKAHEAD_SPAN = 0.02
"""Seconds of its slots' work a run keeps recorded ahead (at most LOOKAHEAD attempts)."""


class Dispatcher:
    """Records the next attempts of the runs in their items phase and hands them to the pool."""

    def __init__(self, ctx: EngineContext, pool: WorkerPool, inbox: Inbox) -> None:
        self._ctx = ctx
        self._pool = pool
        self._inbox = inbox
        self._dirs: set[str] = set()
        self._empty_processed = self._make_empty_processed()
        self._round_robin = 0

    def dispatch(self, now: float) -> None:
        """Record the next attempts of each run, up to its cap plus its lookahead ready to start."""
        ctx = self._ctx
        outstanding = sum(len(r.running) for r in ctx.active)
        runs = [
            r
            for r in ctx.active
            if r.phase == PHASE_ITEMS
            and not r.failed
            and not r.leaving
            and r.step is None
            and ctx.halts.get(r.name) is None
        ]
        if not runs:
            return
        self._round_robin = (self._round_robin + 1) % len(runs)
        for run in runs[self._round_robin :] + runs[: self._round_robin]:
            ahead = run.lookahead(ctx.concurrency, LOOKAHEAD_SPAN, LOOKAHEAD)
            free = min(
                ctx.concurrency + ahead - outstanding,
                run.cap(ctx.concurrency) + ahead - len(run.running),
            )
            if ctx.store.shared and run.task.concurrency:
                free = min(free, self._shared_room(run, ahead))
            if free <= 0:
                continue
            rows = self._next_items(run, now, free, ahead)
            if rows:
                outstanding += self._start_items(run, rows, now)

    def _shared_room(self, run: ActiveRun, ahead: int) -> int:
        """On a shared state: how many attempts of the run this runner may record now so
        that its task's concurrency holds over every runner of the site.

        What any runner claimed (recorded, launched or not) counts. This runner records
        ahead of its slots only while no other runner holds a claim of the task: its slots
        launch no more than the concurrency, and another runner then records only what the
        claims leave, so the processes launched never exceed it.
        """
        claimed = self._ctx.store.count_claimed(run.name)
        alone = claimed == len(run.running)
        return (run.task.concurrency or 0) - claimed + (ahead if alone else 0)

    def _next_items(self, run: ActiveRun, now: float, free: int, ahead: int) -> list[ItemRow]:
        """The next `free` items of the run in dispatch order, skipping those a limit per
        attribute holds back.

        With limits, the launch slots learn each value's room (its limit less the other
        runners' open attempts) and launch a recorded attempt only while its value has room;
        so attempts are recorded ahead for a value that is full now, up to its share of the
        lookahead (`widen`), and start the moment one of its items ends.
        """
        store = self._ctx.store
        in_schedule = run.in_schedule(now)
        if not run.task.limits:
            return store.eligible_items(run.name, now=now, in_schedule=in_schedule, limit=free)
        limits = [entry.limit() for entry in run.task.limits]
        open_now = count_running(store.running_attributes(run.name), limits)
        own = count_running((a.item.attributes for a in run.running.values()), limits)
        elsewhere = without(open_now, own)
        self._pool.limit(run, limits, elsewhere)
        recording = widen(limits, ahead, run.cap(self._ctx.concurrency))
        # values already full (or taken up elsewhere) are left out by the query; more
        # candidates than slots let the items of a value that fills up now give way to the
        # next ones: twice the slots, and only when that was not enough, LIMIT_SPARE more
        exclude = full_values(recording, open_now)
        for per, values in full_values(limits, elsewhere).items():
            exclude.setdefault(per, set()).update(values)
        chosen: list[ItemRow] = []
        for wanted in (2 * free, free + LIMIT_SPARE):
            candidates = store.eligible_items(
                run.name, now=now, in_schedule=in_schedule, limit=wanted, exclude=exclude
            )
            chosen = admit(candidates, recording, open_now, free)
            if len(chosen) == free or len(candidates) < wanted or wanted >= free + LIMIT_SPARE:
                break
        return chosen

    def honour_moves(self) -> None:
        """An operator moved an item whose attempt is recorded but not launched: withdraw it.

        (A launched attempt runs on; the move applies when it ends.)
        """
        ctx = self._ctx
        if not any(self._pool.waiting(run) for run in ctx.active):
            return
        moved = ctx.store.attempts_with_pending_moves()
        if not moved:
            return
        for run in ctx.active:
            self._pool.withdraw(run, ctx.store, keep=lambda a: a.attempt_id not in moved)

    def announce(self, attempt: ActiveAttempt) -> None:
        """Log `item.started` for an attempt about to run."""
        run, row = attempt.run, attempt.item
        self._ctx.log.info(
            "item.started",
            task=run.name,
            run_id=run.row.id,
            item=row.item_id,
            attempt=attempt.number,
            queue=row.queue,
            command=self._ctx.masker.mask_text(display_command(attempt.argv))
            if attempt.argv
            else None,
        )

    def _start_items(self, run: ActiveRun, rows: Sequence[ItemRow], now: float) -> int:
        ctx = self._ctx
        prepared: list[tuple[ItemRow, list[str], dict[str, str], str | None]] = []
        began = time.monotonic()
        for row in rows:
            if prepared and time.monotonic() - began >= RENDER_BUDGET_S:
                break  # slow templates: the rest wait for the next cycle, after the heartbeat
            try:
                argv, extra_env = ctx.builder.render_item_argv(
                    run.definition,
                    item_id=row.item_id,
                    attributes=row.attributes,
                    task=run.task_ctx,
                    run=run.run_ctx,
                    attempt=row.attempts + 1,
                    stop=ctx.cancel,
                )
                prepared.append((row, argv, extra_env, None))
            except TemplateRenderError as exc:
                if ctx.cancel.is_set():
                    return 0  # a stop interrupted rendering: start nothing, blame no item
                prepared.append((row, [], {}, str(exc)))
        starts = [
            AttemptStart(
                task=run.name,
                item_id=row.item_id,
                number=row.attempts + 1,
                run_id=run.row.id,
                site=ctx.site,
                definition_hash=run.fingerprint,
                started_at=now,
                output_dir=item_prefix(ctx.logs_dir, run.name, row.item_id),
                runner=ctx.instance,
            )
            for row, *_ in prepared
        ]
        command = None
        if now - run.command_shown >= COMMAND_REFRESH:  # "command in progress" is informational
            last_argv = next((argv for _, argv, _, err in reversed(prepared) if err is None), None)
            command = ctx.masker.mask_text(display_command(last_argv)) if last_argv else None
            run.command_shown = now
        # Recorded in this cycle's transaction; launched only after it commits.
        ids = ctx.store.start_attempts(starts, command=command)
        failpoints.hit("before-attempt-commit")
        resumable = ctx.store.items_with_checkpoints(run.name, [row.item_id for row in rows])
        for (row, argv, extra_env, render_error), start, attempt_id in zip(
            prepared, starts, ids, strict=True
        ):
            number = start.number
            files = AttemptFiles(start.output_dir, number)
            attempt = ActiveAttempt(attempt_id, number, row, run, files, argv, now, render_error)
            run.running[attempt_id] = attempt
            if render_error is not None:
                ctx.after_commit.add(self._offer(attempt, None))
                continue
            processed = files.path("processed") if row.item_id in resumable else None
            if processed is not None:
                attempt.wrote_processed = True
                self._ensure_dir(files.directory)
                write_processed(processed, ctx.store.processed_subids(run.name, row.item_id))
            spec = ctx.builder.item_launch(
                run.definition,
                argv=argv,
                extra_env=extra_env,
                files=files,
                processed=processed or self._empty_processed,
                protocol=item_env(
                    task=run.name,
                    run_id=run.row.id,
                    item=row.item_id,
                    attempt=number,
                    previous_status=row.last_status,
                ),
                marker=attempt_marker(run.row.id, attempt_id),
                on_events=self._events_sink(attempt_id),
                on_output_events=self._events_sink(attempt_id, from_output=True),
            )
            ctx.after_commit.add(self._offer(attempt, spec))
        return len(prepared)

    def _offer(self, attempt: ActiveAttempt, spec: LaunchSpec | None) -> Callable[[], None]:
        """What to do once the attempt's start is durable: offer it to the pool (None: report
        that it could not start, its command did not render)."""

        def offer() -> None:
            if spec is None:
                self.announce(attempt)
                failed = start_failed(attempt.render_error or "", attempt.started)
                self._inbox.put(ItemFinished(attempt.attempt_id, failed))
                return
            self._ensure_dir(attempt.files.directory)
            self._pool.offer(attempt, spec)

        return offer

    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._dirs:
            ensure_runner_dir(Path(directory))
            self._dirs.add(directory)

    def _make_empty_processed(self) -> Path:
        """One read-only empty RUNNER_PROCESSED file shared by every attempt with nothing processed."""
        path = ensure_runner_dir(self._ctx.logs_dir / "attempts") / "nothing-processed"
        if not path.exists():
            write_processed(path, ())
        make_read_only(path)
        return path

    def _events_sink(
        self, attempt_id: int, *, from_output: bool = False
    ) -> Callable[[list[bytes]], None]:
        """Where the worker running `attempt_id` sends the lines of its events file (or, with
        `from_output`, the events lines its output rules made)."""

        def on_events(lines: list[bytes]) -> None:
            self._inbox.put(EventsArrived(attempt_id, lines, time.time(), from_output))

        return on_events
