"""`runner explain`: why one item is or is not running now, as one sentence and details.

Over 400 lines: every reason an item may be waiting, checked in one order over one loaded
view of the item, its task and its run; each reason is a short method of one class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.domain import queues as q
from runner.domain.clocksteps import backward_step, retry_due
from runner.domain.limits import count_running, describe, holding, without
from runner.domain.runs import TRIGGER_NOW, TRIGGER_SCHEDULE
from runner.domain.statuses import MODE_ONCE
from runner.domain.timefmt import format_duration, iso
from runner.domain.workers import WORKER_OFFLINE, worker_state
from runner.operations._common import (
    QUEUE_MEANING,
    move_json,
    process_alive,
    read_item,
    run_json,
)
from runner.operations._control import control_json
from runner.state import ItemRow, StateStore, WorkerRow, read_under_way

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline
    from runner.config.schedules import Schedule
    from runner.config.tasks import Task

R_RUNNING = "running"
R_ABOUT_TO_LAUNCH = "about-to-launch"
R_INTERRUPTED = "interrupted"
R_LEFT_GROUP = "left-group"
R_TASK_REMOVED = "task-removed"
R_MISSING = "missing-attributes"
R_HELD = "held"
R_ERROR_QUEUE = "error-queue"
R_DONE = "done"
R_TASK_DISABLED = "task-disabled"
R_HALTED = "task-halted"
R_BACKOFF = "backoff"
R_OUT_OF_SCHEDULE = "out-of-schedule"
R_NO_SCHEDULE = "no-schedule"
R_NEXT_RUN = "next-run"
R_NO_RUNNER = "no-runner"
R_CONCURRENCY = "concurrency-full"
R_LIMIT = "limit-full"
R_WAITING = "waiting"

EXPLAIN_REASONS: tuple[str, ...] = (
    R_RUNNING,
    R_ABOUT_TO_LAUNCH,
    R_INTERRUPTED,
    R_LEFT_GROUP,
    R_TASK_REMOVED,
    R_MISSING,
    R_HELD,
    R_ERROR_QUEUE,
    R_DONE,
    R_TASK_DISABLED,
    R_HALTED,
    R_BACKOFF,
    R_OUT_OF_SCHEDULE,
    R_NO_SCHEDULE,
    R_NEXT_RUN,
    R_NO_RUNNER,
    R_LIMIT,
    R_CONCURRENCY,
    R_WAITING,
)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an item is or is not running now: one sentence (`summary`), then details."""

    task: str
    item: str
    queue: str
    reason: str
    summary: str
    details: list[str]
    facts: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `explain --json`."""
        return {
            "task": self.task,
            "item": self.item,
            "queue": self.queue,
            "category": q.CATEGORY.get(self.queue),
            "meaning": QUEUE_MEANING.get(self.queue, ""),
            "reason": self.reason,
            "summary": self.summary,
            "details": list(self.details),
            **self.facts,
        }


@dataclass(frozen=True, slots=True)
class _ScheduleView:
    """Whether the item's task may start items from its schedule now, and what comes next."""

    in_schedule: bool
    due_now: bool
    next_fire: float | None
    window_end: float | None
    text: str


def explain(
    pipeline: Pipeline,
    task: str,
    item_id: str,
    *,
    now: float | None = None,
    alive: Callable[[WorkerRow], bool] = process_alive,
) -> Explanation:
    """Why the item is or is not running now, checked in this order: running (or about to
    launch); left the group; task no longer in the pipeline; its queue (incomplete, held,
    error, done); task disabled; task halted or paused; backoff; schedule; no runner up; a limit
    per attribute full; concurrency full; else waiting its turn.
    """
    instant = time.time() if now is None else now
    with read_item(pipeline, task, item_id) as (store, row):
        return _Explainer(pipeline, store, row, instant, alive).explain()


class _Explainer:
    """Gathers the facts about one item once, then finds the first reason that applies."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: StateStore,
        item: ItemRow,
        now: float,
        alive: Callable[[WorkerRow], bool],
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.item = item
        self.now = now
        self.config: Task | None = pipeline.tasks.get(item.task)
        self.task_row = store.task(item.task)
        moves = store.moves_of(item.task, item.item_id)
        self.latest_move = moves[-1] if moves else None
        self.open_run = store.open_run(item.task)
        self.last_run = store.last_run(item.task)
        self.site = (
            pipeline.task_site(item.task)
            if self.config is not None
            else (self.task_row.site if self.task_row else pipeline.settings.site)
        )
        workers = [w for w in store.workers() if w.site == self.site]
        live = [w for w in workers if worker_state(w, now, alive=alive) != WORKER_OFFLINE]
        attempt = None if item.running_attempt is None else store.attempt(item.running_attempt)
        running_it = [w for w in workers if attempt is not None and w.name == attempt.runner]
        # the runner running the item, else the site's live one heard from last (several
        # run a site on a shared state), else the one heard from last
        worker = max(running_it or live or workers, key=lambda w: w.heartbeat, default=None)
        self.worker = worker
        self.worker_state = worker_state(worker, now, alive=alive) if worker else WORKER_OFFLINE
        self.clock_step = backward_step(worker.heartbeat if worker else None, now)
        """Seconds the clock went back since the site's runner last wrote (its next cycle or
        start pulls retries back by as much: runner.engine.hooks)."""
        self.retry_due = (
            None if item.retry_at is None else retry_due(item.retry_at, self.clock_step, now)
        )
        settings = pipeline.settings
        self.runner_cap = settings.concurrency
        task_cap = self.config.concurrency if self.config is not None else None
        self.cap = min(task_cap or settings.concurrency, settings.concurrency)
        under_way = read_under_way(store)
        self.under_way = under_way
        self.running_task = under_way.running.get(item.task, 0)
        self.running_all = sum(under_way.running.values())
        self.launched = item.running_attempt is not None and under_way.launched(
            item.running_attempt
        )
        self.policy = pipeline.policy_for(item.task) if self.config is not None else None
        self.ahead: int | None = None
        self.halt = store.task_halt(item.task)

    # -- the facts, in JSON and as detail lines -----------------------------------------------

    def facts(self, schedule: _ScheduleView | None) -> dict[str, Any]:
        item = self.item
        return {
            "running": self.launched,
            "about_to_launch": item.running_attempt is not None and not self.launched,
            "attempts": item.attempts,
            "retries_used": item.retries_used,
            "max_retries": self.policy.max_retries if self.policy else None,
            "retry_at": iso(self.retry_due),
            "last_status": item.last_status,
            "last_error": item.last_error,
            "missing": list(item.missing),
            "in_group": item.in_group,
            "pending_queue": item.pending_queue,
            "task_enabled": self.config.enabled if self.config is not None else None,
            "latest_move": move_json(self.latest_move),
            "open_run": run_json(self.open_run),
            "next_fire": iso(schedule.next_fire) if schedule else None,
            "window_end": iso(schedule.window_end) if schedule else None,
            "concurrency": {
                "running": self.running_task,
                "cap": self.cap,
                "runner_running": self.running_all,
                "runner_cap": self.runner_cap,
            },
            "worker": {
                "site": self.site,
                "state": self.worker_state,
                "instance": self.worker.name if self.worker else None,
                "host": self.worker.host if self.worker else None,
            },
            "ahead": self.ahead,
            "halted": control_json(self.halt),
        }

    def detail_lines(self, schedule: _ScheduleView | None) -> list[str]:
        item = self.item
        lines = [
            f"queue: {item.queue} ({q.CATEGORY.get(item.queue, '?')}): {QUEUE_MEANING.get(item.queue, '')}"
        ]
        tries = f"attempts: {item.attempts}"
        if self.policy is not None:
            tries += f"; retries used {item.retries_used} of {self.policy.max_retries}"
            if self.config is not None and self.config.policy:
                tries += f" (policy {self.config.policy})"
        lines.append(tries)
        if item.last_status is not None:
            lines.append(f"last status: {item.last_status} ({iso(item.updated)})")
        if item.last_error:
            lines.append(f"last error: {item.last_error}")
        if item.retry_at is not None and item.queue == q.RETRY:
            lines.append(f"backoff until: {iso(self.retry_due)}{self._stepped_back()}")
        if item.missing:
            lines.append(f"missing attributes: {', '.join(item.missing)}")
        if not item.in_group:
            lines.append("member of the group: no (it left the group)")
        if self.latest_move is not None:
            m = self.latest_move
            state = (
                f"applied {iso(m.applied_at)}" if m.applied_at else "pending until its attempt ends"
            )
            why = f": {m.reason}" if m.reason else ""
            lines.append(
                f"latest move: {iso(m.at)} by {m.by}, {m.from_queue} -> {m.to_queue} ({state}){why}"
            )
        if self.open_run is not None:
            r = self.open_run
            lines.append(
                f"open run: {r.id} (trigger {r.trigger}, started {iso(r.started_at)}, phase {r.phase})"
            )
        elif self.last_run is not None:
            r = self.last_run
            lines.append(
                f"no open run; last run {r.id} ended {iso(r.ended_at)} with status {r.status}"
            )
        else:
            lines.append("no run yet")
        if self.config is not None and not self.config.enabled:
            lines.append("task: disabled (enabled: false)")
        if self.halt is not None:
            h = self.halt
            lines.append(f"task: {h.action} by {h.by} at {iso(h.at)}: {h.reason or '-'}")
        if schedule is not None:
            lines.append(f"schedule: {schedule.text}")
        lines.append(
            f"concurrency: {self.running_task} of {self.cap} running for this task, "
            f"{self.running_all} of {self.runner_cap} for the runner"
        )
        who = (
            f" ({self.worker.name} on {self.worker.host}, heartbeat {iso(self.worker.heartbeat)})"
            if self.worker
            else ""
        )
        lines.append(f"runner for site {self.site}: {self.worker_state}{who}")
        if self.ahead is not None:
            lines.append(f"items ahead of it: {self.ahead}")
        return lines

    def result(
        self, reason: str, summary: str, schedule: _ScheduleView | None = None
    ) -> Explanation:
        return Explanation(
            task=self.item.task,
            item=self.item.item_id,
            queue=self.item.queue,
            reason=reason,
            summary=summary,
            details=self.detail_lines(schedule),
            facts=self.facts(schedule),
        )

    # -- the reasons, in order -----------------------------------------------------------------

    def explain(self) -> Explanation:
        item = self.item
        config = self.config
        if item.running_attempt is not None:
            return self._running()
        if not item.in_group:
            group = config.group if config is not None else "its group"
            return self.result(
                R_LEFT_GROUP,
                f"Not running: it left the group {group}; it keeps its queue ({item.queue}) and "
                "history, and runs again only if the group lists it again.",
            )
        if config is None:
            return self.result(
                R_TASK_REMOVED,
                f"Not running: task {item.task} is no longer in the pipeline; its items are kept "
                "in the state but nothing runs them.",
            )
        queue = item.queue
        if queue == q.INCOMPLETE:
            names = ", ".join(item.missing) or "attributes"
            return self.result(
                R_MISSING,
                f"Not running: it lacks {names}, which definition {config.definition} requires; "
                "it leaves incomplete by itself once the group supplies them.",
            )
        if queue in (q.PAUSED, q.DISABLED, q.TRASH):
            return self.result(R_HELD, self._held_sentence())
        if queue in q.ERROR_QUEUES or queue == q.INCORRECT_FORMAT:
            return self.result(R_ERROR_QUEUE, self._error_sentence())
        schedule = self._schedule(config)
        if queue == q.SUCCESSFUL:
            return self.result(R_DONE, self._done_sentence(config, schedule), schedule)
        if not config.enabled:
            return self.result(
                R_TASK_DISABLED,
                f"Not running: task {item.task} is disabled (enabled: false in the pipeline); "
                f"the item waits in {queue}.",
                schedule,
            )
        if self.halt is not None:
            h = self.halt
            return self.result(
                R_HALTED,
                f"Not running: task {item.task} is {h.action} (by {h.by} at {iso(h.at)}: "
                f"{h.reason or 'no reason given'}); no item of it starts until "
                f"`runner resume --task {item.task}`; the item waits in {queue}.",
                schedule,
            )
        if queue == q.RETRY and self.retry_due is not None and self.retry_due > self.now:
            used = (
                f"retry {item.retries_used} of {self.policy.max_retries}"
                if self.policy
                else "a retry"
            )
            return self.result(
                R_BACKOFF,
                f"Not running: waiting for its backoff until {iso(self.retry_due)} ({used} after "
                f"status {item.last_status}){self._stepped_back()}.",
                schedule,
            )
        return self._dispatchable(config, schedule)

    def _stepped_back(self) -> str:
        """A note on the retry time when the clock went back since the site's runner last wrote."""
        if not self.clock_step or self.item.retry_at is None:
            return ""
        return (
            f"; the wall clock went back {format_duration(round(self.clock_step))} since the "
            f"runner last wrote, so the recorded {iso(self.item.retry_at)} comes that much earlier"
        )

    def _running(self) -> Explanation:
        item = self.item
        attempt = self.store.attempt(item.running_attempt or 0)
        number = attempt.number if attempt else item.attempts
        since = iso(attempt.started_at) if attempt else "?"
        run_id = attempt.run_id if attempt else "?"
        pending = (
            f" An operator move to {item.pending_queue} applies when this attempt ends."
            if item.pending_queue
            else ""
        )
        if not self.launched:
            return self._about_to_launch(number, since, run_id, pending)
        if self.worker_state == WORKER_OFFLINE:
            return self.result(
                R_INTERRUPTED,
                f"Not running: attempt {number} (started {since} in run {run_id}) is recorded as "
                f"running, but no runner is up for site {self.site}; the next `runner run` "
                "records it as interrupted and its policy decides." + pending,
            )
        return self.result(
            R_RUNNING,
            f"Running: attempt {number} since {since} in run {run_id}." + pending,
        )

    def _about_to_launch(
        self, number: int, since: str | None, run_id: str, pending: str
    ) -> Explanation:
        if self.worker_state == WORKER_OFFLINE:
            return self.result(
                R_ABOUT_TO_LAUNCH,
                f"Not running: attempt {number} was recorded ({since}, run {run_id}) ahead of a "
                f"free slot but never launched, and no runner is up for site {self.site}; the "
                "next `runner run` withdraws it and the item runs in its turn." + pending,
            )
        held = self._held_by_limit(self.config) if self.config is not None else None
        when = f"its value has room ({held})" if held is not None else "a slot frees"
        return self.result(
            R_ABOUT_TO_LAUNCH,
            f"About to launch: attempt {number} is recorded (since {since}, run {run_id}) and "
            f"starts as soon as {when}; the runner keeps a few attempts ready ahead." + pending,
        )

    def _held_sentence(self) -> str:
        item, move = self.item, self.latest_move
        if move is not None and move.to_queue == item.queue:
            why = f": {move.reason}" if move.reason else " (no reason given)"
            return (
                f"Not running: it is in {item.queue}, moved there by {move.by} at {iso(move.at)}"
                f"{why}. Move it to run-now or unattempted to run it."
            )
        return f"Not running: it is in {item.queue} ({QUEUE_MEANING[item.queue]})."

    def _error_sentence(self) -> str:
        item = self.item
        after = f" after status {item.last_status}" if item.last_status else ""
        tries = ""
        if self.policy is not None and item.last_status is not None:
            tries = f" (retries used {item.retries_used} of {self.policy.max_retries})"
        return (
            f"Not running: it is in the error queue {item.queue}{after}{tries} and waits for a "
            f"person; fix the cause, then: runner move --task {item.task} --to run-now "
            f"{_shell_word(item.item_id)}"
            if item.queue != q.INCORRECT_FORMAT
            else f"Not running: it is in incorrect-format{after}: it is never run again "
            "(move it to trash or disabled to take it out)."
        )

    def _done_sentence(self, config: Task, schedule: _ScheduleView | None) -> str:
        item = self.item
        when = iso(item.updated)
        if config.mode == MODE_ONCE:
            return (
                f"Not running: it succeeded ({when}); the task runs each item once (mode: once), "
                "so it is done. Move it to run-now to run it again."
            )
        upcoming = ""
        if schedule is not None and schedule.next_fire is not None:
            upcoming = f" (next fire {iso(schedule.next_fire)})"
        return (
            f"Not running: it succeeded ({when}); the task's next run (mode: recurring) runs it "
            f"again{upcoming}."
        )

    def _schedule(self, config: Task) -> _ScheduleView | None:
        if config.schedule is None:
            return None
        from runner.schedule.due import due_fire
        from runner.schedule.fires import next_fire

        spec: Schedule = self.pipeline.schedules[config.schedule]
        window = f", window {format_duration(spec.window)}" if spec.window else ""
        text = f"cron {spec.cron!r} in {spec.timezone}{window}"
        run = self.open_run
        if (
            run is not None
            and run.trigger == TRIGGER_SCHEDULE
            and (run.window_end is None or self.now < run.window_end)
        ):
            until = f" until {iso(run.window_end)}" if run.window_end else ""
            return _ScheduleView(True, False, None, run.window_end, f"{text}; in its window{until}")
        row = self.task_row
        since = self.now
        if row is not None:
            since = (
                row.last_fire
                if row.last_fire is not None and row.last_fire <= self.now
                else row.created
            )
        due = due_fire(spec, since=since, now=self.now)
        if (
            run is None
            and due is not None
            and (due.window_end is None or due.window_end > self.now)
        ):
            return _ScheduleView(
                False,
                True,
                due.fire,
                due.window_end,
                f"{text}; fired at {iso(due.fire)}, not started yet",
            )
        fire = next_fire(spec, self.now)
        end = fire + spec.window if spec.window else None
        return _ScheduleView(False, False, fire, end, f"{text}; next fire {iso(fire)}")

    def _dispatchable(self, config: Task, schedule: _ScheduleView | None) -> Explanation:
        item, run = self.item, self.open_run
        needs_schedule = item.queue != q.RUN_NOW
        if run is not None:
            in_schedule = run.trigger == TRIGGER_NOW or (
                run.trigger == TRIGGER_SCHEDULE and schedule is not None and schedule.in_schedule
            )
            if needs_schedule and not in_schedule:
                return self._not_in_schedule(config, schedule)
            if self.worker_state == WORKER_OFFLINE:
                return self.result(
                    R_NO_RUNNER,
                    f"Not running: run {run.id} is open but no runner is up for site {self.site}; "
                    "the next `runner run` resumes it.",
                    schedule,
                )
            self.ahead = self.store.items_ahead(item, now=self.now, in_schedule=in_schedule)
            held = self._held_by_limit(config)
            if held is not None:
                return self.result(
                    R_LIMIT,
                    f"Waiting: {held}; it starts when one of those ends (items with other "
                    f"values may start before it){_ahead(self.ahead)}.",
                    schedule,
                )
            if self.running_task >= self.cap or self.running_all >= self.runner_cap:
                full = (
                    f"{self.running_task} of {self.cap} for this task"
                    if self.running_task >= self.cap
                    else f"{self.running_all} of {self.runner_cap} for the runner"
                )
                return self.result(
                    R_CONCURRENCY,
                    f"Waiting: concurrency is full ({full} running); it starts when a slot frees"
                    f"{_ahead(self.ahead)}.",
                    schedule,
                )
            return self.result(
                R_WAITING,
                f"Waiting its turn in run {run.id}{_ahead(self.ahead)}.",
                schedule,
            )
        if not needs_schedule:
            return self.result(
                R_NEXT_RUN,
                "Not running yet: run-now items start at the next `runner run` (even out of "
                "schedule, and for a task without a schedule).",
                schedule,
            )
        return self._not_in_schedule(config, schedule)

    def _held_by_limit(self, config: Task) -> str | None:
        """`limit server=imap1: 2 of 2 running` when a full limit per attribute holds the item."""
        if not config.limits:
            return None
        limits = [entry.limit() for entry in config.limits]
        task = self.item.task
        opened = count_running(self.store.running_attributes(task), limits)
        # attempts recorded ahead of a free slot wait for room: they are not running
        ahead = count_running(self._recorded_ahead(task), limits)
        found = holding(self.item.attributes, limits, without(opened, ahead))
        return describe(*found) if found is not None else None

    def _recorded_ahead(self, task: str) -> list[dict[str, str]]:
        """The attributes of the task's items whose open attempt is recorded, not launched."""
        found: list[dict[str, str]] = []
        for attempt_id in sorted(self.under_way.ahead_attempts):
            attempt = self.store.attempt(attempt_id)
            if attempt is None or attempt.task != task:
                continue
            item = self.store.item(task, attempt.item_id)
            if item is not None:
                found.append(dict(item.attributes))
        return found

    def _not_in_schedule(self, config: Task, schedule: _ScheduleView | None) -> Explanation:
        item = self.item
        if schedule is None:
            return self.result(
                R_NO_SCHEDULE,
                f"Not running: task {item.task} has no schedule; it runs with "
                f"`runner run --task {item.task} --now`, or move the item to run-now.",
                schedule,
            )
        if schedule.due_now:
            return self.result(
                R_NEXT_RUN,
                f"Not running yet: the schedule fired at {iso(schedule.next_fire)}; the next "
                "`runner run` starts the run.",
                schedule,
            )
        window = f" (window until {iso(schedule.window_end)})" if schedule.window_end else ""
        return self.result(
            R_OUT_OF_SCHEDULE,
            f"Not running: out of schedule until the next fire at {iso(schedule.next_fire)}"
            f"{window}; move it to run-now to run it sooner.",
            schedule,
        )


def _ahead(count: int | None) -> str:
    if not count:
        return "; it is next"
    return f"; {count} item{'s' if count != 1 else ''} ahead of it"


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)
