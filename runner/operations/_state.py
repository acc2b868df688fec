"""`runner state check|recover|backup`: the state file looked after by hand.

`check` reads the file and says what is wrong with it; `backup` writes a consistent copy
while runners work; `recover` writes every readable row into a new file beside the damaged
one (which it keeps) and says what it kept and what it lost. None of them changes the
state file itself.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import StateError
from runner.state import (
    CheckDepth,
    DatabaseUrl,
    Salvage,
    check_sqlite_file,
    open_existing,
    open_store,
    salvage_sqlite_state,
)
from runner.system.fs import file_modes
from runner.system.lock import RunnerLock, lock_path_for

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


@dataclass(frozen=True)
class StateCheck:
    """What a check of the state file found."""

    path: Path | DatabaseUrl
    depth: CheckDepth
    problems: list[str]

    @property
    def sound(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "depth": self.depth,
            "sound": self.sound,
            "problems": self.problems,
        }


def _existing_state(pipeline: Pipeline) -> Path:
    location = pipeline.state_location
    if isinstance(location, DatabaseUrl):
        raise StateError(
            f"the state lives in the database {location}; this works on a SQLite state file "
            "only: back the database up with pg_dump and restore it with pg_restore "
            "(`runner state copy` copies it into a SQLite file)"
        )
    path = location
    if not path.exists():
        raise StateError(
            f"no state file at {path}: nothing has run yet with this pipeline "
            "(run `runner run` first, or check `settings.state`)"
        )
    return path


def check_state(pipeline: Pipeline, *, depth: CheckDepth = "full") -> StateCheck:
    """Check the pipeline's state read-only (safe while a runner works).

    A database is checked for its schema version (the server looks after its own pages).
    """
    location = pipeline.state_location
    if isinstance(location, DatabaseUrl):
        store = open_existing(location)
        if store is None:
            raise StateError(
                f"the database {location} holds no runner state yet: nothing has run with "
                "this pipeline (run `runner run` first, or check `settings.state`)"
            )
        store.close()
        return StateCheck(location, "schema", [])
    path = _existing_state(pipeline)
    return StateCheck(path, depth, check_sqlite_file(path, depth))


def backup_state(pipeline: Pipeline, target: Path) -> Path:
    """Write a consistent copy of the state to the new file `target` (safe while runners work)."""
    path = _existing_state(pipeline)
    with file_modes(pipeline.settings.file_mode), open_store(path, readonly=True) as store:
        store.copy_to(target)
    return target


def recover_state(pipeline: Pipeline, target: Path | None = None) -> Salvage:
    """Copy every readable row of the state into a new file beside it; the original is kept.

    Refuses (LockHeldError, exit 75) while any runner holds the state, and holds every
    site's lock itself while it reads, so none starts meanwhile.
    """
    path = _existing_state(pipeline)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = target or path.with_name(f"{path.name}.recovered-{stamp}")
    with file_modes(pipeline.settings.file_mode), ExitStack() as locks:
        for lock_path in _lock_paths(pipeline, path):
            locks.enter_context(RunnerLock(lock_path))
        return salvage_sqlite_state(path, target)


def _lock_paths(pipeline: Pipeline, path: Path) -> list[Path]:
    """The lock of every site that has run on this state, and of every site the pipeline names."""
    sites = {pipeline.settings.site, *(pipeline.task_site(t) for t in pipeline.tasks)}
    paths = {lock_path_for(path, site) for site in sites}
    paths.update(path.parent.glob(f"{path.name}.*.lock"))
    return sorted(paths)
