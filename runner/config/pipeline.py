"""One pipeline file (`PipelineFile`) and the loaded, merged pipeline (`Pipeline`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.config.definitions import Definition
from runner.config.fields import Name, suggest
from runner.config.groups import Group
from runner.config.policies import Policy
from runner.config.schedules import Schedule
from runner.config.settings import Settings
from runner.config.state_location import (
    DATABASE_SIDE_FILES,
    DatabaseUrl,
    StateLocation,
    is_database_url,
)
from runner.config.tasks import Task
from runner.errors import Location, UsageError


def _section(description: str) -> Any:
    """A name -> model section of a pipeline file; names must match NAME_PATTERN."""
    return Field(default_factory=dict, description=description)


class PipelineFile(BaseModel):
    """One pipeline YAML file. A pipeline directory's files are merged into one namespace."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="Pipeline file",
    )

    version: Literal[1] = Field(description="The format version; must be 1.")
    settings: Settings | None = Field(
        default=None,
        description="Runner-wide settings; at most one file of a pipeline may set them.",
    )
    schedules: dict[Name, Schedule] = _section("Named schedules tasks can start on.")
    groups: dict[Name, Group] = _section("Named groups of items tasks work on.")
    definitions: dict[Name, Definition] = _section("Named definitions of what to do for one item.")
    policies: dict[Name, Policy] = _section("Named policies: what happens after a failed attempt.")
    tasks: dict[Name, Task] = _section(
        "Named tasks, each tying a definition to a group, on a schedule, with a policy."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("version must be the number 1")
        return value


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: every file merged, every reference checked; see `load_pipeline`."""

    root: Path
    """The pipeline directory (a single file's parent); relative paths are resolved against it."""
    files: tuple[Path, ...]
    """The files read, in the order they were read."""
    settings: Settings
    schedules: Mapping[str, Schedule]
    groups: Mapping[str, Group]
    definitions: Mapping[str, Definition]
    policies: Mapping[str, Policy]
    tasks: Mapping[str, Task]
    origins: Mapping[tuple[str, str], Location] = field(default_factory=dict)
    """Where each (section, name) was defined."""

    def origin(self, section: str, name: str) -> Location:
        """Where `name` of `section` was defined (a location without a file if unknown)."""
        found = self.origins.get((section, name))
        return found if found is not None else Location(key_path=f"{section}.{name}")

    def resolve_path(self, rel: str) -> Path:
        """`rel` relative to the pipeline directory; an absolute path is kept as it is."""
        path = Path(rel)
        return path if path.is_absolute() else self.root / path

    @property
    def state_location(self) -> StateLocation:
        """Where the resume state lives: the SQLite file, or the PostgreSQL database `settings.state` names."""
        if is_database_url(self.settings.state):
            return DatabaseUrl(self.settings.state, self.resolve_path(DATABASE_SIDE_FILES))
        return self.resolve_path(self.settings.state)

    @property
    def state_file(self) -> Path:
        """The local path naming the state: the SQLite file (`settings.state`, relative to the
        pipeline directory), or for a database the path its per-host side files are named after."""
        location = self.state_location
        return location.side if isinstance(location, DatabaseUrl) else location

    @property
    def logs_dir(self) -> Path:
        """Where JSON logs and attempt outputs go (`settings.logs`, relative to the pipeline directory)."""
        return self.resolve_path(self.settings.logs)

    def task(self, task_name: str) -> Task:
        """The task called `task_name`; UsageError naming the nearest task if there is none."""
        try:
            return self.tasks[task_name]
        except KeyError:
            names = sorted(self.tasks)
            known = ", ".join(names) if names else "none"
            raise UsageError(
                f"no task {task_name!r} in this pipeline (tasks: {known})"
                f"{suggest(task_name, names)}"
            ) from None

    def task_site(self, task_name: str) -> str:
        """The site the task runs on: its own `site`, else `settings.site`."""
        site = self.task(task_name).site
        return site if site is not None else self.settings.site

    def policy_for(self, task_name: str) -> Policy:
        """The task's named policy, or the default `Policy()` when it names none."""
        name = self.task(task_name).policy
        return self.policies[name] if name is not None else Policy()
