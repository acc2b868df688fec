"""The store protocol: every operation the runner asks of its resume state.

The engine, the scheduler, the serve loop, the operator verbs and the library API are
typed against `StateStore`, never against a backend. SQLite (runner.state.sqlite) is the
first implementation; a database server shared by several runners (SPEC §8) is meant to
be the second, so the contracts below speak of transactions and commits, not of files.

Contracts common to every method:

- "Durable" means committed so that it survives the death of the runner process and a
  power loss before the method returns; the caller may act on it at once (launch a
  process, print a confirmation).
- Every method that changes state is one transaction: all of its changes or none.
  Inside `batch()` it joins the batch's transaction instead, and becomes durable when the
  batch ends.
- Reads see committed state (and, inside a batch, the batch's own changes). A read that
  returns several rows returns them from one consistent view.
- A store object serves one thread; each thread that needs the state opens its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, Self

from runner.state.records import (
    AttemptEnd,
    AttemptRow,
    AttemptStart,
    Checkpoint,
    ItemQuery,
    ItemRow,
    MoveRow,
    RunRow,
    SyncReport,
    TaskRow,
    WorkerRow,
)


class StateStore(Protocol):
    """The resume state: tasks, runs and their steps, items, attempts, checkpoints, moves, workers."""

    @property
    def path(self) -> Path:
        """The local path naming this state; per-host side files (launch journals) live beside it."""
        ...

    # -- lifecycle and transactions -------------------------------------------

    def close(self) -> None:
        """Release the store; nothing uncommitted survives (there is nothing uncommitted between calls)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def batch(self) -> AbstractContextManager[None]:
        """One transaction around several operations, durable together when the block ends.

        Everything done inside sees one consistent state (no other writer can slip in between
        its reads and its writes) and commits once. An exception leaving the block rolls all of
        it back. Batches do not nest: an operation inside joins the open batch.
        """
        ...

    def change_counter(self) -> int:
        """A number that changes whenever another connection commits a change to the state.

        The serve loop polls it to notice operators' moves and other runners' writes; only
        inequality between two readings means anything.
        """
        ...

    # -- tasks ------------------------------------------------------------------

    def upsert_task(
        self, name: str, *, site: str, config_hash: str, modified_by: str, now: float
    ) -> TaskRow:
        """Record that a task exists; bump `last_modified` when its effective config changed.

        Durable before it returns; returns the task's row as committed.
        """
        ...

    def task(self, name: str) -> TaskRow | None:
        """The task's row, or None if it never ran."""
        ...

    def tasks(self) -> list[TaskRow]:
        """Every task the state knows, by name."""
        ...

    def set_task_status(self, name: str, status: str, *, command: str | None = None) -> None:
        """Set a task's status and (when given) its command in progress. Durable."""
        ...

    def mark_fire(self, name: str, fire: float) -> None:
        """Record a fire as handled without a run (its window had closed). Durable."""
        ...

    # -- runs and steps ---------------------------------------------------------

    def begin_run(self, run: RunRow, *, recurring: bool) -> None:
        """Record a new run, and the task as running with this run as its last, in one transaction.

        In recurring mode every successful item becomes unattempted again and retry budgets
        reset, in the same transaction. Durable. Run ids are unique: recording an id that
        exists fails, with nothing changed.
        """
        ...

    def set_run_phase(self, run_id: str, phase: str) -> None:
        """Advance a run to its next phase (before, items, after). Durable."""
        ...

    def finish_run(
        self, run_id: str, *, status: str, message: str, now: float, task_status: str
    ) -> None:
        """Close a run with its final status and set its task's status, in one transaction. Durable."""
        ...

    def run(self, run_id: str) -> RunRow | None:
        """One run by id, or None."""
        ...

    def open_runs(self, site: str) -> list[RunRow]:
        """Runs of this site that have not ended (left by a runner that died, or still going)."""
        ...

    def has_open_run(self, task: str, site: str) -> bool:
        """A run of `task` on `site` has not ended."""
        ...

    def last_run(self, task: str) -> RunRow | None:
        """The most recent run of a task."""
        ...

    def step_status(self, run_id: str, phase: str) -> dict[int, str | None]:
        """Status of each recorded step of a run's phase (None: started, never finished)."""
        ...

    def start_step(self, run_id: str, phase: str, idx: int, now: float) -> None:
        """Record that a step is about to be launched; durable before the launch."""
        ...

    def finish_step(
        self,
        run_id: str,
        phase: str,
        idx: int,
        *,
        status: str,
        exit_code: int | None,
        error: str | None,
        now: float,
    ) -> None:
        """Record a step's outcome. Durable."""
        ...

    # -- items ------------------------------------------------------------------

    def sync_members(
        self, task: str, members: Iterable[tuple[str, str, str]], *, now: float
    ) -> SyncReport:
        """Bring the task's items in line with its group, in one transaction. Durable.

        `members` yields (item id, attributes as JSON, missing required attributes
        comma-joined). New members enter `unattempted` (or `incomplete` when attributes are
        missing); `incomplete` items whose attributes arrived move to `unattempted`; waiting
        items that lost a required attribute move to `incomplete`; members that left are
        flagged, not deleted; `trash` and `incorrect-format` never come back.
        """
        ...

    def item(self, task: str, item_id: str) -> ItemRow | None:
        """One item of a task, or None."""
        ...

    def eligible_items(
        self, task: str, *, now: float, in_schedule: bool, limit: int
    ) -> list[ItemRow]:
        """At most `limit` items to dispatch next, in SPEC §3 order (queue rank, then FIFO).

        Only in-group items without a running attempt; `retry` items only once due; out of
        schedule only `run-now`. Its cost must not grow with the number of waiting items.
        """
        ...

    def next_retry_at(self, task: str) -> float | None:
        """When the earliest waiting retry of a task becomes due, or None."""
        ...

    def count_waiting(self, task: str, queues: Sequence[str]) -> int:
        """How many in-group, not running items of a task wait in these queues."""
        ...

    def has_waiting(self, task: str, queue: str) -> bool:
        """At least one in-group, not running item of a task waits in `queue`."""
        ...

    def queue_counts(self, task: str) -> dict[str, int]:
        """Number of items of a task (still in its group) in each queue."""
        ...

    # -- attempts ---------------------------------------------------------------

    def start_attempts(
        self, starts: Sequence[AttemptStart], *, command: str | None = None
    ) -> list[int]:
        """Record attempts as started, in one transaction, durably, before their launch.

        Each item's running attempt and attempt count are set in the same transaction;
        `command` (already masked) becomes the task's command in progress. Returns the new
        attempt ids, in order, increasing.
        """
        ...

    def finish_attempts(
        self,
        ends: Sequence[AttemptEnd],
        checkpoints: Sequence[tuple[int, Checkpoint, float]] = (),
    ) -> list[tuple[AttemptEnd, str]]:
        """Record outcomes and pending checkpoints in one durable transaction.

        An operator move made while the attempt ran takes effect now, wins over the policy's
        decision and is marked applied. Returns each end with the queue its item actually
        entered.
        """
        ...

    def attempts_with_pending_moves(self) -> set[int]:
        """Running attempts whose item an operator moved meanwhile."""
        ...

    def cancel_attempts(self, attempt_ids: Sequence[int]) -> None:
        """Undo attempts recorded but never launched, in one transaction. Durable.

        The item's attempt count goes back; a move made meanwhile is applied now.
        """
        ...

    def open_attempts(self, site: str) -> list[AttemptRow]:
        """Attempts of this site recorded as started and never finished, oldest first."""
        ...

    def attempts_of(self, task: str, item_id: str) -> list[AttemptRow]:
        """Every attempt of one item, oldest first."""
        ...

    def attempt(self, attempt_id: int) -> AttemptRow | None:
        """One attempt by id, or None."""
        ...

    def run_error_items(self, run_id: str) -> int:
        """Items whose latest attempt in this run left them in an error queue."""
        ...

    def running_attempts(self) -> list[tuple[str, int, str]]:
        """(task, attempt id, site) of every item with an open attempt."""
        ...

    # -- checkpoints ------------------------------------------------------------

    def processed_subids(self, task: str, item_id: str) -> Iterator[str]:
        """Every sub-id already processed for an item, across all attempts, oldest first."""
        ...

    def items_with_checkpoints(self, task: str, item_ids: Sequence[str]) -> set[str]:
        """Which of these items have processed sub-ids recorded."""
        ...

    def processed_by_attempt(self, task: str, item_id: str) -> dict[int, int]:
        """How many sub-ids (checkpoints) each attempt of an item announced first."""
        ...

    # -- moves ------------------------------------------------------------------

    def move_item(
        self, task: str, item_id: str, *, to_queue: str, by: str, reason: str, now: float
    ) -> MoveRow:
        """Move one item by hand and record the move, in one transaction. Durable.

        A running item's move is recorded as pending and takes effect when its attempt ends
        (see `finish_attempts`). An unknown item raises StateError with nothing changed.
        """
        ...

    def moves_of(self, task: str, item_id: str) -> list[MoveRow]:
        """Every operator move of one item, oldest first."""
        ...

    # -- workers ----------------------------------------------------------------

    def heartbeat(self, worker: WorkerRow) -> None:
        """Record this runner's state for its site, replacing the previous one; committed on return.

        Losing the latest heartbeat to a power loss is harmless: the next one replaces it.
        """
        ...

    def workers(self) -> list[WorkerRow]:
        """Every site's last known runner, by site."""
        ...

    # -- operator reports (read only) -------------------------------------------

    def count_items_by_queue(self, query: ItemQuery) -> dict[str, int]:
        """How many items of the query each of its queues holds (queues without items left out)."""
        ...

    def page_items(
        self,
        query: ItemQuery,
        *,
        limit: int | None,
        offset: int = 0,
        counts: dict[str, int] | None = None,
    ) -> list[ItemRow]:
        """One page of the query's items in listing order (`LISTING_ORDER`, FIFO in a queue).

        `counts` (from `count_items_by_queue`) lets whole queues before `offset` be skipped;
        `limit` None: every item from `offset` on. A page costs what it shows. With
        `query.sort` other than `listing`, in the order it names (`ITEM_SORTS`).
        """
        ...

    def find_items(self, task: str, item_ids: Sequence[str]) -> dict[str, ItemRow]:
        """The rows of these items of a task that exist, by id."""
        ...

    def item_ids_in_queue(self, task: str, queue: str) -> list[str]:
        """Every item id of a task in one queue (members that left the group included), FIFO."""
        ...

    def open_run(self, task: str) -> RunRow | None:
        """The task's run that has not ended (at most one is ever open), or None."""
        ...

    def items_ahead(self, item: ItemRow, *, now: float, in_schedule: bool) -> int:
        """How many waiting items of the item's task would be dispatched before it."""
        ...

    # -- a task's runs (runner runs, the console's runs page) --------------------

    def count_runs(self, task: str) -> int:
        """How many runs the task has had."""
        ...

    def runs_of(self, task: str, *, limit: int | None, offset: int = 0) -> list[RunRow]:
        """The task's runs, newest first; `limit` None: every run from `offset` on."""
        ...

    def attempt_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run: its attempts by status (an attempt still open counts as `running`)."""
        ...
