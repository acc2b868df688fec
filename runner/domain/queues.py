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
    {RUN_NOW, RESCHEDULED, PAUSED, DISABLED, TRASH, UNATTEMPTED}
)

#: Where an item lacking required attributes may still be moved by an operator.
TARGETS_WITHOUT_ATTRIBUTES: frozenset[str] = frozenset({PAUSED, DISABLED, TRASH})

#: Queues an outcome rule may send an item to (not `run-now`, the operator's, nor `retry`).
OUTCOME_TARGETS: tuple[str, ...] = tuple(q for q in ALL_QUEUES if q not in (RUN_NOW, RETRY))

#: Queues a policy may send an item to once its retries are used up.
EXHAUSTED_TARGETS: tuple[str, ...] = (*ERROR_QUEUES, PAUSED)

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
