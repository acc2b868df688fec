"""Where an item goes after an attempt, at a run's start and after rediscovery (SPEC §2-§3).

Pure: no I/O, no clock (callers pass ``now``). The store writes these rules in SQL where
a whole task's items change at once (`begin_run`, `sync_members`); property tests hold the
SQL equal to the functions here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runner.domain.queues import (
    DISPATCH_ORDER,
    INCOMPLETE,
    RETRY,
    SUCCESSFUL,
    UNATTEMPTED,
)
from runner.domain.statuses import MODE_RECURRING, OK
from runner.domain.timefmt import format_duration


class Backoff(Protocol):
    """The wait before each retry (`runner.config.models.Backoff`)."""

    @property
    def initial(self) -> float: ...

    @property
    def factor(self) -> float: ...

    @property
    def max(self) -> float: ...


class Policy(Protocol):
    """What the retry decision reads of a policy (`runner.config.models.Policy`)."""

    @property
    def max_retries(self) -> int: ...

    @property
    def retry_on(self) -> Sequence[str] | None: ...

    @property
    def backoff(self) -> Backoff: ...

    @property
    def exhausted_queue(self) -> str: ...


def backoff_delay(backoff: Backoff, retry_number: int) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    ``initial * factor ** (retry_number - 1)``, never more than ``max`` and never negative.
    A ``retry_number`` below 1 is treated as 1.
    """
    cap = max(0.0, float(backoff.max))
    initial = max(0.0, float(backoff.initial))
    if initial == 0.0:
        return 0.0
    exponent = max(0, retry_number - 1)
    try:
        delay = initial * float(backoff.factor) ** exponent
    except OverflowError:
        return cap
    return min(delay, cap)


@dataclass(frozen=True)
class Decision:
    """Where an item goes after an attempt, when it may run again, and why (for logs, `explain`)."""

    queue: str
    retry_at: float | None
    reason: str


def after_attempt(
    *,
    status: str,
    rule_queue: str | None,
    policy: Policy,
    retries_used: int,
    now: float,
) -> Decision:
    """Decide the next queue of an item after one attempt ended (SPEC §2, policies).

    ``status`` is the attempt's status (built-in or a custom code), ``rule_queue`` the queue
    named by the matching outcome rule (if any), ``retries_used`` how many automatic retries
    this item already had in the current run, ``now`` the current time (epoch seconds).

    Success (status ``ok`` with no rule queue or ``successful``, or any status whose rule
    names ``successful``) goes to ``successful``. A failure whose status the policy retries
    goes to ``retry`` with ``retry_at = now + backoff`` while retries are left; otherwise it
    goes to the rule's queue, else the policy's ``exhausted_queue``. A status ``ok`` that a
    rule routes elsewhere is not a failure status, so it is never retried.
    """
    if rule_queue == SUCCESSFUL or (status == OK and rule_queue is None):
        return Decision(SUCCESSFUL, None, f"succeeded with status {status}")

    target = rule_queue if rule_queue is not None else policy.exhausted_queue
    routed = f"status {status} routes to {target}"
    if status == OK:
        return Decision(target, None, routed)
    if policy.max_retries <= 0:
        return Decision(target, None, f"retries disabled; {routed}")
    if policy.retry_on is not None and status not in policy.retry_on:
        return Decision(target, None, f"status {status} is not retried; {routed}")
    if retries_used >= policy.max_retries:
        return Decision(
            target,
            None,
            f"retries exhausted ({policy.max_retries} of {policy.max_retries}); {routed}",
        )
    retry_number = max(1, retries_used + 1)
    delay = backoff_delay(policy.backoff, retry_number)
    return Decision(
        RETRY,
        now + delay,
        f"retry {retry_number} of {policy.max_retries} in {format_duration(delay)}",
    )


# --- an item's standing between attempts ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """Where an item waits and the counters that decide its next retry."""

    queue: str
    retries_used: int = 0
    retry_at: float | None = None


def at_attempt_end(decided: Standing, pending_queue: str | None) -> Standing:
    """An item's standing once its attempt is recorded as ended.

    ``decided`` is what the policy decided (:func:`after_attempt`, with the retry count it
    implies). An operator's move made while the attempt ran (``pending_queue``) takes effect
    now and wins over the policy: the item enters the operator's queue with its retry count
    reset, as a move of a waiting item does. A backoff time is kept only in ``retry``.
    """
    if pending_queue is not None:
        return Standing(pending_queue, 0, None)
    retry_at = decided.retry_at if decided.queue == RETRY else None
    return Standing(decided.queue, decided.retries_used, retry_at)


def at_run_start(item: Standing, mode: str) -> Standing:
    """An item's standing when a new run of its task opens.

    In ``mode: recurring`` each run starts with every dispatchable item eligible again:
    ``successful`` items become ``unattempted``; items left in ``retry`` by an earlier run
    stay in ``retry`` (still shown as failed, dispatched before new items) with their
    backoff cleared, so they are due at once. Both start the run with no retries used.
    Every other queue, and every item in ``mode: once``, carries over unchanged.
    """
    if mode != MODE_RECURRING or item.queue not in (SUCCESSFUL, RETRY):
        return item
    return Standing(UNATTEMPTED if item.queue == SUCCESSFUL else RETRY, 0, None)


def after_rediscovery(
    current: str | None, *, missing_attributes: bool, running: bool = False
) -> str:
    """The queue of a group member after the group was resolved again.

    ``current`` is the member's queue (None for a new member); ``missing_attributes`` whether
    it lacks attributes the definition ``requires``; ``running`` whether an attempt of it is
    under way. New members enter ``unattempted`` (or ``incomplete``); ``incomplete`` items
    leave by themselves once the attributes are there; waiting items that lost them go to
    ``incomplete`` (a running one is left to its attempt's end). Every other queue is kept
    (an item in ``trash`` or ``incorrect-format`` is never brought back).
    """
    if current is None:
        return INCOMPLETE if missing_attributes else UNATTEMPTED
    if current == INCOMPLETE and not missing_attributes:
        return UNATTEMPTED
    if missing_attributes and current in DISPATCH_ORDER and not running:
        return INCOMPLETE
    return current


class Move(Protocol):
    """What the superseded-move rule reads of an operator's move."""

    @property
    def at(self) -> float: ...

    @property
    def applied_at(self) -> float | None: ...


def superseded(moves: Sequence[Move]) -> list[bool]:
    """For each of one item's moves (oldest first): whether a later move replaced it unapplied.

    A move of a running item waits for the attempt to end; a second move made meanwhile
    replaces it, and only the last one takes effect. A move is superseded when it was
    never applied and a later move exists, or when a later move was made before it was
    applied (state files written before the store kept superseded moves unapplied).
    """
    flags = []
    for index, move in enumerate(moves):
        later = moves[index + 1 :]
        if move.applied_at is None:
            flags.append(bool(later))
        else:
            applied = move.applied_at
            flags.append(any(m.at < applied for m in later))
    return flags
