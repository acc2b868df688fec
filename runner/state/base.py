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

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, Self

from runner.domain.brakes import BrakeWindow
from runner.state.records import (
    AttemptEnd,
    AttemptRow,
    AttemptStart,
    AttemptTally,
    Checkpoint,
    ControlRow,
    ItemQuery,
    ItemResult,
    ItemRow,
    MoveRow,
    RunErrors,
    RunRequestRow,
    RunRow,
    ServingRow,
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

    @property
    def shared(self) -> bool:
        """Several runners of one site may write this state at once (a database server)."""
        ...

    @property
    def fence_passed_at(self) -> float:
        """When (time.monotonic) a write transaction last found this runner's lease its own
        (shared states, once `fence` was called; else 0)."""
        ...

    def fence(self, site: str, instance: str, epoch: int, *, lease: float = 60.0) -> None:
        """On a shared state: from now on every write transaction first checks, under the write
        lock, that runner `instance` of `site` still holds its lease at `epoch`, and raises
        LeaseLostError if not; a transaction of it idle for half its `lease` ends its session.
        Nothing to do on SQLite (the lock file keeps a site to one runner)."""
        ...

    def hold_site(self, site: str) -> None:
        """Refuse a second runner of `site` on this state while this store is open.

        On SQLite the lock file beside the state does it (runner.system.lock) and this does
        nothing; on a shared database the runner's own connection holds a lock per site
        (LockHeldError, naming the holder, when another runner has it).
        """
        ...

    def batch(self) -> AbstractContextManager[None]:
        """One transaction around several operations, durable together when the block ends.

        Everything done inside sees one consistent state (no other writer can slip in between
        its reads and its writes) and commits once. An exception leaving the block rolls all of
        it back. Batches do not nest: an operation inside joins the open batch.
        """
        ...

    def copy_to(self, target: Path) -> None:
        """Write a consistent copy of the committed state to the new file `target` (a backup).

        Safe while runners write; `target` must not exist (nothing is overwritten).
        """
        ...

    # -- whole tables (`runner state copy`) ------------------------------------

    def row_counts(self) -> dict[str, int]:
        """How many rows each table holds (0 for a table this state has not got yet)."""
        ...

    def table_columns(self, table: str) -> list[str]:
        """The table's columns (its rowid first when it has one), or [] when it has none yet."""
        ...

    def table_rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[object, ...]]:
        """Every row of `table` (those `columns`), in key order."""
        ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[tuple[object, ...]]
    ) -> None:
        """Write rows as they are into `table` (one transaction, or the open batch's)."""
        ...

    def restart_ids(self) -> None:
        """After rows were written with their ids (a copy): new rows get ids after them."""
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

    def take_runs(self, site: str, runners: Sequence[str], owner: str) -> list[RunRow]:
        """Make `owner` the owner of the open runs the `runners` owned (they were taken over);
        returns those runs."""
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

    def synced_source(self, task: str) -> str | None:
        """The fingerprint of the group sources the task's last sync read
        (runner.groupsource), or None."""
        ...

    def record_synced_source(self, task: str, source: str | None, *, now: float) -> None:
        """Record the fingerprint of the sources a group sync just read (None: forget it; the
        next opening reads them again). Durable."""
        ...

    def pull_retries_back(self, tasks: Sequence[str], by: float, *, now: float) -> int:
        """Bring the tasks' pending retry times `by` seconds earlier (never before `now`): the
        wall clock stepped back. Durable; returns how many items moved."""
        ...

    def group_members(self, task: str) -> frozenset[str]:
        """The ids of the task's items that are in its group now (those that left are not)."""
        ...

    def item(self, task: str, item_id: str) -> ItemRow | None:
        """One item of a task, or None."""
        ...

    def eligible_items(
        self,
        task: str,
        *,
        now: float,
        in_schedule: bool,
        limit: int,
        exclude: Mapping[str, Collection[str]] | None = None,
    ) -> list[ItemRow]:
        """At most `limit` items to dispatch next, in SPEC §3 order (queue rank, then FIFO).

        Only in-group items without a running attempt; `retry` items only once due; out of
        schedule only `run-now`. Its cost must not grow with the number of waiting items.
        `exclude` maps an attribute to values whose items are left out (limits per attribute
        that are full; an item without the attribute has the value '').
        """
        ...

    def running_attributes(self, task: str) -> list[dict[str, str]]:
        """The attributes of the task's items that have an open attempt (started, not ended),
        whichever runner started it: what limits per attribute count."""
        ...

    def count_claimed(self, task: str) -> int:
        """How many of the task's items have an open attempt, on any runner."""
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

    def open_attempts_of_run(self, run_id: str) -> int:
        """How many attempts of the run are recorded as started and not finished (every runner's)."""
        ...

    def open_attempts(self, site: str, runners: Sequence[str] | None = None) -> list[AttemptRow]:
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

    def running_attempts(self) -> list[tuple[str, int, str, str]]:
        """(task, attempt id, site, runner) of every item with an open attempt."""
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

    def register_runner(self, worker: WorkerRow, *, lease: float) -> int:
        """Record a runner starting under its identity (`worker.name`); returns its epoch."""
        ...

    def lease_holder(self, site: str, instance: str) -> tuple[int, float | None] | None:
        """The epoch of runner `instance` of `site` and when it was taken over (None: never)."""
        ...

    def expired_runners(self, site: str) -> list[WorkerRow]:
        """The site's runners whose lease expired or that stopped, not yet taken over."""
        ...

    def mark_lost(self, worker: WorkerRow, *, now: float, expired_only: bool) -> bool:
        """Record that a live runner takes over `worker`; False when it came back or was taken
        over meanwhile."""
        ...

    def forget_runners(self, site: str, keep: str) -> None:
        """Drop the rows of the site's taken-over runners that left nothing open (but `keep`)."""
        ...

    def heartbeat(self, worker: WorkerRow, *, lease: float = 60.0) -> None:
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

    # -- task controls: halts, pauses, resumes, brake windows -------------------

    def control_task(
        self, task: str, *, action: str, by: str, reason: str, now: float
    ) -> ControlRow:
        """Record a halt, pause or resume of a task (runner.domain.brakes actions), audited with
        who, when and why; the task's brake window starts again. One transaction. Durable."""
        ...

    def task_halts(self) -> dict[str, ControlRow]:
        """The tasks halted or paused now (their latest control holds them), each with it.

        Cheap: the engine reads it whenever another process changed the state."""
        ...

    def task_halt(self, task: str) -> ControlRow | None:
        """The control holding this task now (halted or paused), or None."""
        ...

    def task_controls(self, task: str) -> list[ControlRow]:
        """Every halt, pause and resume of a task, oldest first."""
        ...

    def brake_window(self, task: str) -> BrakeWindow:
        """The attempts the task's brake counted since its window opened (its last halt or resume)."""
        ...

    def count_brake_outcomes(self, task: str, outcomes: Sequence[bool]) -> BrakeWindow:
        """Add ended attempts (True: failed, in the order they ended) to the task's brake window;
        returns the window after them. One transaction. Durable."""
        ...

    def run_last_activity(self, run_id: str) -> float | None:
        """The latest instant an attempt or step of the run started or ended (None: none did).

        Cheap whatever the run's size (`runner check` asks it of every open run)."""
        ...

    # -- results: metrics and per-item exports (read only) -----------------------

    def metrics_of_attempts(self, attempt_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """Each attempt's metrics (the last value it reported per name); attempts without none."""
        ...

    def metrics_of_items(self, task: str, item_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Each item's metrics: per name, the sum over its attempts; items without none."""
        ...

    def metrics_of_task(self, task: str) -> dict[str, float]:
        """Per metric name, the sum over every attempt of the task."""
        ...

    def item_results(self, task: str, *, include_left: bool = True) -> Iterator[ItemResult]:
        """One result per item of the task, ordered by id, streamed (a task may hold 100,000)."""

    # -- metrics and run summaries (read only) -----------------------------------

    def attempt_tallies(self, buckets: Sequence[float]) -> list[AttemptTally]:
        """Per (task, status) of ended attempts: count, summed duration, and per bound of
        `buckets` how many lasted at most that long. Costs one pass over an index, not the rows."""
        ...

    def run_outcomes(self) -> dict[tuple[str, str], int]:
        """How many ended runs each (task, status) has."""
        ...

    def run_errors(self, run_id: str, limit: int) -> RunErrors:
        """The items whose latest attempt in the run left them in an error queue (the first
        `limit`, in the order their attempts ended) and their total."""

    # -- retention (runner prune) ---------------------------------------------

    def prunable_outputs(
        self, *, ended_before: float, after_id: int, limit: int
    ) -> list[AttemptRow]:
        """Attempts (id > `after_id`, by id, at most `limit`) whose output files may be removed.

        Each ended before `ended_before`, its output is not marked pruned, its run has ended,
        and a later attempt of its item has finished (an item's latest attempt keeps its output).
        """
        ...

    def mark_outputs_pruned(self, attempt_ids: Sequence[int], *, now: float) -> None:
        """Record that these attempts' output files were removed, in one transaction. Durable."""
        ...

    def outputs_pruned(self, task: str, item_id: str) -> dict[int, float]:
        """When the output of each attempt of an item was pruned (attempt id -> time)."""
        ...

    def prunable_attempts(
        self, *, run_ended_before: float, after_id: int, limit: int
    ) -> list[AttemptRow]:
        """Attempts (id > `after_id`, by id, at most `limit`) whose rows may be deleted.

        Each belongs to a run that ended before `run_ended_before`, and a later attempt of its
        item has finished.
        """
        ...

    def delete_attempts(self, attempt_ids: Sequence[int]) -> int:
        """Delete these attempts and their announced events, in one transaction. Durable.

        The rule of `prunable_attempts` is checked again inside the transaction; an attempt no
        longer prunable stays. Processed sub-ids and moves are kept. Returns how many went.
        """
        ...

    def prunable_runs(self, *, ended_before: float, after_id: str, limit: int) -> list[RunRow]:
        """Runs (id > `after_id`, by id, at most `limit`) that may be deleted.

        Each ended before `ended_before`, is not its task's most recent run, and every attempt
        it still has is prunable.
        """
        ...

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete these runs and their steps, in one transaction. Durable.

        Only runs with no attempt left that are not their task's most recent go; returns how
        many did.
        """
        ...

    def earliest_open_run(self) -> float | None:
        """When the oldest run that has not ended (any site) started, or None."""

    # -- run-now requests for a serving runner ----------------------------------

    def request_run(self, task: str, *, site: str, by: str, now: float) -> RunRequestRow:
        """Record an operator's `run --now` for the site's serving runner to start. Durable.

        A pending request of the same task and site is returned instead of a second one."""
        ...

    def pending_run_requests(self, site: str) -> list[RunRequestRow]:
        """The site's requests not taken yet, oldest first."""
        ...

    def take_run_request(self, request_id: int, now: float) -> None:
        """Mark a request taken: its run is being opened. Durable."""
        ...

    def mark_serving(self, serving: ServingRow) -> None:
        """Record which `runner serve` process serves a site. Durable."""
        ...

    def clear_serving(self, site: str, pid: int) -> None:
        """Forget that process `pid` serves the site (it stops). Durable."""
        ...

    def serving(self, site: str) -> ServingRow | None:
        """The `runner serve` process recorded as serving the site, if any."""

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
