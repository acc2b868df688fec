"""`runner serve`: stay up, start runs when schedules fire, pick up run-now items, reload config.

SIGTERM/SIGINT stop the runner (running attempts are interrupted and recorded,
open runs are resumed by the next runner); SIGHUP reloads the configuration now.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from runner import exitcodes
from runner.config.loader import load_pipeline
from runner.schedule.due import site_tasks
from runner.schedule.taskinfo import record_tasks
from runner.serve.control import ServeControl
from runner.serve.pruning import FIRST_AFTER, DailyPrune
from runner.serve.reload import ConfigWatcher
from runner.serve.source import ScheduleSource
from runner.session import open_session
from runner.state import ServingRow


def serve(
    path: str | Path,
    *,
    site: str | None = None,
    log_format: str = "auto",
    log_level: str = "info",
    clock: Callable[[], float] = time.time,
    env: Mapping[str, str] | None = None,
    control: ServeControl | None = None,
    prune_after: float = FIRST_AFTER,
    instance: str | None = None,
) -> int:
    """Serve the pipeline at `path` until stopped (SIGTERM/SIGINT or `control.stop()`); the exit code.

    Raises ConfigError when the configuration is invalid at start, LockHeldError when another
    runner holds this site's lock. A stop request ends with exit code 0: interrupted attempts
    and open runs are taken over by the next runner. `settings.retention` is applied
    `prune_after` seconds after the start, then every 24 hours (runner.serve.pruning).
    """
    control = control if control is not None else ServeControl()
    watcher = ConfigWatcher(path)
    pipeline = load_pipeline(path)
    chosen = site or pipeline.settings.site
    runs = 0
    with open_session(
        pipeline,
        site=chosen,
        control=control,
        started={
            "tasks": [],
            "now": False,
            "mode": "serve",
            "serving": len(site_tasks(pipeline, chosen)),
        },
        stopped=lambda: {"exit_code": exitcodes.OK, "runs": runs, "mode": "serve"},
        log_format=log_format,
        log_level=log_level,
        env=env,
        clock=clock,
        instance=instance,
    ) as session:
        record_tasks(pipeline, session.store, clock())
        session.store.mark_serving(ServingRow(chosen, os.getpid(), socket.gethostname(), clock()))
        resume = session.resume_requests()
        source = ScheduleSource(
            path=path,
            pipeline=pipeline,
            store=session.store,
            site=chosen,
            site_fixed=site is not None,
            log=session.log,
            control=control,
            watcher=watcher,
        )
        control.ready.set()
        try:
            with DailyPrune(
                lambda: source.pipeline, session.log, clock=clock, first_after=prune_after
            ):
                runs = len(session.serve(source, resume))
        finally:
            session.store.clear_serving(chosen, os.getpid())
    return exitcodes.OK
