"""Worker rows: each site's runner and its heartbeat."""

from __future__ import annotations

from runner.state.database import RecordDatabase
from runner.state.records import WorkerRow


class WorkerRecords(RecordDatabase):
    """The runners of each site as their heartbeats left them."""

    def heartbeat(self, worker: WorkerRow) -> None:
        """Record this runner's state for its site (not fsync-critical: NORMAL durability is enough)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO workers (site, state, pid, host, started_at, heartbeat, items_done, "
                "throughput) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    worker.site,
                    worker.state,
                    worker.pid,
                    worker.host,
                    worker.started_at,
                    worker.heartbeat,
                    worker.items_done,
                    worker.throughput,
                ),
            )

    def workers(self) -> list[WorkerRow]:
        """Every site's last known runner."""
        return [
            WorkerRow(*r)
            for r in self._db.execute(
                "SELECT site, state, pid, host, started_at, heartbeat, items_done, throughput FROM workers "
                "ORDER BY site"
            )
        ]
