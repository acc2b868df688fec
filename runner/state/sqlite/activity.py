"""What `runner check` reads beyond the other records: when a run last did anything."""

from __future__ import annotations

from runner.state.database import RecordDatabase


class ActivityQueries(RecordDatabase):
    """Read-only questions about whether runs are moving."""

    def run_last_activity(self, run_id: str) -> float | None:
        """The latest instant an attempt or step of the run started or ended (None: none did).

        Every attempt that started has either ended (its end is later) or is still open, so
        the latest end and the latest start of an open attempt cover them all; both read the
        `attempts_run` index, not the run's rows.
        """
        ended = self._db.execute(
            "SELECT max(ended_at) FROM attempts WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        started = self._db.execute(
            "SELECT max(started_at) FROM attempts WHERE run_id = ? AND ended_at IS NULL",
            (run_id,),
        ).fetchone()[0]
        steps = self._db.execute(
            "SELECT max(started_at), max(ended_at) FROM steps WHERE run_id = ?", (run_id,)
        ).fetchone()
        stamps = [float(s) for s in (ended, started, *steps) if s is not None]
        return max(stamps, default=None)
