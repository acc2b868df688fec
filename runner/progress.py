"""The live progress line of `runner run` on a terminal: one segment per running task."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RunProgress:
    """Counters of one run's items, kept by the engine."""

    task: str
    started: float
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int = 0

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
    """`task 120/500 (3 failed) 42/min ETA 9:03 | other ...`; empty when nothing runs."""
    parts = []
    for run in runs:
        text = f"{run.task} {run.finished}/{run.total}"
        if run.failed:
            text += f" ({run.failed} failed)"
        text += f" {run.rate_per_minute(now):.0f}/min"
        eta = run.eta_seconds(now)
        if eta is not None and run.finished < run.total:
            text += f" ETA {_clock(eta)}"
        parts.append(text)
    return " | ".join(parts)
