"""What the state keeps about each task: first seen, last changed, by whom, and its status.

`record_tasks` is called when a runner starts and after each configuration
reload. A task's `last_modified` moves when its effective configuration (the
task, its definition, policy, schedule and group: `engine.task_config_hash`)
changes; the time recorded is when the files defining it were last written
(never later than now), so a change deployed before a fire is known to be
older than that fire. `last_modified_by` is the author of the last git commit
touching the task's file when the file is committed and unchanged in a git
checkout, else the user the runner runs as.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from runner.config.pipeline import Pipeline
from runner.domain.runs import TASK_DISABLED, TASK_IDLE, TASK_SCHEDULED
from runner.engine import task_config_hash
from runner.process import run_capture
from runner.state import StateStore
from runner.system.user import os_user

GIT_TIMEOUT: Final = 5.0
"""Seconds a `git` query may take before the OS user is used instead."""

_RESTING: Final = frozenset({"", TASK_SCHEDULED, TASK_IDLE, TASK_DISABLED})
"""Statuses record_tasks may replace; `running` and `failed` belong to the engine."""


def _git(argv: list[str], cwd: Path) -> tuple[int | None, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    result = run_capture(["git", *argv], cwd=cwd, env=env, timeout=GIT_TIMEOUT, limit=4096)
    if result.outcome != "exited":
        return None, ""
    return result.exit_code, result.stdout.decode("utf-8", "replace").strip()


def file_author(path: Path) -> str:
    """The author of the last commit touching `path`, or the OS user.

    The OS user is given when `path` is not in a git checkout, was never committed, has
    uncommitted changes, or git is missing or too slow.
    """
    path = path.absolute()
    cwd = path.parent
    code, author = _git(["log", "-1", "--format=%an", "--", path.name], cwd)
    if code != 0 or not author:
        return os_user()
    code, _ = _git(["diff", "--quiet", "HEAD", "--", path.name], cwd)
    return author if code == 0 else os_user()


def task_file(pipeline: Pipeline, task: str) -> Path | None:
    """The file that defines `task`."""
    return pipeline.origin("tasks", task).file


def modified_by(pipeline: Pipeline, task: str) -> str:
    """Who last changed `task`: the git author of its file's last commit, else the OS user."""
    path = task_file(pipeline, task)
    return file_author(path) if path is not None else os_user()


def config_files(pipeline: Pipeline, task: str) -> list[Path]:
    """The files that define `task` and what it uses (definition, policy, schedule, group)."""
    spec = pipeline.tasks[task]
    places = [("tasks", task), ("definitions", spec.definition), ("groups", spec.group)]
    if spec.policy is not None:
        places.append(("policies", spec.policy))
    if spec.schedule is not None:
        places.append(("schedules", spec.schedule))
    files = {pipeline.origin(section, name).file for section, name in places}
    return sorted(f for f in files if f is not None)


def changed_at(pipeline: Pipeline, task: str, now: float) -> float:
    """When `task`'s configuration was last written: its newest file's mtime, at most `now`."""
    times: list[float] = []
    for path in config_files(pipeline, task):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    return min(max(times, default=now), now)


def resting_status(pipeline: Pipeline, task: str) -> str:
    """The status of a task that is not running: disabled, scheduled (it has a schedule) or idle."""
    spec = pipeline.tasks[task]
    if not spec.enabled:
        return TASK_DISABLED
    return TASK_SCHEDULED if spec.schedule is not None else TASK_IDLE


def settle_status(pipeline: Pipeline, store: StateStore, task: str) -> None:
    """After a run ended: an `idle` task with a schedule shows `scheduled` again."""
    row = store.task(task)
    if row is not None and row.status in _RESTING and task in pipeline.tasks:
        wanted = resting_status(pipeline, task)
        if row.status != wanted:
            store.set_task_status(task, wanted)


def record_tasks(
    pipeline: Pipeline, store: StateStore, now: float, *, tasks: Iterable[str] | None = None
) -> list[str]:
    """Upsert every task of the pipeline (or of `tasks`) in the state; return those new or changed.

    New tasks get `created` = `last_modified` = now. A task whose configuration hash changed
    gets `last_modified` = when its files were written (at most now) and `last_modified_by`.
    Resting statuses follow the config (see `resting_status`); `running` and `failed` are left
    to the engine.
    """
    names = sorted(pipeline.tasks) if tasks is None else sorted(tasks)
    authors: dict[Path | None, str] = {}
    changes: list[tuple[str, str, str, float]] = []
    for name in names:
        digest = task_config_hash(pipeline, name)
        row = store.task(name)
        if row is not None and row.config_hash == digest:
            continue
        path = task_file(pipeline, name)
        if path not in authors:
            authors[path] = file_author(path) if path is not None else os_user()
        when = now if row is None else changed_at(pipeline, name, now)
        changes.append((name, digest, authors[path], when))
    with store.batch():
        for name, digest, author, when in changes:
            store.upsert_task(
                name,
                site=pipeline.task_site(name),
                config_hash=digest,
                modified_by=author,
                now=when,
            )
        for name in names:
            row = store.task(name)
            if row is None or row.status not in _RESTING:
                continue
            wanted = resting_status(pipeline, name)
            if row.status != wanted:
                store.set_task_status(name, wanted)
    return [name for name, *_ in changes]
