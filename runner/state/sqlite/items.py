"""Item rows: group membership, dispatch order, counts by queue."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from runner.domain import queues as q
from runner.state.database import RecordDatabase
from runner.state.records import ItemRow, SyncReport

ITEM_COLUMNS = (
    "task, item_id, queue, entered_at, attributes, in_group, missing, attempts, retries_used, "
    "last_status, last_error, retry_at, running_attempt, pending_queue, updated"
)


def item_from_row(row: tuple[Any, ...]) -> ItemRow:
    """An item read with `ITEM_COLUMNS`, as a record."""
    (
        task,
        item_id,
        queue,
        entered_at,
        attributes,
        in_group,
        missing,
        attempts,
        retries_used,
        last_status,
        last_error,
        retry_at,
        running_attempt,
        pending_queue,
        updated,
    ) = row
    return ItemRow(
        task=task,
        item_id=item_id,
        queue=queue,
        entered_at=entered_at,
        attributes=json.loads(attributes),
        in_group=bool(in_group),
        missing=tuple(m for m in missing.split(",") if m),
        attempts=attempts,
        retries_used=retries_used,
        last_status=last_status,
        last_error=last_error,
        retry_at=retry_at,
        running_attempt=running_attempt,
        pending_queue=pending_queue,
        updated=updated,
    )


class ItemRecords(RecordDatabase):
    """Each task's items and the queue each one waits in."""

    def sync_members(
        self,
        task: str,
        members: Iterable[tuple[str, str, str]],
        *,
        now: float,
    ) -> SyncReport:
        """Bring the task's items in line with its group.

        `members` yields (item id, attributes as JSON, missing required attributes comma-joined).
        New members enter `unattempted` (or `incomplete` when attributes are missing);
        `incomplete` items whose attributes arrived move to `unattempted`; waiting items that
        lost a required attribute move to `incomplete`; members that left are flagged, not
        deleted (their history stays); `trash` and `incorrect-format` never come back.
        """
        with self._transaction() as db:
            db.execute("DROP TABLE IF EXISTS temp.incoming")
            db.execute(
                "CREATE TEMP TABLE incoming (item_id TEXT PRIMARY KEY, attributes TEXT, missing TEXT, "
                "pos INTEGER) WITHOUT ROWID"
            )
            db.executemany(
                "INSERT INTO temp.incoming VALUES (?, ?, ?, ?)",
                (
                    (item_id, attrs, missing, pos)
                    for pos, (item_id, attrs, missing) in enumerate(members)
                ),
            )
            total = int(db.execute("SELECT count(*) FROM temp.incoming").fetchone()[0])
            left = db.execute(
                "UPDATE items SET in_group = 0, updated = ? WHERE task = ? AND in_group = 1 "
                "AND item_id NOT IN (SELECT item_id FROM temp.incoming)",
                (now, task),
            ).rowcount
            db.execute(
                "UPDATE items SET in_group = 1, "
                "attributes = (SELECT attributes FROM temp.incoming i WHERE i.item_id = items.item_id), "
                "missing = (SELECT missing FROM temp.incoming i WHERE i.item_id = items.item_id) "
                "WHERE task = ? AND item_id IN (SELECT item_id FROM temp.incoming)",
                (task,),
            )
            completed = db.execute(
                "UPDATE items SET queue = ?, entered_at = ?, updated = ? "
                "WHERE task = ? AND queue = ? AND missing = '' AND in_group = 1",
                (q.UNATTEMPTED, now, now, task, q.INCOMPLETE),
            ).rowcount
            waiting = tuple(q.DISPATCH_ORDER)
            db.execute(
                f"UPDATE items SET queue = ?, entered_at = ?, updated = ?, pending_queue = NULL "
                f"WHERE task = ? AND missing != '' AND running_attempt IS NULL "
                f"AND queue IN ({', '.join('?' * len(waiting))})",
                (q.INCOMPLETE, now, now, task, *waiting),
            )
            added = db.execute(
                "INSERT INTO items (task, item_id, queue, entered_at, attributes, missing, updated) "
                "SELECT ?, i.item_id, CASE WHEN i.missing = '' THEN ? ELSE ? END, ? + i.pos * 1e-9, "
                "i.attributes, i.missing, ? FROM temp.incoming i "
                "WHERE NOT EXISTS (SELECT 1 FROM items t WHERE t.task = ? AND t.item_id = i.item_id) "
                "ORDER BY i.pos",
                (task, q.UNATTEMPTED, q.INCOMPLETE, now, now, task),
            ).rowcount
            incomplete = int(
                db.execute(
                    "SELECT count(*) FROM items WHERE task = ? AND queue = ? AND in_group = 1",
                    (task, q.INCOMPLETE),
                ).fetchone()[0]
            )
            db.execute("DROP TABLE temp.incoming")
        return SyncReport(
            total=total, added=added, incomplete=incomplete, completed=completed, left=left
        )

    # -- items ---------------------------------------------------------------

    def item(self, task: str, item_id: str) -> ItemRow | None:
        """One item of a task."""
        row = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE task = ? AND item_id = ?", (task, item_id)
        ).fetchone()
        return item_from_row(row) if row else None

    def eligible_items(
        self,
        task: str,
        *,
        now: float,
        in_schedule: bool,
        limit: int,
        exclude: Mapping[str, Collection[str]] | None = None,
    ) -> list[ItemRow]:
        """Items to dispatch next, in SPEC §3 order: run-now, rescheduled, retry (due), unattempted; FIFO.

        One statement: each queue's part walks the (task, queue, entered_at) index and stops at
        `limit`, so the cost does not grow with the number of waiting items. `exclude` (full
        limits) also skips the items it names, which the walk then steps over.
        """
        parts = []
        args: list[object] = []
        held, held_args = _excluded(exclude or {})
        for rank, queue in enumerate(q.DISPATCH_ORDER):
            if queue != q.RUN_NOW and not in_schedule:
                continue
            due = " AND (retry_at IS NULL OR retry_at <= ?)" if queue == q.RETRY else ""
            parts.append(
                f"SELECT * FROM (SELECT {rank} AS rank, rowid AS rid, {ITEM_COLUMNS} FROM items "
                f"WHERE task = ? AND queue = ? AND in_group = 1 AND running_attempt IS NULL{due}"
                f"{held} ORDER BY entered_at, rowid LIMIT ?)"
            )
            args += [task, queue, *([now] if due else []), *held_args, limit]
        sql = " UNION ALL ".join(parts) + " ORDER BY rank, entered_at, rid LIMIT ?"
        return [item_from_row(r[2:]) for r in self._db.execute(sql, [*args, limit])]

    def running_attributes(self, task: str) -> list[dict[str, str]]:
        """The attributes of the task's items with an open attempt (the `items_running` index)."""
        rows = self._db.execute(
            "SELECT attributes FROM items WHERE task = ? AND running_attempt IS NOT NULL", (task,)
        )
        return [json.loads(text) for (text,) in rows]

    def count_claimed(self, task: str) -> int:
        """How many of the task's items have an open attempt, on any runner (`items_running`)."""
        row = self._db.execute(
            "SELECT count(*) FROM items WHERE task = ? AND running_attempt IS NOT NULL", (task,)
        ).fetchone()
        return int(row[0])

    def next_retry_at(self, task: str) -> float | None:
        """When the earliest waiting retry of a task becomes due."""
        row = self._db.execute(
            "SELECT min(retry_at) FROM items WHERE task = ? AND queue = ? AND in_group = 1 "
            "AND running_attempt IS NULL",
            (task, q.RETRY),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def count_waiting(self, task: str, queues: Sequence[str]) -> int:
        """How many in-group, not running items of a task wait in these queues."""
        row = self._db.execute(
            f"SELECT count(*) FROM items WHERE task = ? AND in_group = 1 AND running_attempt IS NULL "
            f"AND queue IN ({', '.join('?' * len(queues))})",
            (task, *queues),
        ).fetchone()
        return int(row[0])

    def has_waiting(self, task: str, queue: str) -> bool:
        """At least one in-group, not running item of a task waits in `queue`."""
        found = self._db.execute(
            "SELECT 1 FROM items WHERE task = ? AND queue = ? AND in_group = 1 "
            "AND running_attempt IS NULL LIMIT 1",
            (task, queue),
        ).fetchone()
        return found is not None

    def queue_counts(self, task: str) -> dict[str, int]:
        """Number of items of a task (still in its group) in each queue."""
        return {
            str(queue): int(count)
            for queue, count in self._db.execute(
                "SELECT queue, count(*) FROM items WHERE task = ? AND in_group = 1 GROUP BY queue",
                (task,),
            )
        }

    def list_items(
        self,
        task: str,
        *,
        queues: Sequence[str] = (),
        match: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ItemRow]:
        """Items of a task, filtered, ordered by queue entry (oldest first)."""
        sql = f"SELECT {ITEM_COLUMNS} FROM items WHERE task = ?"
        args: list[object] = [task]
        if queues:
            sql += f" AND queue IN ({', '.join('?' * len(queues))})"
            args.extend(queues)
        if match:
            sql += " AND (instr(lower(item_id), lower(?)) > 0 OR instr(lower(coalesce(last_error, '')), lower(?)) > 0)"
            args.extend([match, match])
        if status:
            sql += " AND last_status = ?"
            args.append(status)
        sql += " ORDER BY entered_at, rowid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args.extend([limit, offset])
        return [item_from_row(r) for r in self._db.execute(sql, args)]


def _excluded(exclude: Mapping[str, Collection[str]]) -> tuple[str, list[object]]:
    """The SQL condition (and its arguments) leaving out items whose attribute value is in
    `exclude` (an item without the attribute has the value '')."""
    sql = ""
    args: list[object] = []
    for attribute, values in sorted(exclude.items()):
        if not values:
            continue
        sql += (
            " AND coalesce(json_extract(attributes, ?), '') "
            f"NOT IN ({', '.join('?' * len(values))})"
        )
        args += ['$."' + attribute + '"', *sorted(values)]
    return sql, args
