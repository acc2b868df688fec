"""The wall clock stepping backwards (NTP, an operator): how far it went, and when a retry
recorded before the step is due, so that a backoff lasts its length and not the step's too."""

from __future__ import annotations

STEP_TOLERANCE = 1.0
"""Seconds a recorded instant may lie ahead of the clock before the clock counts as stepped back."""


def backward_step(latest: float | None, now: float) -> float:
    """Seconds the wall clock went back: how far `latest`, an instant recorded earlier, lies
    ahead of `now`; 0.0 within STEP_TOLERANCE or when nothing was recorded."""
    if latest is None:
        return 0.0
    step = latest - now
    return step if step > STEP_TOLERANCE else 0.0


def retry_due(retry_at: float, step: float, now: float) -> float:
    """When a retry recorded for `retry_at` is due after a backward step of `step` seconds:
    that much earlier, never before `now` (what the store's `pull_retries_back` records)."""
    if step <= 0 or retry_at <= now:
        return retry_at
    return max(now, retry_at - step)
