"""What the engine holds in memory about the runs, attempts and steps it is working on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from runner.config.definitions import Definition
from runner.config.policies import Policy
from runner.config.tasks import AfterStep, Step, Task
from runner.domain.runs import TRIGGER_NOW, TRIGGER_RUN_NOW
from runner.launch import AttemptFiles
from runner.progress import RunProgress
from runner.state import ItemRow, RunRow
from runner.templating import FixedView


@dataclass(slots=True)
class ActiveAttempt:
    """An attempt recorded as started: queued for a slot, or running."""

    attempt_id: int
    number: int
    item: ItemRow
    run: ActiveRun
    files: AttemptFiles
    argv: list[str]
    started: float
    render_error: str | None = None
    had_events: bool = False
    wrote_processed: bool = False
    invalid_events: int = 0
    first_invalid_event: str | None = None


@dataclass(slots=True)
class ActiveStep:
    """The start or finish step a run is waiting for."""

    phase: str
    index: int
    step: Step
    started: float


@dataclass(eq=False)
class ActiveRun:
    """A run the engine is working on: its models (fixed when it opened), phase and attempts."""

    name: str
    task: Task
    definition: Definition
    policy: Policy
    row: RunRow
    fingerprint: str
    task_ctx: FixedView
    run_ctx: FixedView
    phase: str
    failed: bool = False
    failure: str = ""
    running: dict[int, ActiveAttempt] = field(default_factory=dict)
    step: ActiveStep | None = None
    steps_done: dict[str, dict[int, str | None]] = field(default_factory=dict)
    next_wakeup: float | None = None
    stopped: bool = False
    command_shown: float = 0.0
    progress: RunProgress | None = None
    typical_duration: float | None = None
    """Moving average of its attempts' durations (seconds); None before the first ends."""
    joined: bool = False
    """Another runner of a shared state owns the run (its steps, its end); this one only takes
    items from it while it is in its items phase."""
    leaving: bool = False
    """Joined, and its owner has left the items phase (or ended it): start nothing more."""

    def cap(self, runner_cap: int) -> int:
        """Processes this run may have at once: its task's concurrency within the runner's."""
        return min(self.task.concurrency or runner_cap, runner_cap)

    def attempt_ended(self, duration: float) -> None:
        """Fold one finished attempt's duration into `typical_duration`."""
        previous = self.typical_duration
        self.typical_duration = duration if previous is None else 0.8 * previous + 0.2 * duration

    def lookahead(self, runner_cap: int, span: float, most: int) -> int:
        """How many attempts to record ahead of a free slot: enough to keep its slots busy for
        `span` seconds, between 1 and `most`.

        Fast items (a few milliseconds) need many, so that one commit records a batch; long
        ones need one, so that an item moved to run-now or due for retry is not queued
        behind attempts that will run for hours. Before any attempt ended: 1.
        """
        duration = self.typical_duration
        if duration is None:
            return 1
        wanted = math.ceil(self.cap(runner_cap) * span / max(duration, 1e-6))
        return max(1, min(most, wanted))

    def in_schedule(self, now: float) -> bool:
        """Whether items other than run-now may start now (always for --now, never for run-now runs)."""
        return run_in_schedule(self.row, now)


def run_in_schedule(row: RunRow, now: float) -> bool:
    """Whether a run's items other than run-now may start now (always for --now, never for
    run-now runs, else within its window)."""
    if row.trigger == TRIGGER_NOW:
        return True
    if row.trigger == TRIGGER_RUN_NOW:
        return False
    return row.window_end is None or now < row.window_end


def after_step_wanted(step: AfterStep | Step, success: bool) -> bool:
    """Whether a finish step runs, given the run's outcome so far."""
    when = getattr(step, "when", "always")
    return when == "always" or (when == "success") == success


def step_positions(all_steps: Sequence[Step], wanted: Iterable[Step]) -> list[int]:
    """The positions of the chosen steps among all of a phase's steps."""
    chosen = {id(s) for s in wanted}
    return [i for i, s in enumerate(all_steps) if id(s) in chosen]
