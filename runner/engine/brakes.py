"""Task halts as the engine sees them: who holds which task, and the brakes that trip.

The halts are read from the state when the engine starts and again whenever another
process committed to it (an operator's `runner pause` or `runner resume`); a brake that
trips here is recorded in the cycle's transaction and announced (`task.halted`) once it
commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from runner.config.tasks import Task
from runner.domain.brakes import BY_BRAKE, HALTED, counted
from runner.state import ControlRow, StateStore

if TYPE_CHECKING:
    from runner.engine.context import AfterCommit


class TaskHalts:
    """The tasks halted or paused now, kept in step with the state."""

    def __init__(self) -> None:
        self._halts: dict[str, ControlRow] = {}
        self._seen: int | None = None

    def refresh(self, store: StateStore) -> None:
        """Read the halts again if another process changed the state since the last look."""
        version = store.change_counter()
        if version != self._seen:
            self._seen = version
            self._halts = store.task_halts()

    def get(self, task: str) -> ControlRow | None:
        """The control holding `task`, or None when it may start items."""
        return self._halts.get(task)

    def count(
        self,
        store: StateStore,
        ended: Iterable[tuple[str, Task, str]],
        *,
        now: float,
        after_commit: AfterCommit,
    ) -> None:
        """Count ended attempts (task name, task model, status) into the brakes of their tasks;
        halt each task whose brake trips (recorded now, `task.halted` logged after the commit)."""
        outcomes: dict[str, list[bool]] = {}
        models: dict[str, Task] = {}
        for name, task, status in ended:
            failed = counted(status)
            if task.halt_on is None or failed is None:
                continue
            outcomes.setdefault(name, []).append(failed)
            models[name] = task
        for name, flags in outcomes.items():
            self._count_task(store, name, models[name], flags, now, after_commit)

    def _count_task(
        self,
        store: StateStore,
        name: str,
        task: Task,
        flags: Sequence[bool],
        now: float,
        after_commit: AfterCommit,
    ) -> None:
        if name in self._halts or task.halt_on is None:
            return  # already held: what still finishes does not halt it twice
        window = store.count_brake_outcomes(name, flags)
        reason = task.halt_on.brake().tripped(window)
        if reason is None:
            return
        row = store.control_task(name, action=HALTED, by=BY_BRAKE, reason=reason, now=now)
        self._halts[name] = row
        after_commit.log("warning", "task.halted", _fields(row))

    def snapshot(self) -> Mapping[str, ControlRow]:
        """The halts as last read or decided."""
        return dict(self._halts)


def _fields(row: ControlRow) -> dict[str, object]:
    return {"task": row.task, "reason": row.reason, "by": row.by, "action": row.action}
