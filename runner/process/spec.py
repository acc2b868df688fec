"""What a child process is given (LaunchSpec) and what became of it (ProcessResult)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runner.process.linescan import LineRule, Match

Outcome = Literal["exited", "timeout", "hung", "start-failed", "interrupted", "overflowed"]
"""How a child ended; "overflowed" only for `run_capture`: more than its limit came, so it was
stopped at once instead of being left to print until its timeout."""

MARKER_ENV = "RUNNER_ATTEMPT_MARKER"
"""Environment variable that carries an attempt's marker into its process tree.

Defined here, below the launch protocol, because the supervisor puts it into every child's
environment and the kill sequence searches for it, also for children that are no attempt
(`run_capture`).
"""

TAIL_BYTES = 64 * 1024
"""How much of the end of each stream a `ProcessResult` carries."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to run one child process."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    """The complete environment of the child."""
    shell: bool = False
    """True: `argv` is `[script]`, run as `/bin/sh -c script`."""
    timeout: float | None = None
    """Seconds for the whole attempt."""
    idle_timeout: float | None = None
    """No output on either stream and no growth of `events_path` for this long: hung."""
    stdout_path: Path | str | None = None
    """File for stdout, created (mode 0600) on the first byte; None: discarded (tail kept)."""
    stderr_path: Path | str | None = None
    output_limit: int = 10 * 1024 * 1024
    """Bytes kept per stream file; beyond it the tail is kept, after a truncation line."""
    events_path: Path | str | None = None
    on_events: Callable[[list[bytes]], None] | None = None
    """Called in the calling thread with new complete lines of `events_path` (masked, no EOL)."""
    secrets: Sequence[str] = ()
    """Values replaced by `***` in the output files, the tails and the events lines."""
    wait_full_timeout: bool = False
    """`wait: timeout` steps: wait for `timeout` even after an early exit; kill nothing left."""
    grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL."""
    marker: str | None = None
    """Put in the child's environment as RUNNER_ATTEMPT_MARKER; used to find escaped descendants."""
    line_rules: Sequence[LineRule] = ()
    """Patterns searched in each complete line of stdout/stderr (a definition's output rules)."""
    on_line_matches: Callable[[list[Match]], None] | None = None
    """Called in the calling thread with the matches of `line_rules` in the lines just read."""
    line_limit: int = 4096
    """Characters of a line the `line_rules` search."""


@dataclass(frozen=True)
class ProcessResult:
    """What happened to one child process."""

    outcome: Outcome
    exit_code: int | None
    """None when the child died of a signal (then `signal` is set) or never started."""
    signal: int | None
    error: str | None
    """For `start-failed`: the operating system's message; otherwise None."""
    pid: int | None
    started_at: float
    """`time.time()` at the launch."""
    duration_s: float
    stdout_tail: str
    """The last 64 KiB of stdout (masked), decoded as UTF-8 with replacement characters."""
    stderr_tail: str
    stdout_truncated: bool
    """More than `output_limit` bytes came (the file holds only the tail); run_capture: `limit`."""
    stderr_truncated: bool
    stdout: bytes = b""
    """Only filled by `run_capture`: the whole stdout up to its limit."""
    output_error: str | None = None
    """Why an output file is incomplete (full disk, any write error): file, byte, OS message."""
