"""The live progress line of `runner run` on a terminal: one segment per running task."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from runner.domain.queues import ALL_QUEUES

_ORDER = {queue: n for n, queue in enumerate(ALL_QUEUES)}


@dataclass(slots=True)
class RunProgress:
    """Counters of one run's items, kept by the engine."""

    task: str
    started: float
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int = 0
    queues: Counter[str] = field(default_factory=Counter)
    """How many of the run's items are in each queue after their latest attempt."""
    _last_queue: dict[str, str] = field(default_factory=dict)

    def item_ended(self, item_id: str, queue: str) -> None:
        """Count an attempt's outcome: its item now sits in `queue` (replacing where it was)."""
        before = self._last_queue.get(item_id)
        if before is not None:
            self.queues[before] -= 1
        self._last_queue[item_id] = queue
        self.queues[queue] += 1

    def rate_per_minute(self, now: float) -> float:
        """Items finished per minute since the run's items began."""
        elapsed = max(now - self.started, 1e-9)
        return self.finished * 60.0 / elapsed

    def eta_seconds(self, now: float) -> float | None:
        """Seconds until every item is finished at the current rate (None: no rate yet)."""
        rate = self.rate_per_minute(now)
        if rate <= 0:
            return None
        return max(0, self.total - self.finished) * 60.0 / rate


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(runs: list[RunProgress], now: float) -> str:
    """`task 120/500 (3 failed) [successful 117, retry 2, corrupt 1] 42/min ETA 9:03 | ...`.

    The bracket counts the run's items per queue after their latest attempt (queues with
    none left out); the line is empty when nothing runs.
    """
    parts = []
    for run in runs:
        text = f"{run.task} {run.finished}/{run.total}"
        if run.failed:
            text += f" ({run.failed} failed)"
        shown = sorted(run.queues.items(), key=lambda pair: _ORDER.get(pair[0], len(_ORDER)))
        counts = [f"{queue} {n}" for queue, n in shown if n > 0]
        if counts:
            text += f" [{', '.join(counts)}]"
        text += f" {run.rate_per_minute(now):.0f}/min"
        eta = run.eta_seconds(now)
        if eta is not None and run.finished < run.total:
            text += f" ETA {_clock(eta)}"
        parts.append(text)
    return " | ".join(parts)
