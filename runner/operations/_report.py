"""`runner report`: one row per item of a task (queue, status, attempts, times, metrics, last
error, manual), streamed from the state as CSV or JSON.

Rows are read as they are written, ordered by item id, so a task of 100,000 items is exported
without holding it in memory. Metric columns: one per metric name the task's attempts
reported (`metric.<name>`, the item's sum over its attempts). CSV cells of text that start
with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading `'`, so that a spreadsheet
shows them as text instead of running them as formulas; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from runner.domain import queues as q
from runner.domain.timefmt import iso
from runner.errors import UsageError
from runner.operations._common import check_task, open_read
from runner.operations._metrics import metric_value, metrics_json
from runner.state import ItemResult

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline
    from runner.masking import Masker

FORMATS = ("csv", "json")
"""The formats `runner report` writes."""

COLUMNS = (
    "id",
    "queue",
    "status",
    "attempts",
    "first_start",
    "last_start",
    "duration_s",
    "last_error",
    "manual",
    "in_group",
)
"""The CSV columns before the metric columns."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One item of the report."""

    id: str
    queue: str
    status: str | None
    attempts: int
    first_start: float | None
    last_start: float | None
    duration_s: float | None
    """The durations of its ended attempts added up."""
    last_error: str | None
    manual: bool
    """It is in successful because an operator moved it there (`queues.done_by_hand`)."""
    in_group: bool
    metrics: dict[str, float]

    @classmethod
    def of(cls, result: ItemResult, masker: Masker) -> ReportRow:
        """The row of a state result (its last error masked with today's secrets too)."""
        manual = q.done_by_hand(
            result.queue, result.last_move_to, result.last_move_applied, result.last_end
        )
        error = masker.mask_text(result.last_error) if result.last_error else result.last_error
        return cls(
            id=result.item_id,
            queue=result.queue,
            status=result.last_status,
            attempts=result.attempts,
            first_start=result.first_start,
            last_start=result.last_start,
            duration_s=result.duration_s,
            last_error=error,
            manual=manual,
            in_group=result.in_group,
            metrics=dict(result.metrics),
        )

    def to_json(self) -> dict[str, Any]:
        """One element of `report --format json`."""
        return {
            "id": self.id,
            "queue": self.queue,
            "status": self.status,
            "attempts": self.attempts,
            "first_start": iso(self.first_start),
            "last_start": iso(self.last_start),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "metrics": metrics_json(self.metrics),
            "last_error": self.last_error,
            "manual": self.manual,
            "in_group": self.in_group,
        }

    def csv_cells(self, metric_names: list[str]) -> list[object]:
        """The CSV row: text cells guarded against formulas, numbers as numbers."""
        duration = None if self.duration_s is None else round(self.duration_s, 3)
        cells: list[object] = [
            _text(self.id),
            self.queue,
            _text(self.status),
            self.attempts,
            iso(self.first_start) or "",
            iso(self.last_start) or "",
            "" if duration is None else duration,
            _text(self.last_error),
            "true" if self.manual else "false",
            "true" if self.in_group else "false",
        ]
        for name in metric_names:
            value = self.metrics.get(name)
            cells.append("" if value is None else metric_value(value))
        return cells


@dataclass(frozen=True, slots=True)
class ItemReport:
    """The report of one task: its metric names, then its rows as they are read."""

    task: str
    metric_names: list[str]
    rows: Iterator[ReportRow]

    def write(self, out: TextIO, fmt: str) -> int:
        """Write the report as CSV (a header line, then a line per item) or as a JSON array
        (an element per line); return the number of items written."""
        if fmt not in FORMATS:
            raise UsageError(f"unknown report format {fmt!r}; formats: {', '.join(FORMATS)}")
        return self._csv(out) if fmt == "csv" else self._json(out)

    def _csv(self, out: TextIO) -> int:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*COLUMNS, *(f"metric.{name}" for name in self.metric_names)])
        count = 0
        for row in self.rows:
            writer.writerow(row.csv_cells(self.metric_names))
            count += 1
        return count

    def _json(self, out: TextIO) -> int:
        count = 0
        out.write("[")
        for row in self.rows:
            out.write("\n  " if count == 0 else ",\n  ")
            out.write(json.dumps(row.to_json(), ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


@contextmanager
def report(pipeline: Pipeline, task: str, *, include_left: bool = True) -> Iterator[ItemReport]:
    """The task's report, its rows read from the state while the block runs.

    Items that left the group are included (`in_group` false) unless `include_left` is False.
    UsageError for an unknown task or one that never ran.
    """
    from runner.masking import Masker

    store = open_read(pipeline)
    if store is None:
        raise UsageError(
            f"task {task!r} has no items yet: there is no state at {pipeline.state_location} "
            f"(run it first: runner run --task {task} --now)"
        )
    try:
        check_task(pipeline, store, task)
        masker = Masker.from_env(pipeline.settings.secrets, os.environ)
        names = sorted(store.metrics_of_task(task))
        results = store.item_results(task, include_left=include_left)
        yield ItemReport(task, names, (ReportRow.of(r, masker) for r in results))
    finally:
        store.close()
