"""Group membership as the state holds it: the ids now in a task's group."""

from __future__ import annotations

from runner.state.database import RecordDatabase


class MemberRecords(RecordDatabase):
    """Which items are members of a task's group now (read before a sync is applied)."""

    def group_members(self, task: str) -> frozenset[str]:
        """The ids of the task's items that are in its group now (those that left are not)."""
        rows = self._db.execute(
            "SELECT item_id FROM items WHERE task = ? AND in_group = 1", (task,)
        )
        return frozenset(row[0] for row in rows)
