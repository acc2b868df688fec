"""The one exception root of the project and its subclasses.

Every error says what happened and what to do; configuration errors carry the
place (file, line, column, key path) they were found at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from runner import exitcodes


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the pipeline files something was written (1-based line and column)."""

    file: Path | None = None
    line: int | None = None
    column: int | None = None
    key_path: str = ""

    def __str__(self) -> str:
        place = str(self.file) if self.file is not None else "<pipeline>"
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        return place


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in the pipeline files."""

    location: Location
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: "
        if self.location.key_path:
            text += f"{self.location.key_path}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class RunnerError(Exception):
    """Root of every error this project raises on purpose.

    `exit_code` is the process exit code (SPEC §5) a command ends with when this error stops it;
    `report()` is the text it prints on stderr.
    """

    exit_code: ClassVar[int] = exitcodes.RUN_FAILED

    def report(self) -> str:
        """What a command prints on stderr when this error stops it."""
        return f"runner: {self}"


@dataclass(eq=False)
class ConfigError(RunnerError):
    """Raised when pipeline files cannot be read or are invalid; carries every issue found."""

    exit_code: ClassVar[int] = exitcodes.BAD_CONFIG

    issues: list[ConfigIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        count = len(self.issues)
        head = f"{count} error{'s' if count != 1 else ''} in the pipeline configuration"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])

    def report(self) -> str:
        return f"{self}\nrunner: fix the errors above, then run `runner validate` again"


class UsageError(RunnerError):
    """Raised when the command line asks for something that cannot be done (bad option value, unknown task)."""

    exit_code: ClassVar[int] = exitcodes.BAD_CONFIG


class GroupResolutionError(RunnerError):
    """Raised when a group's members cannot be resolved (file unreadable, resolver command failed)."""


class TemplateRenderError(RunnerError):
    """Raised when a template cannot be rendered for one item (an undefined name or attribute)."""


class StateError(RunnerError):
    """Raised when the state file cannot be opened or is not one this version understands."""


class StateHaltError(StateError):
    """Raised when the state can no longer be written safely: a runner stops at once.

    `event` names the log event the engine writes when it stops for this reason, `action`
    what the operator should do (both land in that event).
    """

    event: ClassVar[str]
    action: ClassVar[str]


class LeaseLostError(StateHaltError):
    """Raised when a runner of a shared state finds its lease taken over (it was stopped or cut
    off longer than `settings.lease`) or its identity started again elsewhere: it writes nothing more."""

    event: ClassVar[str] = "runner.lease_lost"
    action: ClassVar[str] = (
        "stopped: another runner took over this runner's attempts and runs while it could not "
        "renew its lease; its children are killed and nothing it still held is recorded. Start "
        "it again (a supervisor restarts it); to stop this, make settings.lease longer than the "
        "pauses this host sees"
    )

    def __init__(self, instance: str, epoch: int, current: int | None) -> None:
        self.instance = instance
        self.epoch = epoch
        why = (
            "a live runner took it over"
            if current == epoch
            else f"the identity started again elsewhere (start {current})"
            if current is not None
            else "its record is gone"
        )
        super().__init__(f"runner {instance!r} (start {epoch}) lost its lease: {why}")


class StateDamagedError(StateHaltError):
    """Raised when the state file is damaged (a failed check, a malformed page, a broken invariant)."""

    event: ClassVar[str] = "state.damaged"
    action: ClassVar[str] = (
        "stopped, starting nothing more; run `runner state check`, then `runner state recover`"
    )


class StateGoneError(StateHaltError):
    """Raised when the state file was removed or replaced while a runner had it open."""

    event: ClassVar[str] = "state.gone"
    action: ClassVar[str] = (
        "stopped, starting nothing more; what was recorded was written back (see `saved_to`)"
    )

    def __init__(self, message: str, saved_to: Path | None) -> None:
        self.saved_to = saved_to
        super().__init__(message)


class StateBusyError(StateError):
    """Raised when another process held the state's write lock for longer than the wait allows.

    The file is sound: this is contention, not damage. Trying again later is the remedy.
    """

    exit_code: ClassVar[int] = exitcodes.LOCKED


class StateReadOnlyError(StateError):
    """Raised when a change was asked of a state file that can only be read (read-only mount, modes)."""


class StateSchemaError(StateError):
    """Raised when a state database was written by a newer version of the runner (SPEC §8: exit 2)."""

    exit_code: ClassVar[int] = exitcodes.BAD_CONFIG


class DiskFullError(StateHaltError):
    """Raised when the disk holding the state file is full: nothing more can be recorded."""

    event: ClassVar[str] = "disk.full"
    action: ClassVar[str] = (
        "stopped: running attempts are interrupted and resume on the next start; "
        "free space, then start the runner again"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"the disk holding {path} is full, so nothing more can be recorded; the runner stopped "
            "and interrupted running attempts. Free space, then start the runner again: the run "
            "resumes where it stopped"
        )


class LockHeldError(RunnerError):
    """Raised when another runner holds the lock on this state file and site."""

    exit_code: ClassVar[int] = exitcodes.LOCKED

    def __init__(self, lock_path: Path, holder_pid: int | None) -> None:
        self.lock_path = lock_path
        self.holder_pid = holder_pid
        who = f"process {holder_pid}" if holder_pid else "another process"
        super().__init__(
            f"another runner ({who}) holds the lock {lock_path}; "
            "wait for it to finish or stop it first"
        )


class SiteHeldError(LockHeldError):
    """Raised when another runner holds this site's lock on a shared state database."""

    def __init__(self, url: str, site: str, host: str | None, pid: int | None) -> None:
        super().__init__(Path(site), pid)
        who = f"process {pid} on host {host}" if host and pid else "another process"
        self.args = (
            f"another runner ({who}) holds site {site!r} of the state database {url}; "
            "wait for it to finish or stop it first",
        )


class LockHeldByRunError(LockHeldError):
    """Raised when `run --now` finds the lock held by a `runner run` (not `serve`): nothing to hand
    the request to."""

    def __init__(self, lock_path: Path, holder_pid: int | None, held: str | None = None) -> None:
        super().__init__(lock_path, holder_pid)
        self.args = (
            f"{held or self.args[0]}; it is a `runner run`, which runs only what it started with, so "
            "`run --now` cannot hand it the task: run this again once it has finished (a "
            "`runner serve` holding the site would take the request through the state)",
        )


class TaskHaltedError(RunnerError):
    """Raised when `run --now` names a task that is halted or paused: none of its items may start."""

    exit_code: ClassVar[int] = exitcodes.HALTED

    def __init__(self, task: str, action: str, by: str, reason: str) -> None:
        self.task = task
        super().__init__(
            f"task {task!r} is {action} (by {by}: {reason}); none of its items start until "
            f"`runner resume --task {task}`"
        )


class UnsafePathError(RunnerError):
    """Raised when a state, lock or log path is unsafe (a symlink, or a directory writable by others)."""

    exit_code: ClassVar[int] = exitcodes.BAD_CONFIG
