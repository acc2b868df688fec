"""`run --now` while `runner serve` holds the site: a run-now request through the state.

The requesting process cannot take the lock, so it records one request per task in the
state (who, when) and wakes the serving runner (SIGUSR1); the runner's run source takes
the requests at its next cycle (`runner.serve.source`), opens a `now` run for each, and
logs `run.requested` with who asked. Only a serving runner is asked: a `runner run`
holding the lock never looks for requests, so that case stays a refusal (exit 75).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.domain.timefmt import iso
from runner.errors import TaskHaltedError
from runner.state import RunRequestRow, ServingRow, open_store
from runner.system.fs import file_modes
from runner.system.user import os_user

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class RunNowRequested:
    """A run-now request recorded for the serving runner of the site."""

    request: RunRequestRow
    serving: ServingRow

    def line(self) -> str:
        """What `run --now` prints for it."""
        r, s = self.request, self.serving
        return (
            f"task {r.task}: runner serve (pid {s.pid} on {s.host}) holds site {r.site}; "
            f"run requested by {r.by} at {iso(r.at)}, it starts at the runner's next cycle "
            f"(see: runner status --task {r.task}, runner logs --task {r.task} --follow)"
        )

    def to_json(self) -> dict[str, Any]:
        r, s = self.request, self.serving
        return {
            "task": r.task,
            "site": r.site,
            "by": r.by,
            "at": iso(r.at),
            "serving": {"pid": s.pid, "host": s.host, "since": iso(s.since)},
        }


def request_run_now(
    pipeline: Pipeline,
    *,
    site: str,
    tasks: Sequence[str],
    named: Sequence[str],
    holder_pid: int | None,
    by: str | None = None,
    now: float | None = None,
) -> list[RunNowRequested] | None:
    """Record a run-now request per task for the `runner serve` process `holder_pid` and wake it.

    None when the lock holder is not the site's serving runner (a `runner run`): nothing is
    recorded. A halted or paused task named in `named` raises TaskHaltedError (nothing is
    recorded); one only implied is left out.
    """
    instant = time.time() if now is None else now
    who = by or os_user()
    with file_modes(pipeline.settings.file_mode), open_store(pipeline.state_location) as store:
        serving = store.serving(site)
        if serving is None or holder_pid is None or serving.pid != holder_pid:
            return None
        halts = store.task_halts()
        for name in tasks:
            halt = halts.get(name)
            if halt is not None and name in named:
                raise TaskHaltedError(name, halt.action, halt.by, halt.reason)
        with store.batch():
            recorded = [
                store.request_run(name, site=site, by=who, now=instant)
                for name in tasks
                if name not in halts
            ]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(serving.pid, signal.SIGUSR1)  # it also looks every few seconds by itself
    return [RunNowRequested(request, serving) for request in recorded]
