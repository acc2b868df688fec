"""Plain records read from and written to the state store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.domain import queues as q

#: The order in which `runner items` lists queues: dispatch order first, then the SPEC order.
LISTING_ORDER: tuple[str, ...] = (
    *q.DISPATCH_ORDER,
    *(name for name in q.ALL_QUEUES if name not in q.DISPATCH_ORDER),
)

#: How a listing of items may be sorted: `listing` (LISTING_ORDER, FIFO in a queue), `id`,
#: `updated` (most recently changed first) or `attempts` (most attempts first); ties by
#: the order the items were recorded in.
ITEM_SORTS: tuple[str, ...] = ("listing", "id", "updated", "attempts")


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One (task, item) pair as the state knows it."""

    task: str
    item_id: str
    queue: str
    entered_at: float
    attributes: Mapping[str, str]
    in_group: bool
    missing: tuple[str, ...]
    attempts: int
    retries_used: int
    last_status: str | None
    last_error: str | None
    retry_at: float | None
    running_attempt: int | None
    pending_queue: str | None
    updated: float


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run of a task."""

    id: str
    task: str
    site: str
    trigger: str
    fire_time: float | None
    window_end: float | None
    started_at: float
    ended_at: float | None
    phase: str
    status: str
    definition_hash: str
    message: str
    owner: str = ""
    """The runner that runs its steps and ends it (on a shared database; else unused)."""


@dataclass(frozen=True, slots=True)
class AttemptStart:
    """What must be durable before an attempt's process is launched."""

    task: str
    item_id: str
    number: int
    run_id: str
    site: str
    definition_hash: str
    started_at: float
    output_dir: str
    runner: str = ""
    """The runner that launches it (its instance)."""


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """What is recorded once an attempt's process has ended."""

    attempt_id: int
    task: str
    item_id: str
    status: str
    exit_code: int | None
    signal: int | None
    error: str | None
    queue: str
    retry_at: float | None
    retries_used: int
    ended_at: float
    duration_s: float
    launched_at: float | None = None
    """When its process was launched; replaces the recorded start (None: keep it)."""


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One attempt as recorded."""

    id: int
    task: str
    item_id: str
    run_id: str
    site: str
    number: int
    definition_hash: str
    started_at: float
    ended_at: float | None
    status: str | None
    exit_code: int | None
    signal: int | None
    error: str | None
    queue: str | None
    duration_s: float | None
    output_dir: str
    checkpoints: int
    events_read: int
    runner: str = ""
    """The runner that launched it (its instance; empty before several runners could share a site)."""


@dataclass(frozen=True, slots=True)
class MoveRow:
    """One operator move, applied or waiting for the item's attempt to end."""

    id: int
    task: str
    item_id: str
    at: float
    by: str
    from_queue: str
    to_queue: str
    reason: str
    applied_at: float | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One line an attempt appended to its RUNNER_EVENTS file (or an output rule made), parsed."""

    kind: str  # processed | detail | progress | metric | invalid (a line that was not an event)
    value: str  # sub-id, text, number or JSON text
    from_output: bool = False
    """Made by an output rule from the attempt's output: not a line of its events file (the
    count of lines read, which a crash merge resumes after, leaves it out)."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a membership sync changed."""

    total: int = 0
    added: int = 0
    incomplete: int = 0
    completed: int = 0
    left: int = 0
    details: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskRow:
    """What the state keeps about a task between runs."""

    name: str
    site: str
    created: float
    last_modified: float
    last_modified_by: str
    config_hash: str
    status: str
    command: str
    latest_detail: str
    sequence: int
    last_fire: float | None
    last_run_id: str | None


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """A runner process's state for one site, as its heartbeats left it."""

    site: str
    state: str
    pid: int
    host: str
    started_at: float
    heartbeat: float
    items_done: int
    throughput: float
    instance: str = ""
    """The runner's identity within its site (`--instance`; empty: `host:pid`)."""
    epoch: int = 1
    """How many times a runner of this identity started: a late writer of an earlier start is refused."""
    lost_at: float | None = None
    """When a live runner took over what this one left (its lease had expired)."""

    @property
    def name(self) -> str:
        """The runner's identity: its instance name, else `host:pid`."""
        return self.instance or f"{self.host}:{self.pid}"


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """Which items of a task a listing shows; every field that is set must match.

    ``queues``: only these queues (empty: every queue). ``match``: a case-insensitive
    substring of the id or of the last error. ``status``: the last attempt's status.
    ``include_left``: also items that left the group (kept with their history, never run).
    """

    task: str
    queues: tuple[str, ...] = ()
    match: str | None = None
    status: str | None = None
    include_left: bool = False
    sort: str = "listing"
    """One of `ITEM_SORTS`: listing order, or by id, newest update or most attempts first."""


@dataclass(frozen=True, slots=True)
class ControlRow:
    """One halt, pause or resume of a task (runner.domain.brakes actions), as audited."""

    id: int
    task: str
    at: float
    by: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item of a task with what its attempts produced, as `runner report` exports it."""

    item_id: str
    queue: str
    in_group: bool
    last_status: str | None
    last_error: str | None
    attempts: int
    first_start: float | None
    last_start: float | None
    duration_s: float | None
    """The durations of its ended attempts added up."""
    last_end: float | None
    last_move_to: str | None
    """The target of its latest applied operator move (with `last_move_applied`: when)."""
    last_move_applied: float | None
    metrics: Mapping[str, float]
    """Per metric name, the sum over its attempts of each attempt's last value."""


@dataclass(frozen=True, slots=True)
class AttemptTally:
    """The ended attempts of one task with one status: how many, and how long they took."""

    task: str
    status: str
    count: int
    duration_sum: float
    buckets: tuple[tuple[float, int], ...]
    """(bound in seconds, attempts that lasted at most that long), bounds ascending."""


@dataclass(frozen=True, slots=True)
class RunErrors:
    """The items a run left in error queues: the first few (item id, queue, status) and the total."""

    items: tuple[tuple[str, str, str], ...]
    total: int


@dataclass(frozen=True, slots=True)
class RunRequestRow:
    """An operator's `run --now` recorded for the serving runner of a site to start."""

    id: int
    task: str
    site: str
    at: float
    by: str
    taken_at: float | None


@dataclass(frozen=True, slots=True)
class ServingRow:
    """The `runner serve` process serving a site now (recorded at its start, removed at its end)."""

    site: str
    pid: int
    host: str
    since: float
