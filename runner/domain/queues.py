"""The queues of SPEC §3: names, categories, the queue sets the rules use, and operator moves.

Every (task, item) pair is in exactly one queue. The names are persisted in the state file
and printed by the CLI: they are stable forever.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

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

#: Queues that are never dispatched, whatever the mode or schedule (SPEC §3).
NEVER_DISPATCHED: frozenset[str] = frozenset(
    {PAUSED, DISABLED, TRASH, INCORRECT_FORMAT, *ERROR_QUEUES}
)

#: Queues an item is not brought back from when the group is resolved again.
NOT_REDISCOVERED: frozenset[str] = frozenset({TRASH, INCORRECT_FORMAT})

#: Queues an operator may move an item into with ``runner move``.
OPERATOR_TARGETS: frozenset[str] = frozenset(
    {RUN_NOW, RESCHEDULED, PAUSED, DISABLED, TRASH, UNATTEMPTED, INCORRECT_FORMAT, SUCCESSFUL}
)

#: Operator targets a move reaches only with a reason given (it declares work done by hand).
REASON_REQUIRED: frozenset[str] = frozenset({SUCCESSFUL})

#: Where an item lacking required attributes may still be moved by an operator.
TARGETS_WITHOUT_ATTRIBUTES: frozenset[str] = frozenset({PAUSED, DISABLED, TRASH, INCORRECT_FORMAT})

#: Queues an outcome rule may send an item to (not `run-now`, the operator's, nor `retry`).
OUTCOME_TARGETS: tuple[str, ...] = tuple(q for q in ALL_QUEUES if q not in (RUN_NOW, RETRY))

#: Queues a policy may send an item to once its retries are used up.
EXHAUSTED_TARGETS: tuple[str, ...] = (*ERROR_QUEUES, PAUSED)

# --- operator moves ---------------------------------------------------------------------------

_WHY_NOT_TARGET: Mapping[str, str] = {
    RETRY: (
        "items reach 'retry' only through their policy after a failed attempt; "
        "move it to run-now or rescheduled to run it again"
    ),
    INCOMPLETE: (
        "items enter 'incomplete' only when the group lacks attributes the definition requires; "
        "move it to paused to hold it"
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
        return (
            f"lacks attributes {names}; fix the group (or move it to paused, disabled, trash or "
            "incorrect-format)"
        )
    return None


def check_reason(to_queue: str, reason: str) -> str | None:
    """Whether a move to ``to_queue`` may be made with ``reason``: None, or why not.

    A move to ``successful`` declares the item's work done without running it, so it needs a
    reason (:data:`REASON_REQUIRED`); other moves take a default reason when none is given.
    """
    if to_queue in REASON_REQUIRED and not reason.strip():
        return (
            f"a move to '{to_queue}' marks the item done by hand without running it: say why "
            "with --reason TEXT (kept in history and the report)"
        )
    return None


def done_by_hand(
    queue: str,
    last_move_to: str | None,
    last_move_applied: float | None,
    last_attempt_end: float | None,
) -> bool:
    """Whether an item sits in ``successful`` because an operator moved it there (`manual`).

    ``last_move_to`` and ``last_move_applied``: the item's latest applied move; ``last_attempt_end``:
    when its latest attempt ended. True when it is in successful, that move took it there, and
    no attempt ended after it (an attempt that ran since earned the queue by running).
    """
    if queue != SUCCESSFUL or last_move_to != SUCCESSFUL or last_move_applied is None:
        return False
    return last_attempt_end is None or last_move_applied >= last_attempt_end
