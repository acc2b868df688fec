"""The queue state machine: queue names, categories, dispatch order, policy decisions, move rules.

Pure: no I/O, no clock (callers pass ``now``), nothing but the standard library. Every
(task, item) pair is in exactly one queue (SPEC §3); this module says which queue it goes
to next and whether it may be dispatched. The names below are persisted in the state file
and printed by the CLI: they are stable forever.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.config.policies import Backoff, Policy

# --- queues (SPEC §3), in the order of the SPEC table ------------------------------------

RUN_NOW = "run-now"
RESCHEDULED = "rescheduled"
RETRY = "retry"
UNATTEMPTED = "unattempted"
INCOMPLETE = "incomplete"
PAUSED = "paused"
SUCCESSFUL = "successful"
CORRUPT = "corrupt"
IN_USE = "in-use"
INACCESSIBLE = "inaccessible"
PASSWORD_PROTECTED = "password-protected"  # noqa: S105 - a queue name, not a secret
AWAITING_INTERVENTION = "awaiting-intervention"
TRASH = "trash"
INCORRECT_FORMAT = "incorrect-format"
DISABLED = "disabled"

ALL_QUEUES: tuple[str, ...] = (
    RUN_NOW,
    RESCHEDULED,
    RETRY,
    UNATTEMPTED,
    INCOMPLETE,
    PAUSED,
    SUCCESSFUL,
    CORRUPT,
    IN_USE,
    INACCESSIBLE,
    PASSWORD_PROTECTED,
    AWAITING_INTERVENTION,
    TRASH,
    INCORRECT_FORMAT,
    DISABLED,
)

# --- categories ---------------------------------------------------------------------------

IN_PROGRESS = "in-progress"
INACTIVE = "inactive"
ERROR = "error"
OTHER = "other"

CATEGORIES: tuple[str, ...] = (IN_PROGRESS, INACTIVE, ERROR, OTHER)

CATEGORY: Mapping[str, str] = {
    RUN_NOW: IN_PROGRESS,
    RESCHEDULED: IN_PROGRESS,
    RETRY: IN_PROGRESS,
    UNATTEMPTED: IN_PROGRESS,
    INCOMPLETE: INACTIVE,
    PAUSED: INACTIVE,
    SUCCESSFUL: INACTIVE,
    CORRUPT: ERROR,
    IN_USE: ERROR,
    INACCESSIBLE: ERROR,
    PASSWORD_PROTECTED: ERROR,
    AWAITING_INTERVENTION: ERROR,
    TRASH: OTHER,
    INCORRECT_FORMAT: OTHER,
    DISABLED: OTHER,
}

#: Queues whose items are counted in a task's ``total`` (every category but "other").
COUNTED_IN_TOTALS: frozenset[str] = frozenset(q for q in ALL_QUEUES if CATEGORY[q] != OTHER)

#: The error queues, in SPEC order (a run that leaves items here exits 3).
ERROR_QUEUES: tuple[str, ...] = tuple(q for q in ALL_QUEUES if CATEGORY[q] == ERROR)

#: Queues the dispatcher takes items from, highest priority first (FIFO inside each).
DISPATCH_ORDER: tuple[str, ...] = (RUN_NOW, RESCHEDULED, RETRY, UNATTEMPTED)

#: Rank given by :func:`dispatch_rank` to every queue outside :data:`DISPATCH_ORDER`.
NOT_DISPATCHED_RANK = len(DISPATCH_ORDER)

#: Queues that are never dispatched, whatever the mode or schedule (SPEC §3).
NEVER_DISPATCHED: frozenset[str] = frozenset(
    {PAUSED, DISABLED, TRASH, INCORRECT_FORMAT, *ERROR_QUEUES}
)

#: Queues an item is not brought back from when the group is resolved again.
NOT_REDISCOVERED: frozenset[str] = frozenset({TRASH, INCORRECT_FORMAT})

#: Queues an operator may move an item into with ``runner move``.
OPERATOR_TARGETS: frozenset[str] = frozenset(
    {RUN_NOW, RESCHEDULED, PAUSED, DISABLED, TRASH, UNATTEMPTED}
)

#: Where an item lacking required attributes may still be moved by an operator.
TARGETS_WITHOUT_ATTRIBUTES: frozenset[str] = frozenset({PAUSED, DISABLED, TRASH})

# --- statuses -------------------------------------------------------------------------------

OK = "ok"
FAILED = "failed"
TIMEOUT = "timeout"
HUNG = "hung"
START_FAILED = "start-failed"
INTERRUPTED = "interrupted"

BUILTIN_STATUSES: tuple[str, ...] = (OK, FAILED, TIMEOUT, HUNG, START_FAILED, INTERRUPTED)

#: Task modes (SPEC §2).
MODE_RECURRING = "recurring"
MODE_ONCE = "once"


# --- policy decisions -----------------------------------------------------------------------


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
        f"retry {retry_number} of {policy.max_retries} in {_short_duration(delay)}",
    )


def _short_duration(seconds: float) -> str:
    """Compact display of a delay: ``0s``, ``0.5s``, ``45s``, ``2m``, ``1h30m``, ``2d3h``."""
    if math.isinf(seconds) or math.isnan(seconds):
        return str(seconds)
    if 0 < seconds < 1:
        return f"{seconds:.1f}s"
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --- rediscovery and run starts -------------------------------------------------------------


def after_rediscovery(current: str | None, *, missing_attributes: bool) -> str:
    """The queue of a group member after the group was resolved again.

    ``current`` is the member's queue (None for a new member); ``missing_attributes`` whether
    it lacks attributes the definition ``requires``. New members enter ``unattempted`` (or
    ``incomplete``); ``incomplete`` items leave by themselves once the attributes are there;
    waiting items that lost them go to ``incomplete``. Every other queue is kept (an item in
    ``trash`` or ``incorrect-format`` is never brought back).
    """
    if current is None:
        return INCOMPLETE if missing_attributes else UNATTEMPTED
    if current == INCOMPLETE and not missing_attributes:
        return UNATTEMPTED
    if missing_attributes and current in DISPATCH_ORDER:
        return INCOMPLETE
    return current


def queue_at_run_start(current: str, mode: str) -> str:
    """The queue of an item when a new run of its task starts.

    In ``mode: recurring`` every run processes every item again: items that succeeded or
    were left waiting for a retry by the previous run become ``unattempted``. In ``mode:
    once`` state carries over unchanged. Operator and error queues are always kept.
    """
    if mode == MODE_RECURRING and current in (SUCCESSFUL, RETRY):
        return UNATTEMPTED
    return current


# --- dispatch ---------------------------------------------------------------------------------


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


# --- operator moves ---------------------------------------------------------------------------

_WHY_NOT_TARGET: Mapping[str, str] = {
    SUCCESSFUL: "items reach 'successful' only by running; move it to run-now to run it again",
    RETRY: (
        "items reach 'retry' only through their policy after a failed attempt; "
        "move it to run-now or rescheduled to run it again"
    ),
    INCOMPLETE: (
        "items enter 'incomplete' only when the group lacks attributes the definition requires; "
        "move it to paused to hold it"
    ),
    INCORRECT_FORMAT: (
        "items reach 'incorrect-format' only through an outcome rule; "
        "move it to trash or disabled to take it out of the task"
    ),
}


def _unknown_queue(name: str, role: str) -> str:
    close = difflib.get_close_matches(name, ALL_QUEUES, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {role} queue '{name}'; {hint}queues are: {', '.join(ALL_QUEUES)}"


def check_move(
    from_queue: str, to_queue: str, *, missing_attributes: Sequence[str] = ()
) -> str | None:
    """Whether an operator may move an item from ``from_queue`` to ``to_queue``.

    Returns None when the move is allowed, else a message saying why not and what to do.
    Only :data:`OPERATOR_TARGETS` are valid targets; an item lacking required attributes
    (``missing_attributes``) may go only to paused, disabled or trash.
    """
    if to_queue not in CATEGORY:
        return _unknown_queue(to_queue, "target")
    if from_queue not in CATEGORY:
        return _unknown_queue(from_queue, "source")
    if from_queue == to_queue:
        return f"already in '{to_queue}'"
    if to_queue not in OPERATOR_TARGETS:
        if to_queue in _WHY_NOT_TARGET:
            return _WHY_NOT_TARGET[to_queue]
        return (
            f"items reach the error queue '{to_queue}' only through an outcome rule or their "
            "policy; move it to paused or disabled to hold it"
        )
    if missing_attributes and to_queue not in TARGETS_WITHOUT_ATTRIBUTES:
        names = ", ".join(missing_attributes)
        return f"lacks attributes {names}; fix the group (or move it to paused, disabled or trash)"
    return None
