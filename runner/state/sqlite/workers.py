"""Runner rows: each runner of each site, its heartbeat and its lease.

On a shared database several runners of one site run at once: each registers under its
identity (`instance`) when it starts (its `epoch` counts the starts of that identity), renews
its lease with every heartbeat (`lease_until`, on the database's clock, so hosts' clocks need
not agree), and one whose lease expired is taken over by a live runner (`lost_at`). Every write
transaction of a runner checks first that it still holds its lease (the store's fence).
"""

from __future__ import annotations

from runner.state.database import RecordDatabase
from runner.state.records import WorkerRow

WORKER_COLUMNS = "site, state, pid, host, started_at, heartbeat, items_done, throughput, instance, epoch, lost_at"


class WorkerRecords(RecordDatabase):
    """The runners of each site as their heartbeats left them."""

    def register_runner(self, worker: WorkerRow, *, lease: float) -> int:
        """Record a runner starting under its identity; returns its epoch (1 for a new
        identity, one more than the last start of a known one, whose writes are then refused)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runners (site, instance, state, pid, host, started_at, heartbeat, "
                "lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, db_now() + ?) "
                "ON CONFLICT (site, instance) DO UPDATE SET state = excluded.state, "
                "pid = excluded.pid, host = excluded.host, started_at = excluded.started_at, "
                "heartbeat = excluded.heartbeat, items_done = 0, throughput = 0, "
                "epoch = runners.epoch + 1, lease_until = excluded.lease_until, lost_at = NULL",
                (
                    worker.site,
                    worker.name,
                    worker.state,
                    worker.pid,
                    worker.host,
                    worker.started_at,
                    worker.heartbeat,
                    lease,
                ),
            )
            row = db.execute(
                "SELECT epoch FROM runners WHERE site = ? AND instance = ?",
                (worker.site, worker.name),
            ).fetchone()
        return int(row[0])

    def heartbeat(self, worker: WorkerRow, *, lease: float = 60.0) -> None:
        """Record this runner's state and renew its lease (not fsync-critical)."""
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE runners SET state = ?, pid = ?, host = ?, heartbeat = ?, items_done = ?, "
                "throughput = ?, lease_until = db_now() + ? WHERE site = ? AND instance = ?",
                (
                    worker.state,
                    worker.pid,
                    worker.host,
                    worker.heartbeat,
                    worker.items_done,
                    worker.throughput,
                    lease,
                    worker.site,
                    worker.name,
                ),
            )
            if updated.rowcount == 0:
                self.register_runner(worker, lease=lease)

    def workers(self) -> list[WorkerRow]:
        """Every runner of every site as last recorded."""
        return [
            WorkerRow(*r)
            for r in self._db.execute(
                f"SELECT {WORKER_COLUMNS} FROM runners ORDER BY site, instance"
            )
        ]

    def lease_holder(self, site: str, instance: str) -> tuple[int, float | None] | None:
        """The epoch of the runner `instance` of `site` and when it was taken over (None: never)."""
        row = self._db.execute(
            "SELECT epoch, lost_at FROM runners WHERE site = ? AND instance = ?", (site, instance)
        ).fetchone()
        return (int(row[0]), row[1]) if row else None

    def expired_runners(self, site: str) -> list[WorkerRow]:
        """The runners of `site` to take over, that no live runner has taken over yet: those
        whose lease expired (on the database's clock) without a clean exit, and those that
        exited cleanly leaving runs or attempts open (a stop)."""
        return [
            WorkerRow(*r)
            for r in self._db.execute(
                f"SELECT {WORKER_COLUMNS} FROM runners r WHERE site = ? AND lost_at IS NULL AND "
                "(state <> 'offline' AND lease_until < db_now() OR state = 'offline' AND ("
                "EXISTS (SELECT 1 FROM runs WHERE site = r.site AND owner = r.instance "
                "AND ended_at IS NULL) OR EXISTS (SELECT 1 FROM attempts WHERE site = r.site "
                "AND runner = r.instance AND ended_at IS NULL))) ORDER BY instance",
                (site,),
            )
        ]

    def mark_lost(self, worker: WorkerRow, *, now: float, expired_only: bool) -> bool:
        """Record that a live runner takes over `worker` (this start of it only); False when it
        came back or was taken over meanwhile (`expired_only`: and only while its lease is
        still expired)."""
        with self._transaction() as db:
            expired = " AND (state = 'offline' OR lease_until < db_now())" if expired_only else ""
            cursor = db.execute(
                "UPDATE runners SET lost_at = ?, state = 'offline' WHERE site = ? AND instance = ? "
                f"AND epoch = ? AND lost_at IS NULL{expired}",
                (now, worker.site, worker.name, worker.epoch),
            )
        return cursor.rowcount == 1

    def forget_runners(self, site: str, keep: str) -> None:
        """Drop the rows of the site's runners that were taken over and left nothing open
        (except `keep`'s): they only lengthen `status`."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM runners WHERE site = ? AND instance <> ? AND lost_at IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.site = runners.site "
                "AND a.runner = runners.instance AND a.ended_at IS NULL)",
                (site, keep),
            )
