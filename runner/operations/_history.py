"""`runner history`: every attempt and every operator move of one item, in time order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.domain import queues as q
from runner.domain.policy import superseded
from runner.domain.timefmt import iso
from runner.operations._common import MoveEntry, read_item
from runner.operations._metrics import metrics_json

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class AttemptEntry:
    """One attempt in an item's history."""

    at: float
    number: int
    run_id: str
    ended: float | None
    status: str | None
    exit_code: int | None
    signal: int | None
    error: str | None
    queue: str | None
    duration_s: float | None
    definition_hash: str
    checkpoints: int
    events: int
    stdout: str | None
    stderr: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    """The last value it reported per metric name (events and output rules)."""
    output_pruned: float | None = None
    """When `runner prune` removed its output files (retention), or None."""
    runner: str = ""
    """The runner that launched it (its instance; empty for attempts recorded before runners
    had identities)."""

    kind = "attempt"

    def to_json(self) -> dict[str, Any]:
        """One `attempt` element of `history --json`."""
        return {
            "kind": self.kind,
            "at": iso(self.at),
            "attempt": self.number,
            "run_id": self.run_id,
            "ended": iso(self.ended),
            "status": self.status,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "error": self.error,
            "queue": self.queue,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "definition_hash": self.definition_hash,
            "checkpoints": self.checkpoints,
            "events": self.events,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "metrics": metrics_json(self.metrics),
            "output_pruned": iso(self.output_pruned),
            "runner": self.runner,
        }


@dataclass(frozen=True, slots=True)
class ItemHistory:
    """Every attempt and move of one item, oldest first."""

    task: str
    item: str
    queue: str
    current_definition: str | None
    entries: list[AttemptEntry | MoveEntry]
    manual: bool = False
    """It is in successful because an operator moved it there (`queues.done_by_hand`)."""

    def to_json(self) -> list[dict[str, Any]]:
        """The documented shape of `history --json`: the entries in time order."""
        return [entry.to_json() for entry in self.entries]


def history(pipeline: Pipeline, task: str, item_id: str) -> ItemHistory:
    """Every attempt (with its outcome, definition hash, checkpoints and output files) and
    every operator move of one item, in time order (a move before an attempt of the same instant).
    A move that a later one replaced before it took effect is shown superseded, not applied.

    An attempt's `checkpoints` are the sub-ids it announced (`{"processed": ...}`) that no
    earlier attempt had; `events` counts every valid event line it wrote (processed, detail,
    progress, metric). Output files are given only when they still exist; `output_pruned`
    says when retention removed them.
    """
    from runner.launch import AttemptFiles

    with read_item(pipeline, task, item_id) as (store, row):
        entries: list[tuple[float, int, int, AttemptEntry | MoveEntry]] = []
        processed = store.processed_by_attempt(task, item_id)
        attempts = store.attempts_of(task, item_id)
        metrics = store.metrics_of_attempts([a.id for a in attempts])
        pruned = store.outputs_pruned(task, item_id)
        for a in attempts:
            files = AttemptFiles(Path(a.output_dir), a.number) if a.output_dir else None
            entries.append(
                (
                    a.started_at,
                    1,
                    a.id,
                    AttemptEntry(
                        at=a.started_at,
                        number=a.number,
                        run_id=a.run_id,
                        ended=a.ended_at,
                        status=a.status,
                        exit_code=a.exit_code,
                        signal=a.signal,
                        error=a.error,
                        queue=a.queue,
                        duration_s=a.duration_s,
                        definition_hash=a.definition_hash,
                        checkpoints=processed.get(a.id, 0),
                        events=a.checkpoints,
                        stdout=_existing(files.stdout) if files else None,
                        stderr=_existing(files.stderr) if files else None,
                        metrics=metrics.get(a.id, {}),
                        output_pruned=pruned.get(a.id),
                        runner=a.runner,
                    ),
                )
            )
        moves = store.moves_of(task, item_id)
        for m, replaced in zip(moves, superseded(moves), strict=True):
            entries.append((m.at, 0, m.id, MoveEntry.of(m, superseded=replaced)))
        entries.sort(key=lambda e: e[:3])
        config = pipeline.tasks.get(task)
        current = pipeline.definitions[config.definition].fingerprint() if config else None
        applied = max(
            (m for m in moves if m.applied_at is not None),
            key=lambda m: (m.applied_at, m.id),
            default=None,
        )
        ends = [a.ended_at for a in attempts if a.ended_at is not None]
        manual = q.done_by_hand(
            row.queue,
            applied.to_queue if applied else None,
            applied.applied_at if applied else None,
            max(ends, default=None),
        )
        return ItemHistory(task, item_id, row.queue, current, [e[3] for e in entries], manual)


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None
