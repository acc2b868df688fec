"""What the engine's collaborators share: the pipeline, the store, the log and the after-commit queue."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.config.pipeline import Pipeline
from runner.engine.active import ActiveRun
from runner.engine.brakes import TaskHalts
from runner.engine.runs import RunReport
from runner.launch import LaunchBuilder
from runner.logs import grouped_output
from runner.masking import Masker
from runner.state import Checkpoint, StateStore


class AfterCommit:
    """Actions (launches, log lines) that wait until the cycle's transaction is durable."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._actions: list[Callable[[], None]] = []

    def __bool__(self) -> bool:
        return bool(self._actions)

    def add(self, action: Callable[[], None]) -> None:
        """Run `action` once the current transaction has committed."""
        self._actions.append(action)

    def log(self, level: str, event: str, fields: Mapping[str, object]) -> None:
        """Log once the transaction is durable (a log line never runs ahead of the state)."""
        self._actions.append(lambda: getattr(self._log, level)(event, **fields))

    def run(self) -> None:
        """Launch and log what waited for the transaction that just committed (the log lines
        go out together, one write per destination)."""
        actions, self._actions = self._actions, []
        if not actions:
            return
        with grouped_output():
            for action in actions:
                action()

    def clear(self) -> None:
        """Drop everything waiting (the transaction it waited for was rolled back)."""
        self._actions.clear()


@dataclass(eq=False)
class EngineContext:
    """The engine's shared surroundings; `pipeline` and `builder` change on a config reload."""

    pipeline: Pipeline
    store: StateStore
    site: str
    log: Any
    cancel: threading.Event
    now: Callable[[], float]
    env: dict[str, str]
    masker: Masker
    logs_dir: Path
    state_path: Path
    concurrency: int
    builder: LaunchBuilder
    instance: str
    """This runner's identity among the runners of its site (`--instance`, else `host:pid`)."""
    after_commit: AfterCommit
    active: list[ActiveRun] = field(default_factory=list)
    """The runs being worked on, in the order they opened."""
    reports: list[RunReport] = field(default_factory=list)
    """How each run that ended or stopped did (since `execute` or `serve` began)."""
    halts: TaskHalts = field(default_factory=TaskHalts)
    """The tasks halted or paused now: they start no new item."""

    def masked(self, checkpoint: Checkpoint) -> Checkpoint:
        """The checkpoint with secret values masked."""
        masked = self.masker.mask_text(checkpoint.value)
        return checkpoint if masked == checkpoint.value else Checkpoint(checkpoint.kind, masked)

    def owner(self, attempt_id: int) -> ActiveRun | None:
        """The active run with this attempt in flight, if any."""
        return next((r for r in self.active if attempt_id in r.running), None)
