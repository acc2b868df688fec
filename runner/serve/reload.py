"""Config reload for `runner serve`: noticing changed pipeline files, loading and checking them.

A changed configuration is loaded and checked; an invalid one is logged
(`config.invalid`) and the old one kept. A valid one is recorded in the state
and logged (`config.reloaded`, with the settings that only a restart applies);
the run source reports it and the session applies it: runs opened from then on
use it, runs already going keep the models they were opened with.
"""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path
from typing import Any, Final

from runner.config.loader import load_pipeline, pipeline_files
from runner.config.pipeline import Pipeline
from runner.errors import ConfigError
from runner.schedule.due import site_tasks
from runner.schedule.taskinfo import record_tasks
from runner.state import StateStore

RESTART_SETTINGS: Final = ("state", "logs", "file_mode", "concurrency", "secrets")
"""Settings a running runner cannot change: a reload that changes them says a restart is needed."""


class ConfigWatcher:
    """Notices a change to the pipeline files (content, new or removed files) by their metadata."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen = self.snapshot()

    def snapshot(self) -> tuple[tuple[str, int, int, int], ...]:
        """(file, mtime ns, size, inode) of each pipeline file; empty when none can be listed."""
        try:
            _, files = pipeline_files(self.path)
        except ConfigError:
            return ()
        entries: list[tuple[str, int, int, int]] = []
        for path in files:
            try:
                info = path.stat()
            except OSError:
                entries.append((str(path), -1, -1, -1))
                continue
            entries.append((str(path), info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(entries)

    def changed(self) -> bool:
        """True when the files differ from the last time this was asked (or from creation)."""
        current = self.snapshot()
        if current == self._seen:
            return False
        self._seen = current
        return True


def reload_config(
    path: str | Path,
    old: Pipeline,
    *,
    store: StateStore,
    site: str,
    site_fixed: bool,
    running: Set[str],
    log: Any,
    now: float,
    forced: bool,
) -> Pipeline | None:
    """Load the configuration again: the new pipeline, or None (logged) when it is invalid.

    `running`: the tasks with a run going (logged when their configuration changed).
    """
    reason = "signal" if forced else "files changed"
    try:
        new = load_pipeline(path)
    except ConfigError as exc:
        log.error(
            "config.invalid",
            reason=reason,
            errors=[str(issue) for issue in exc.issues],
            action="the previous configuration stays in use; fix the files to apply them",
        )
        return None
    restart = [
        key for key in RESTART_SETTINGS if getattr(new.settings, key) != getattr(old.settings, key)
    ]
    if not site_fixed and new.settings.site != old.settings.site:
        restart.append("site")
    changed = record_tasks(new, store, now)
    log.info(
        "config.reloaded",
        reason=reason,
        files=[str(f) for f in new.files],
        tasks=len(site_tasks(new, site)),
        changed=changed,
        added=sorted(set(new.tasks) - set(old.tasks)),
        removed=sorted(set(old.tasks) - set(new.tasks)),
        running=sorted(set(running) & set(changed)),
        restart_needed=restart,
    )
    return new
