"""The library API behind the CLI: every verb is a function here.

Functions raise `RunnerError` subclasses; the CLI maps them to exit codes.
Heavy modules are imported inside the functions that need them, so that
`runner validate` does not pay for the engine and `runner schema` not for YAML.
"""

from __future__ import annotations

import difflib
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from runner import exitcodes
from runner.domain.timefmt import iso
from runner.errors import LockHeldByRunError, LockHeldError, TaskHaltedError, UsageError

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline
    from runner.engine import RunReport
    from runner.serve.requests import RunNowRequested
    from runner.session import Session
    from runner.state import ItemRow

DEFAULT_PATH = "pipelines"


def load(path: str | Path) -> Pipeline:
    """Load and validate a pipeline (file or directory); ConfigError lists every problem."""
    from runner.config import load_pipeline

    return load_pipeline(path)


def schema_text() -> str:
    """The JSON Schema of the pipeline format, as checked in under schemas/."""
    from runner.config.schema import render_schema_text

    return render_schema_text()


def warnings(pipeline: Pipeline, env: Mapping[str, str] | None = None) -> list[str]:
    """What `runner validate` warns about in a valid pipeline (with the environment `env`)."""
    from runner.masking import WHOLE_VALUE_BELOW, short_secrets

    names = short_secrets(pipeline.settings.secrets, os.environ if env is None else env)
    return [
        f"secret {name} is shorter than {WHOLE_VALUE_BELOW} characters: it is masked only where "
        "it stands alone, not inside longer words; use a longer secret"
        for name in names
    ]


def check_tasks(pipeline: Pipeline, names: Sequence[str]) -> None:
    """Refuse task names the pipeline does not define, suggesting the nearest one."""
    for name in names:
        if name not in pipeline.tasks:
            close = difflib.get_close_matches(name, list(pipeline.tasks), n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; tasks: {', '.join(sorted(pipeline.tasks))}"
            )
            raise UsageError(f"no task named {name!r} in the pipeline{hint}")


# -- plan ----------------------------------------------------------------------


def plan(
    pipeline: Pipeline, *, at: datetime | None = None, tasks: Sequence[str] = ()
) -> dict[str, Any]:
    """What would run at `at` (default now): per task, its next fire, item counts and first commands.

    Secret values (`settings.secrets`) are masked everywhere in the report, as in the logs.
    """
    from runner.domain import queues as q
    from runner.domain.policy import after_rediscovery
    from runner.errors import GroupResolutionError, TemplateRenderError
    from runner.groups import resolve_group
    from runner.launch import display_command, run_context, task_context
    from runner.masking import Masker
    from runner.schedule.due import task_due
    from runner.schedule.fires import describe_next
    from runner.state import open_existing
    from runner.templating import ItemView, render_argv

    check_tasks(pipeline, tasks)
    instant = (at or datetime.now(UTC)).timestamp()
    store = open_existing(pipeline.state_location)
    report: dict[str, Any] = {"at": iso(instant), "tasks": []}
    try:
        for name, task in sorted(pipeline.tasks.items()):
            if tasks and name not in tasks:
                continue
            definition = pipeline.definitions[task.definition]
            entry: dict[str, Any] = {
                "name": name,
                "site": pipeline.task_site(name),
                "enabled": task.enabled,
                "mode": task.mode,
                "schedule": task.schedule,
                "next_fire": None,
                "next_fire_local": None,
                "due": False,
                "group": task.group,
            }
            row = store.task(name) if store is not None else None
            if task.schedule is not None:
                schedule = pipeline.schedules[task.schedule]
                entry["next_fire"], entry["next_fire_local"] = describe_next(schedule, instant)
                # the same rule as `runner run`: a fire after the task's watermark with no run yet
                due = (
                    task_due(pipeline, store, name, instant)
                    if store is not None and row is not None
                    else None
                )
                entry["due"] = task.enabled and due is not None and due.window_open(instant)
            try:
                items = resolve_group(pipeline, task.group)
            except GroupResolutionError as exc:
                entry["error"] = str(exc)
                report["tasks"].append(entry)
                continue
            missing = {
                it.id: any(not it.attributes.get(r) for r in definition.requires) for it in items
            }
            entry["members"] = len(items)
            # the queues the next run would find: the state's, after the group as it is now
            known: Mapping[str, ItemRow] = {}
            queues: Counter[str] = Counter({q.UNATTEMPTED: 0, q.INCOMPLETE: 0})
            if store is not None and row is not None:
                known = store.find_items(name, [it.id for it in items])
                queues.clear()
            for it in items:
                stored = known.get(it.id)
                queues[
                    after_rediscovery(
                        stored.queue if stored is not None else None,
                        missing_attributes=missing[it.id],
                        running=stored is not None and stored.running_attempt is not None,
                    )
                ] += 1
            entry["queues"] = {queue: queues[queue] for queue in sorted(queues)}
            commands: list[list[str] | str] = []
            context_task = task_context(name, pipeline.task_site(name), task.mode)
            context_run = run_context(f"{name}@plan", name, "plan", iso(instant))
            for it in items[:3]:
                try:
                    commands.append(
                        render_argv(
                            definition.command,
                            {
                                "item": ItemView(it.id, it.attributes),
                                "task": context_task,
                                "run": context_run,
                                "attempt": 1,
                                "env": dict(os.environ),
                            },
                        )
                    )
                except TemplateRenderError as exc:
                    commands.append(f"cannot render for item {it.id!r}: {exc}")
            entry["first_commands"] = commands
            entry["first_commands_text"] = [
                c if isinstance(c, str) else display_command(c) for c in commands
            ]
            report["tasks"].append(entry)
    finally:
        if store is not None:
            store.close()
    masker = Masker.from_env(pipeline.settings.secrets, os.environ)
    return cast("dict[str, Any]", masker.mask_value(report))


# -- run -----------------------------------------------------------------------


@dataclass
class RunOutcome:
    """What `runner run` did, and the exit code it maps to."""

    reports: list[RunReport] = field(default_factory=list)
    recovered: int = 0
    stopped_early: bool = False
    """A stop (a signal) came before every run asked for had opened."""
    requested: list[RunNowRequested] = field(default_factory=list)
    """Run-now requests handed to the serving runner that holds the site (`run --now`)."""

    @property
    def exit_code(self) -> int:
        from runner.domain.runs import RUN_FAILED, RUN_HALTED, RUN_INTERRUPTED, RUN_WITH_ERRORS

        statuses = {r.status for r in self.reports}
        if self.stopped_early or statuses & {RUN_FAILED, RUN_INTERRUPTED}:
            return exitcodes.RUN_FAILED
        if RUN_HALTED in statuses:
            return exitcodes.HALTED
        if RUN_WITH_ERRORS in statuses:
            return exitcodes.ITEMS_IN_ERROR
        return exitcodes.OK


def run(
    pipeline: Pipeline,
    *,
    tasks: Sequence[str] = (),
    now: bool = False,
    site: str | None = None,
    log_format: str = "auto",
    log_level: str = "info",
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    instance: str | None = None,
) -> RunOutcome:
    """Run what is due (or, with `now`, the named or all tasks at once) and return how it went.

    `instance`: the runner's identity among the runners of its site (default `host:pid`)."""
    from runner.domain.runs import TRIGGER_NOW
    from runner.engine import RunRequest
    from runner.logs.setup import set_status_line
    from runner.schedule.due import due_requests
    from runner.schedule.taskinfo import record_tasks
    from runner.session import Control, open_session

    check_tasks(pipeline, tasks)
    site = site or pipeline.settings.site
    if now:
        chosen = list(tasks) or [n for n in sorted(pipeline.tasks) if pipeline.task_site(n) == site]
        for name in chosen:
            if not pipeline.tasks[name].enabled:
                raise UsageError(f"task {name!r} is disabled (enabled: false); enable it to run it")
            if pipeline.task_site(name) != site:
                raise UsageError(
                    f"task {name!r} belongs to site {pipeline.task_site(name)!r}, not {site!r}; "
                    f"use --site {pipeline.task_site(name)}"
                )
    outcome = RunOutcome()
    control = Control()
    try:
        with open_session(
            pipeline,
            site=site,
            control=control,
            started={"tasks": list(tasks), "now": now},
            stopped=lambda: {"exit_code": outcome.exit_code, "runs": len(outcome.reports)},
            log_format=log_format,
            log_level=log_level,
            env=env,
            clock=clock,
            status_line=set_status_line,
            instance=instance,
        ) as session:
            outcome.recovered = session.recovered
            requests = session.resume_requests()
            record_tasks(pipeline, session.store, clock())
            if now:
                requests += [
                    RunRequest(name, TRIGGER_NOW) for name in _not_halted(session, chosen, tasks)
                ]
            else:
                requests += due_requests(
                    pipeline,
                    session.store,
                    site=site,
                    now=clock(),
                    tasks=set(tasks) if tasks else None,
                    busy={r.task for r in requests},
                    log=session.log,
                )
            if not requests:
                session.log.info("runner.idle", reason="nothing is due")
            outcome.reports = session.engine.execute(requests)
            outcome.stopped_early = control.cancel.is_set() and len(outcome.reports) < len(requests)
    except LockHeldError as exc:
        if not now:
            raise
        outcome.requested = _ask_serving_runner(pipeline, site, chosen, tasks, exc, clock())
    return outcome


def _not_halted(session: Session, chosen: Sequence[str], named: Sequence[str]) -> list[str]:
    """The tasks of `run --now` that may start: a halted or paused task named with --task is
    refused (TaskHaltedError); one only implied (no --task) is skipped with `run.skipped`."""
    halts = session.store.task_halts()
    for name in chosen:
        halt = halts.get(name)
        if halt is None:
            continue
        if name in named:
            raise TaskHaltedError(name, halt.action, halt.by, halt.reason)
        session.log.warning(
            "run.skipped",
            task=name,
            reason=f"task {halt.action} by {halt.by}: {halt.reason}; runner resume lets it go on",
        )
    return [name for name in chosen if name not in halts]


def _ask_serving_runner(
    pipeline: Pipeline,
    site: str,
    chosen: Sequence[str],
    named: Sequence[str],
    held: LockHeldError,
    now: float,
) -> list[RunNowRequested]:
    """`run --now` while another runner holds the site: hand the tasks to it through the state
    if it is `runner serve`; else refuse (LockHeldByRunError, exit 75)."""
    from runner.serve.requests import request_run_now

    requested = request_run_now(
        pipeline, site=site, tasks=chosen, named=named, holder_pid=held.holder_pid, now=now
    )
    if requested is None:
        raise LockHeldByRunError(held.lock_path, held.holder_pid, str(held))
    return requested
