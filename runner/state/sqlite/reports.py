"""Read-only report queries over the state file, for the operators' verbs.

Each query is shaped to use the schema's indexes, so it stays fast on a task of 100,000
items with 1,000,000 attempts: `items_queue (task, queue, entered_at)` for listings and
counts by queue, `attempts_item`/`moves_item` for one item's history, `runs_task` for a
task's runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.domain import dispatch
from runner.domain import queues as q
from runner.state.database import RecordDatabase
from runner.state.records import LISTING_ORDER, ItemQuery, ItemRow, RunRow
from runner.state.sqlite.items import ITEM_COLUMNS, item_from_row
from runner.state.sqlite.runs import RUN_COLUMNS


def _filters(query: ItemQuery) -> tuple[str, list[object]]:
    """The WHERE conditions after `task = ? AND queue = ?` (they start with ' AND')."""
    sql = ""
    args: list[object] = []
    if not query.include_left:
        sql += " AND in_group = 1"
    if query.match:
        sql += (
            " AND (instr(lower(item_id), lower(?)) > 0"
            " OR instr(lower(coalesce(last_error, '')), lower(?)) > 0)"
        )
        args += [query.match, query.match]
    if query.status:
        sql += " AND last_status = ?"
        args.append(query.status)
    return sql, args


_SORTS = {"id": "item_id", "updated": "updated DESC", "attempts": "attempts DESC"}
"""The ORDER BY of each ITEM_SORTS name but `listing`."""


def _queues(query: ItemQuery) -> list[str]:
    wanted = set(query.queues) if query.queues else set(q.ALL_QUEUES)
    return [name for name in LISTING_ORDER if name in wanted]


class ReportQueries(RecordDatabase):
    """What the operator verbs read; nothing here writes."""

    def count_items_by_queue(self, query: ItemQuery) -> dict[str, int]:
        """How many items of the query each of its queues holds (queues without items left out)."""
        conditions, args = _filters(query)
        counts: dict[str, int] = {}
        for queue in _queues(query):
            row = self._db.execute(
                "SELECT count(*) FROM items WHERE task = ? AND queue = ?" + conditions,
                (query.task, queue, *args),
            ).fetchone()
            if row[0]:
                counts[queue] = int(row[0])
        return counts

    def page_items(
        self,
        query: ItemQuery,
        *,
        limit: int | None,
        offset: int = 0,
        counts: dict[str, int] | None = None,
    ) -> list[ItemRow]:
        """One page of the query's items, in listing order.

        With `query.sort` other than `listing`, the order it names (`ITEM_SORTS`).
        Listing order: queue by queue in `LISTING_ORDER` (dispatch rank, then the SPEC order of
        the other queues), first in first out inside a queue (the time the item entered it).
        Each queue is read through the (task, queue, entered_at) index, and whole queues
        before `offset` are skipped by their counts, so a page costs what it shows.
        `limit` None: every item from `offset` on.
        """
        if query.sort != "listing":
            return self._page_sorted(query, limit=limit, offset=offset)
        if counts is None:
            counts = self.count_items_by_queue(query)
        conditions, args = _filters(query)
        rows: list[ItemRow] = []
        skip = max(0, offset)
        for queue in _queues(query):
            if limit is not None and len(rows) >= limit:
                break
            available = counts.get(queue, 0)
            if skip >= available:
                skip -= available
                continue
            want = -1 if limit is None else limit - len(rows)
            cursor = self._db.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE task = ? AND queue = ?{conditions} "
                "ORDER BY entered_at, rowid LIMIT ? OFFSET ?",
                (query.task, queue, *args, want, skip),
            )
            rows.extend(item_from_row(r) for r in cursor)
            skip = 0
        return rows

    def _page_sorted(self, query: ItemQuery, *, limit: int | None, offset: int) -> list[ItemRow]:
        """A page in another order than the listing's: one statement over the chosen queues
        (by id it walks the primary key; by update time or attempts it sorts the matches)."""
        conditions, args = _filters(query)
        queues = _queues(query)
        if not queues:
            return []
        cursor = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE task = ? "
            f"AND queue IN ({', '.join('?' * len(queues))}){conditions} "
            f"ORDER BY {_SORTS[query.sort]}, rowid LIMIT ? OFFSET ?",
            (query.task, *queues, *args, -1 if limit is None else limit, max(0, offset)),
        )
        return [item_from_row(r) for r in cursor]

    def find_items(self, task: str, item_ids: Sequence[str]) -> dict[str, ItemRow]:
        """The rows of these items of a task that exist, by id."""
        found: dict[str, ItemRow] = {}
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE task = ? AND item_id IN ({marks})",
                (task, *chunk),
            ):
                item = item_from_row(row)
                found[item.item_id] = item
        return found

    def item_ids_in_queue(self, task: str, queue: str) -> list[str]:
        """Every item id of a task in one queue (members that left the group included), FIFO."""
        return [
            str(r[0])
            for r in self._db.execute(
                "SELECT item_id FROM items WHERE task = ? AND queue = ? ORDER BY entered_at, rowid",
                (task, queue),
            )
        ]

    def running_attempts(self) -> list[tuple[str, int, str, str]]:
        """(task, attempt id, site, runner) of every item with an open attempt."""
        return [
            (str(task), int(attempt_id), str(site), str(runner))
            for task, attempt_id, site, runner in self._db.execute(
                "SELECT i.task, i.running_attempt, a.site, a.runner FROM items i "
                "JOIN attempts a ON a.id = i.running_attempt WHERE i.running_attempt IS NOT NULL"
            )
        ]

    def open_run(self, task: str) -> RunRow | None:
        """The task's run that has not ended (at most one is ever open), or None."""
        row = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE task = ? AND ended_at IS NULL "
            "ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (task,),
        ).fetchone()
        return RunRow(*row) if row else None

    def items_ahead(self, item: ItemRow, *, now: float, in_schedule: bool) -> int:
        """How many waiting items of the item's task would be dispatched before it.

        Counts items that are in the group, not running, eligible now (`dispatch.eligible`) and
        earlier in dispatch order: a queue of higher priority, or the same queue entered earlier.
        """
        rank = dispatch.dispatch_rank(item.queue)
        total = 0
        for queue in q.DISPATCH_ORDER[: rank + 1]:
            if not dispatch.eligible(queue, None, now, in_schedule):
                continue
            sql = (
                "SELECT count(*) FROM items WHERE task = ? AND queue = ? AND in_group = 1 "
                "AND running_attempt IS NULL"
            )
            args: list[object] = [item.task, queue]
            if queue == q.RETRY:
                sql += " AND (retry_at IS NULL OR retry_at <= ?)"
                args.append(now)
            if queue == item.queue:
                sql += (
                    " AND (entered_at < ? OR (entered_at = ? AND rowid < "
                    "(SELECT rowid FROM items WHERE task = ? AND item_id = ?)))"
                )
                args += [item.entered_at, item.entered_at, item.task, item.item_id]
            total += int(self._db.execute(sql, args).fetchone()[0])
        return total

    def processed_by_attempt(self, task: str, item_id: str) -> dict[int, int]:
        """How many sub-ids (checkpoints) each attempt of an item announced first."""
        return {
            int(attempt): int(n)
            for attempt, n in self._db.execute(
                "SELECT attempt_id, count(*) FROM processed WHERE task = ? AND item_id = ? "
                "GROUP BY attempt_id",
                (task, item_id),
            )
        }
