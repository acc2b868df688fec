"""`runner metrics`: what the Prometheus exposition shows, read from the state in one go."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.operations._common import open_read
from runner.operations._status import StatusReport, status
from runner.state import AttemptTally

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """`status` (items, tasks, runners), ended attempts by task and status with their duration
    buckets, and ended runs by task and outcome, as of `now`."""

    status: StatusReport
    attempts: list[AttemptTally]
    runs: dict[tuple[str, str], int]
    now: float


def metrics_report(
    pipeline: Pipeline, *, buckets: Sequence[float], now: float | None = None
) -> MetricsReport:
    """Read what the metrics show; `buckets`: the duration histogram's bounds in seconds.

    The state is opened read-only (never the runner lock); before any run there are no
    attempts and no runs, and every task is `new`.
    """
    instant = time.time() if now is None else now
    report = status(pipeline, now=instant)
    store = open_read(pipeline)
    if store is None:
        return MetricsReport(report, [], {}, instant)
    try:
        return MetricsReport(report, store.attempt_tallies(buckets), store.run_outcomes(), instant)
    finally:
        store.close()
