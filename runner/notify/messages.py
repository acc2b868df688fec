"""Which log events make which notifications, and their words.

Notifications are driven by the runner's own log events (as written: masked), so nothing in
the engine knows about them: `run.finished` (failed; items in error queues), `task.halted`,
`runner.offline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from runner.domain.runs import RUN_FAILED

SOURCE_EVENTS: Final = frozenset({"run.finished", "task.halted", "runner.offline"})
"""The log events notifications are made from."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One message: what triggered it (a `settings.notify` event name), its title and body."""

    kind: str
    title: str
    body: str


def notifications(event: Mapping[str, Any]) -> list[Notification]:
    """The notifications one log event makes (none for most)."""
    name = event.get("event")
    if name == "run.finished":
        return _run_finished(event)
    if name == "task.halted":
        task, reason = event.get("task", "?"), event.get("reason", "")
        return [
            Notification(
                "task-halted",
                f"runner: task {task} halted",
                f"Task {task} was halted: {reason}\nNo new item starts until it is resumed.",
            )
        ]
    if name == "runner.offline":
        site = event.get("offline_site", "?")
        return [
            Notification(
                "runner-offline",
                f"runner: the runner of site {site} is offline",
                f"The runner of site {site} (host {event.get('host', '?')}, pid "
                f"{event.get('pid', '?')}) is offline: {event.get('reason', '')}. Its last "
                f"heartbeat: {event.get('last_heartbeat', '?')}.\nSee: runner status",
            )
        ]
    return []


def _run_finished(event: Mapping[str, Any]) -> list[Notification]:
    task, run_id = event.get("task", "?"), event.get("run_id", "?")
    found: list[Notification] = []
    if event.get("status") == RUN_FAILED:
        found.append(
            Notification(
                "run-failed",
                f"runner: run of {task} failed",
                f"Run {run_id} of task {task} failed: {event.get('message', '')}\n"
                f"See: runner logs --run {run_id} --level warning",
            )
        )
    total = event.get("error_items") or 0
    if isinstance(total, int) and total > 0:
        listed = [e for e in event.get("error_sample") or [] if isinstance(e, Mapping)]
        lines = [f"- {e.get('id')}: {e.get('queue')} ({e.get('status')})" for e in listed]
        if total > len(listed):
            lines.append(f"... and {total - len(listed)} more")
        found.append(
            Notification(
                "error-items",
                f"runner: {total} items of {task} ended in error queues",
                f"Run {run_id} of task {task} left {total} items in error queues:\n"
                + "\n".join(lines)
                + f"\nSee: runner items --task {task} --category error",
            )
        )
    return found
