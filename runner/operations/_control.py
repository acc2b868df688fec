"""`runner pause` and `runner resume`: halt a task by hand, or let a halted task go on, audited.

Both write one row of the task's control audit (who, when, why) through
`StateStore.control_task`, which also restarts the task's brake window, and log
`task.paused` / `task.resumed` to the pipeline's log files. Safe while a runner works:
no lock is taken; a running engine notices the change at its next cycle.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.domain.brakes import PAUSED, RESUMED
from runner.domain.timefmt import iso
from runner.errors import UsageError
from runner.operations._common import check_task
from runner.state import ControlRow, open_store
from runner.system.fs import file_modes
from runner.system.user import os_user

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    """What `pause` or `resume` did: the control recorded, or (`changed` false) the one already
    in force (pause of a held task) or None (resume of a task that was not held)."""

    task: str
    action: str
    changed: bool
    control: ControlRow | None

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `pause --json` and `resume --json`."""
        row = self.control
        return {
            "task": self.task,
            "action": self.action,
            "changed": self.changed,
            "control": control_json(row),
        }


def control_json(row: ControlRow | None) -> dict[str, Any] | None:
    """A control as every `--json` shows it: `{"action", "by", "at", "reason"}` or null."""
    if row is None:
        return None
    return {"action": row.action, "by": row.by, "at": iso(row.at), "reason": row.reason}


def pause(
    pipeline: Pipeline,
    task: str,
    reason: str,
    by: str | None = None,
    *,
    now: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ControlOutcome:
    """Halt a task by hand: no new item of it starts (running ones finish) until `resume`.

    `reason` is required. Pausing a task already halted or paused changes nothing and says
    which control holds it. Who is `by` or the OS user; `by` and `reason` are masked.
    """
    if not reason.strip():
        raise UsageError("say why the task is paused: --reason TEXT (it is kept in the audit)")
    return _control(pipeline, task, PAUSED, reason, by, now, env)


def resume(
    pipeline: Pipeline,
    task: str,
    reason: str = "",
    by: str | None = None,
    *,
    now: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ControlOutcome:
    """Let a halted or paused task start items again; its brake window starts afresh.

    Resuming a task that is not held changes nothing.
    """
    return _control(pipeline, task, RESUMED, reason, by, now, env)


def _control(
    pipeline: Pipeline,
    task: str,
    action: str,
    reason: str,
    by: str | None,
    now: float | None,
    env: Mapping[str, str] | None,
) -> ControlOutcome:
    from runner.logs import close_logging, configure_logging, get_logger
    from runner.masking import Masker

    instant = time.time() if now is None else now
    masker = Masker.from_env(pipeline.settings.secrets, os.environ if env is None else env)
    who = masker.mask_text(by if by else os_user())
    why = masker.mask_text(reason)
    site = pipeline.task_site(task) if task in pipeline.tasks else pipeline.settings.site
    with file_modes(pipeline.settings.file_mode):
        store = open_store(pipeline.state_location)
        try:
            check_task(pipeline, store, task)
            with store.batch():
                held = store.task_halt(task)
                if (held is not None) == (action == PAUSED):
                    return ControlOutcome(task, action, False, held)
                row = store.control_task(task, action=action, by=who, reason=why, now=instant)
        finally:
            store.close()
        configure_logging(
            log_dir=pipeline.logs_dir,
            stderr_format="json",
            masker=masker,
            level="warning",  # the file gets `info` and above; stderr stays quiet
        )
        try:
            get_logger(site=site).info(
                f"task.{action}", task=task, by=row.by, reason=row.reason, action=action
            )
        finally:
            close_logging()
    return ControlOutcome(task, action, True, row)
