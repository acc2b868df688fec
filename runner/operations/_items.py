"""`runner items`: a task's items, filtered and paged in listing order."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.domain import queues as q
from runner.domain.timefmt import iso
from runner.errors import UsageError
from runner.operations._common import check_queue_name, check_task, open_read
from runner.operations._metrics import metrics_json
from runner.state import ITEM_SORTS, ItemQuery, ItemRow, UnderWay, read_under_way

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

DEFAULT_LIMIT = 100
"""Rows `runner items` shows on a terminal table unless `--limit` says otherwise."""


@dataclass(frozen=True, slots=True)
class ItemEntry:
    """One item as `runner items` lists it."""

    id: str
    queue: str
    attempts: int
    status: str | None
    last_error: str | None
    updated: float
    entered: float
    retry_at: float | None
    running: bool
    about_to_launch: bool
    """Its attempt is recorded ahead of a free slot, not launched yet."""
    pending_queue: str | None
    in_group: bool
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Per metric name, the sum over its attempts of each attempt's last value."""

    @classmethod
    def of(
        cls, row: ItemRow, under_way: UnderWay, metrics: Mapping[str, float] | None = None
    ) -> ItemEntry:
        """The entry of a state row."""
        open_attempt = row.running_attempt
        launched = open_attempt is not None and under_way.launched(open_attempt)
        return cls(
            id=row.item_id,
            queue=row.queue,
            attempts=row.attempts,
            status=row.last_status,
            last_error=row.last_error,
            updated=row.updated,
            entered=row.entered_at,
            retry_at=row.retry_at,
            running=launched,
            about_to_launch=open_attempt is not None and not launched,
            pending_queue=row.pending_queue,
            in_group=row.in_group,
            metrics=metrics or {},
        )

    def to_json(self) -> dict[str, Any]:
        """One element of `items --json`."""
        return {
            "id": self.id,
            "queue": self.queue,
            "attempts": self.attempts,
            "status": self.status,
            "last_error": self.last_error,
            "updated": iso(self.updated),
            "entered": iso(self.entered),
            "retry_at": iso(self.retry_at),
            "running": self.running,
            "about_to_launch": self.about_to_launch,
            "pending_queue": self.pending_queue,
            "in_group": self.in_group,
            "metrics": metrics_json(self.metrics),
        }


@dataclass(frozen=True, slots=True)
class ItemsPage:
    """A page of `runner items`: `total` items match, `items` are those from `offset` on."""

    task: str
    total: int
    offset: int
    limit: int | None
    items: list[ItemEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def items(
    pipeline: Pipeline,
    task: str,
    *,
    queues: Sequence[str] = (),
    category: str | None = None,
    match: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    include_left: bool = False,
    sort: str = "listing",
) -> ItemsPage:
    """The task's items that match, in listing order (`runner.state.LISTING_ORDER`, FIFO in a queue).

    `queues` and `category` narrow the queues (both: their intersection); `match` is a
    case-insensitive substring of the id or last error; `status` the last status; `limit`
    None shows every item. Items that left the group are left out unless `include_left`.
    `sort` (`runner.state.ITEM_SORTS`): `listing`, or by `id`, newest `updated` first, or most
    `attempts` first.
    """
    if sort not in ITEM_SORTS:
        raise UsageError(f"unknown sort '{sort}'; sorts are: {', '.join(ITEM_SORTS)}")
    for name in queues:
        check_queue_name(name)
    if category is not None and category not in q.CATEGORIES:
        close = difflib.get_close_matches(category, q.CATEGORIES, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UsageError(
            f"unknown category '{category}'; {hint}categories are: {', '.join(q.CATEGORIES)}"
        )
    if (limit is not None and limit < 0) or offset < 0:
        raise UsageError("--limit and --offset take a number of items, 0 or more")
    chosen = tuple(dict.fromkeys(queues)) or q.ALL_QUEUES
    if category is not None:
        chosen = tuple(name for name in chosen if q.CATEGORY[name] == category)
    store = open_read(pipeline)
    try:
        check_task(pipeline, store, task)
        if store is None or not chosen:
            return ItemsPage(task, 0, offset, limit)
        query = ItemQuery(
            task=task,
            queues=chosen,
            match=match,
            status=status,
            include_left=include_left,
            sort=sort,
        )
        counts = store.count_items_by_queue(query)
        rows = store.page_items(query, limit=limit, offset=offset, counts=counts)
        under_way = read_under_way(store)
        metrics = store.metrics_of_items(task, [r.item_id for r in rows])
        entries = [ItemEntry.of(r, under_way, metrics.get(r.item_id)) for r in rows]
        return ItemsPage(task, sum(counts.values()), offset, limit, entries, counts)
    finally:
        if store is not None:
            store.close()
