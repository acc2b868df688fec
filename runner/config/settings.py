"""The `settings` section: where state and logs live, this runner's site and its caps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from runner.config.durations import Duration, PositiveDuration
from runner.config.fields import STRICT, EnvName, Name
from runner.config.notify import NotifyRule
from runner.config.retention import Retention
from runner.config.state_location import is_database_url, url_problem


class Settings(BaseModel):
    """Runner-wide settings: where state and logs live, this runner's site and its caps.

    At most one file of a pipeline may carry `settings`; paths are relative to the pipeline
    directory.
    """

    model_config = STRICT

    state: str = Field(
        default=".runner/state.db",
        min_length=1,
        description="Where the resume state lives: a SQLite file, relative to the pipeline "
        "directory; or a PostgreSQL database, as a libpq URL "
        "`postgresql://[user@]host[:port]/dbname[?params]` (also `postgres://`; a socket "
        "directory as `?host=/path`). The URL carries no password: libpq reads it from "
        "PGPASSWORD, ~/.pgpass or PGSERVICE. Several runners of one site may share a database (see settings.lease).",
    )

    @field_validator("state")
    @classmethod
    def _state_url_usable(cls, value: str) -> str:
        if is_database_url(value) and (problem := url_problem(value)) is not None:
            raise ValueError(f"the PostgreSQL URL in `state` cannot be used: {problem}")
        return value

    logs: str = Field(
        default=".runner/logs",
        min_length=1,
        description="Directory for the JSON log files and the per-attempt output, relative to the "
        "pipeline directory.",
    )
    file_mode: Literal["private", "group"] = Field(
        default="private",
        description="Who may read the state and the logs. `private`: this runner's user only "
        "(files 0600, directories 0700). `group`: also the files' group, such as a log shipper "
        "or operators running `runner status` (files 0640, directories 0750; the state file 0660 "
        "and its directory 0770, as readers of the SQLite file must write beside it). A "
        "directory every user can write to is refused either way.",
    )
    site: Name = Field(
        default="default",
        description="This runner's site: it runs the tasks of this site only; `--site` overrides "
        "it.",
    )
    concurrency: int = Field(
        default=8,
        ge=1,
        description="The most processes (items and steps) this runner runs at once, over all "
        "tasks.",
    )
    secrets: list[EnvName] = Field(
        default_factory=list,
        description="Names of environment variables whose values are masked in logs, output files "
        "and state.",
    )
    output_limit: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Bytes of output kept per stream (stdout, stderr) per attempt; the tail is "
        "kept (default 10 MiB).",
    )
    grace: Duration = Field(
        default="5s",
        validate_default=True,
        description="How long a process is given to exit after TERM before it is killed.",
    )
    lease: PositiveDuration = Field(
        default="60s",
        validate_default=True,
        description="On a shared PostgreSQL state: how long a runner may go without renewing its "
        "lease (its heartbeat, every lease/4 up to 5s) before a live runner of its site takes "
        "over its attempts and runs; one that comes back later writes nothing more and exits. "
        "Longer than any pause a host may see; unused with SQLite.",
    )
    min_free_disk: int = Field(
        default=100 * 1024 * 1024,
        ge=0,
        description="Free bytes required on the disks of `state` and `logs`; below this the runner "
        "starts nothing new and says so (default 100 MiB).",
    )
    notify: list[NotifyRule] = Field(
        default_factory=list,
        description="Notifications: each entry sends the events it lists to its Apprise URLs. "
        "Sending never delays or fails a run; each message sent or failed is logged "
        "(`notify.sent`, `notify.failed`).",
    )
    retention: Retention = Field(
        default_factory=Retention,
        description="How long attempt output, log files and finished runs are kept before "
        "`runner prune` (or `runner serve`, daily) removes them; unset keys keep forever.",
    )
