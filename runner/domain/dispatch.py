"""Which waiting items may start now, and in which order (SPEC §3).

`run-now` first, even out of schedule; then `rescheduled`, `retry` (once its backoff is due)
and `unattempted`; first in, first out inside each queue. The store's eligibility query
(`StateStore.eligible_items`) is this rule written in SQL for speed; a property test holds
the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from runner.domain.queues import DISPATCH_ORDER, RESCHEDULED, RETRY, RUN_NOW, UNATTEMPTED

#: Rank given by :func:`dispatch_rank` to every queue outside :data:`DISPATCH_ORDER`.
NOT_DISPATCHED_RANK = len(DISPATCH_ORDER)


class Waiting(Protocol):
    """What the rule reads of a waiting item."""

    @property
    def queue(self) -> str: ...

    @property
    def retry_at(self) -> float | None: ...

    @property
    def entered_at(self) -> float: ...


Item = TypeVar("Item", bound=Waiting)


def dispatch_rank(queue: str) -> int:
    """Priority of a queue for dispatch: 0 for ``run-now`` … 3 for ``unattempted``.

    Queues that are not dispatched get :data:`NOT_DISPATCHED_RANK` (they sort last).
    """
    try:
        return DISPATCH_ORDER.index(queue)
    except ValueError:
        return NOT_DISPATCHED_RANK


def eligible(queue: str, retry_at: float | None, now: float, in_schedule: bool) -> bool:
    """Whether an item in ``queue`` may start now.

    ``run-now`` ignores the schedule; ``rescheduled`` and ``unattempted`` need the task to be
    in schedule; ``retry`` also needs its backoff to be over (``retry_at <= now``; a missing
    ``retry_at`` counts as due). No other queue is ever dispatched.
    """
    if queue == RUN_NOW:
        return True
    if queue in (RESCHEDULED, UNATTEMPTED):
        return in_schedule
    if queue == RETRY:
        return in_schedule and (retry_at is None or retry_at <= now)
    return False


def next_to_dispatch(
    items: Iterable[Item], *, now: float, in_schedule: bool, limit: int
) -> list[Item]:
    """The first ``limit`` items to start, best first.

    ``items`` are a task's members that are in its group and not running, in the order
    they were first recorded (the tie-break between equal entry times).
    """
    ready = [i for i in items if eligible(i.queue, i.retry_at, now, in_schedule)]
    ready.sort(key=lambda i: (dispatch_rank(i.queue), i.entered_at))
    return ready[: max(0, limit)]
