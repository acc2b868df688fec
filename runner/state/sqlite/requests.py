"""Run-now requests for a serving runner, and which `runner serve` process serves each site."""

from __future__ import annotations

from runner.state.database import RecordDatabase
from runner.state.records import RunRequestRow, ServingRow

_COLUMNS = "id, task, site, at, by, taken_at"


class RequestRecords(RecordDatabase):
    """`run --now` asked of a serving runner through the state, and who serves each site.

    A state file opened read-only may predate these tables: it then holds none.
    """

    _requests_known = False

    def _has_requests(self) -> bool:
        if not self._requests_known:
            self._requests_known = (
                self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_requests'"
                ).fetchone()
                is not None
            )
        return self._requests_known

    def request_run(self, task: str, *, site: str, by: str, now: float) -> RunRequestRow:
        """Record a run-now request (a pending one of the same task is returned instead)."""
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM run_requests WHERE task = ? AND site = ? "
                "AND taken_at IS NULL ORDER BY id LIMIT 1",
                (task, site),
            ).fetchone()
            if row is not None:
                return RunRequestRow(*row)
            cursor = db.execute(
                "INSERT INTO run_requests (task, site, at, by) VALUES (?, ?, ?, ?)",
                (task, site, now, by),
            )
            return RunRequestRow(int(cursor.lastrowid or 0), task, site, now, by, None)

    def pending_run_requests(self, site: str) -> list[RunRequestRow]:
        """The site's requests not taken yet, oldest first."""
        if not self._has_requests():
            return []
        return [
            RunRequestRow(*row)
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM run_requests WHERE site = ? AND taken_at IS NULL "
                "ORDER BY id",
                (site,),
            )
        ]

    def take_run_request(self, request_id: int, now: float) -> None:
        """Mark a request as taken (its run is being opened)."""
        with self._transaction() as db:
            db.execute("UPDATE run_requests SET taken_at = ? WHERE id = ?", (now, request_id))

    def mark_serving(self, serving: ServingRow) -> None:
        """Record the process serving a site (replacing an earlier one's record)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO serving (site, pid, host, since) VALUES (?, ?, ?, ?)",
                (serving.site, serving.pid, serving.host, serving.since),
            )

    def clear_serving(self, site: str, pid: int) -> None:
        """Forget that process `pid` serves the site (it is stopping)."""
        with self._transaction() as db:
            db.execute("DELETE FROM serving WHERE site = ? AND pid = ?", (site, pid))

    def serving(self, site: str) -> ServingRow | None:
        """The `runner serve` process recorded as serving the site, if any."""
        if not self._has_requests():
            return None
        row = self._db.execute(
            "SELECT site, pid, host, since FROM serving WHERE site = ?", (site,)
        ).fetchone()
        return ServingRow(*row) if row is not None else None
