"""The Prometheus exposition of a pipeline's state: `runner metrics` and the console's `/metrics`.

Every scrape builds a fresh registry from the library's report (`operations.metrics_report`:
`operations.status` for items, tasks and runners, the store's tallies for attempts and
runs), so the numbers are the ones `runner status --json` shows. The state is opened
read-only and the runner lock is never taken. docs/metrics.md lists every metric with
example alert rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from runner.domain import queues as q
from runner.domain.workers import WORKER_OFFLINE
from runner.operations import MetricsReport, metrics_report
from runner.state import AttemptTally
from runner.system.fs import file_modes, replace_file

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
"""Upper bounds (seconds) of the attempt duration histogram: a second to a day."""


class _StateCollector(Collector):
    """The metric families of one reading of the state."""

    def __init__(self, report: MetricsReport) -> None:
        self._report = report.status
        self._tallies = report.attempts
        self._runs = report.runs
        self._now = report.now

    def collect(self) -> Iterable[Metric]:
        yield from self._task_families()
        yield from self._attempt_families()
        yield from self._worker_families()

    def _task_families(self) -> Iterator[Metric]:
        items = GaugeMetricFamily(
            "runner_items",
            "Items of a task in each queue (every queue, zeros included).",
            labels=["task", "queue", "category"],
        )
        running = GaugeMetricFamily(
            "runner_items_running", "Items of a task whose attempt runs now.", labels=["task"]
        )
        state = GaugeMetricFamily(
            "runner_task_status",
            "1 for the task's status as `runner status` shows it (new, scheduled, idle, running, "
            "interrupted, failed, disabled, halted).",
            labels=["task", "status"],
        )
        halted = GaugeMetricFamily(
            "runner_task_halted",
            "1 while the task is halted by its brake (halt_on) or paused by an operator, else 0.",
            labels=["task", "by"],
        )
        for task in self._report.tasks:
            for queue in q.ALL_QUEUES:
                items.add_metric([task.name, queue, q.CATEGORY[queue]], task.queues.get(queue, 0))
            running.add_metric([task.name], task.running)
            state.add_metric([task.name, task.status], 1)
            held = task.halted
            halted.add_metric([task.name, held.by if held else ""], 1 if held else 0)
        yield items
        yield running
        yield state
        yield halted

    def _attempt_families(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "runner_attempts",
            "Ended attempts of a task by their status.",
            labels=["task", "status"],
        )
        durations = HistogramMetricFamily(
            "runner_attempt_duration_seconds",
            "How long the ended attempts of a task ran.",
            labels=["task"],
        )
        per_task: dict[str, list[AttemptTally]] = {}
        for tally in self._tallies:
            attempts.add_metric([tally.task, tally.status], tally.count)
            per_task.setdefault(tally.task, []).append(tally)
        for task, tallies in per_task.items():
            total = sum(t.count for t in tallies)
            buckets = [
                (_bound(bound), sum(t.buckets[i][1] for t in tallies))
                for i, bound in enumerate(sorted(DURATION_BUCKETS))
            ]
            durations.add_metric(
                [task],
                [*buckets, ("+Inf", total)],
                sum(t.duration_sum for t in tallies),
            )
        runs = CounterMetricFamily(
            "runner_runs", "Ended runs of a task by their outcome.", labels=["task", "status"]
        )
        for (task, outcome), count in sorted(self._runs.items()):
            runs.add_metric([task, outcome], count)
        yield attempts
        yield durations
        yield runs

    def _worker_families(self) -> Iterator[Metric]:
        labels = ["site", "host", "instance"]
        up = GaugeMetricFamily(
            "runner_worker_up",
            "1 when the runner is online or running, 0 offline.",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "runner_worker_heartbeat_age_seconds",
            "Seconds since the runner last recorded its heartbeat.",
            labels=labels,
        )
        throughput = GaugeMetricFamily(
            "runner_worker_throughput_items_per_second",
            "Items the runner finished per second, over its last few minutes.",
            labels=labels,
        )
        for worker in self._report.workers:
            key = [worker.site, worker.host, worker.instance]
            up.add_metric(key, 0 if worker.state == WORKER_OFFLINE else 1)
            age.add_metric(key, max(0.0, self._now - worker.heartbeat))
            throughput.add_metric(key, worker.throughput / 60.0)
        yield up
        yield age
        yield throughput


def _bound(seconds: float) -> str:
    """A bucket bound as Prometheus writes `le` ("1.0", "14400.0")."""
    return repr(float(seconds))


def registry(pipeline: Pipeline, *, now: float | None = None) -> CollectorRegistry:
    """A fresh registry holding the pipeline's metrics as its state says now."""
    fresh = CollectorRegistry(auto_describe=False)
    fresh.register(_StateCollector(metrics_report(pipeline, buckets=DURATION_BUCKETS, now=now)))
    return fresh


def exposition(pipeline: Pipeline, *, now: float | None = None) -> tuple[bytes, str]:
    """The pipeline's metrics in the Prometheus text format, and that format's content type."""
    return generate_latest(registry(pipeline, now=now)), CONTENT_TYPE_LATEST


def write_textfile(pipeline: Pipeline, path: Path, *, now: float | None = None) -> None:
    """Write the metrics to `path` for node_exporter's textfile collector: at once (a temporary
    file renamed over it), with the modes of `settings.file_mode`."""
    data, _ = exposition(pipeline, now=now)
    with file_modes(pipeline.settings.file_mode):
        replace_file(path, data)
