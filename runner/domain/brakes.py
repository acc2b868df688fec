"""Brakes: which attempts count, the window they are counted over, and when a task halts.

A task's brake window holds the attempts that ended since the task was last halted or
resumed (or since its brake was first configured). An attempt counts as failed when its
status (after the definition's outcome rules) is anything but `ok`; an `interrupted`
attempt (the runner stopped or died under it) counts neither way, and an attempt withdrawn
before its launch never ends, so it is not seen at all. Task controls (halt, pause, resume)
are persisted and printed: their names are stable forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from runner.domain.statuses import INTERRUPTED, OK

# Task control actions, as recorded in the audit of a task's controls.
HALTED: Final = "halted"
"""The task's brake (`halt_on`) stopped it."""
PAUSED: Final = "paused"
"""An operator stopped it (`runner pause`)."""
RESUMED: Final = "resumed"
"""An operator let it go on (`runner resume`)."""

CONTROL_ACTIONS: tuple[str, ...] = (HALTED, PAUSED, RESUMED)

BY_BRAKE: Final = "halt_on"
"""Who halted a task when its brake tripped."""


def holds(action: str) -> bool:
    """Whether a task whose latest control is `action` starts no new item."""
    return action in (HALTED, PAUSED)


def counted(status: str) -> bool | None:
    """How an attempt with `status` counts: True failed, False succeeded, None not at all."""
    if status == INTERRUPTED:
        return None
    return status != OK


@dataclass(frozen=True, slots=True)
class BrakeWindow:
    """The attempts counted since the window opened: all of them, the failed, the trailing failed."""

    attempts: int = 0
    failed: int = 0
    consecutive: int = 0

    def add(self, outcomes: Iterable[bool]) -> BrakeWindow:
        """The window after these outcomes (True: failed), in the order they ended."""
        attempts, failed, consecutive = self.attempts, self.failed, self.consecutive
        for failure in outcomes:
            attempts += 1
            if failure:
                failed += 1
                consecutive += 1
            else:
                consecutive = 0
        return BrakeWindow(attempts, failed, consecutive)


@dataclass(frozen=True, slots=True)
class Brake:
    """A task's `halt_on`: a failure ratio (percent) after a minimum of attempts, N in a row, or both."""

    failed_percent: float | None = None
    min_attempts: int | None = None
    consecutive: int | None = None

    def tripped(self, window: BrakeWindow) -> str | None:
        """Why the task halts with this window, or None while it may go on."""
        if self.consecutive is not None and window.consecutive >= self.consecutive:
            return f"{window.consecutive} consecutive attempts failed (halt_on.consecutive: {self.consecutive})"
        if (
            self.failed_percent is not None
            and self.min_attempts is not None
            and window.attempts >= self.min_attempts
            and window.failed * 100 >= self.failed_percent * window.attempts
        ):
            ratio = window.failed * 100 / window.attempts
            return (
                f"{window.failed} of {window.attempts} attempts failed ({ratio:.0f}%; "
                f"halt_on.failed: {self.failed_percent:g}% after {self.min_attempts})"
            )
        return None
