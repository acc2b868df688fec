"""Shared helpers of the torture suites: sizes, process scans, tree snapshots, figures.

Every suite has a CI size (part of the normal test run) and a full size, chosen with
`RUNNER_TORTURE=full`. Processes a suite starts carry a unique `TORTURE_TAG` in their
environment (inherited by the runner's children, grandchildren and `setsid` escapees), so
a scan finds exactly this test's leftovers even when other tests run at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from tests.integration.conftest import Workspace

FULL = os.environ.get("RUNNER_TORTURE", "").lower() == "full"
"""True when the full-size suites were asked for (`RUNNER_TORTURE=full`)."""

TAG_ENV = "TORTURE_TAG"
MARKER_ENV = "RUNNER_ATTEMPT_MARKER"
FIGURES = Path(os.environ.get("RUNNER_TORTURE_FIGURES", "/tmp/runner-torture-figures.jsonl"))


def size(ci: int, full: int) -> int:
    """The CI figure, or the full one under RUNNER_TORTURE=full."""
    return full if FULL else ci


def new_tag() -> str:
    """A fresh value for TORTURE_TAG."""
    return f"torture-{uuid.uuid4().hex}"


def tagged(tag: str, *, with_marker: bool = False) -> list[psutil.Process]:
    """Live (non-zombie) processes whose environment carries TORTURE_TAG=tag (optionally also a runner marker)."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["environ", "status"]):
        environ = proc.info.get("environ") or {}
        if environ.get(TAG_ENV) != tag or proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if with_marker and MARKER_ENV not in environ:
            continue
        found.append(proc)
    return found


def kill_tagged(tag: str) -> int:
    """SIGKILL whatever still carries the tag (test clean-up); how many were found."""
    procs = tagged(tag)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return len(procs)


def wait_until(condition: Callable[[], bool], *, limit: float, poll: float = 0.02) -> bool:
    """Poll `condition` until it holds or `limit` seconds passed; True if it held."""
    deadline = time.monotonic() + limit
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def zombies_of(pid: int) -> set[int]:
    """Pids of zombie processes whose parent is `pid` (read from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or parentheses, so split after the last ')'
        rest = text[text.rfind(")") + 2 :].split()
        if len(rest) >= 2 and rest[0] == "Z" and int(rest[1]) == pid:
            found.add(int(entry))
    return found


@dataclass
class Sampler:
    """Samples a running process: its peak RSS, and zombie children that outlive REAP windows."""

    pid: int
    stale_after: float = 3.0
    max_rss: int = 0
    max_zombies: int = 0
    stale_zombies: set[int] = field(default_factory=set)
    _first_seen: dict[int, float] = field(default_factory=dict)

    def sample(self) -> bool:
        """Take one sample; False once the process is gone."""
        try:
            proc = psutil.Process(self.pid)
            rss = proc.memory_info().rss
        except psutil.Error:
            return False
        self.max_rss = max(self.max_rss, rss)
        now = time.monotonic()
        zombies = zombies_of(self.pid)
        self.max_zombies = max(self.max_zombies, len(zombies))
        for pid in zombies:
            first = self._first_seen.setdefault(pid, now)
            if now - first >= self.stale_after:
                self.stale_zombies.add(pid)
        for pid in list(self._first_seen):
            if pid not in zombies:
                del self._first_seen[pid]
        return True

    def follow(self, proc: subprocess.Popen[Any], *, every: float = 0.1) -> None:
        """Sample until `proc` exits."""
        while proc.poll() is None and self.sample():
            time.sleep(every)


def tree_snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, int]]:
    """Every path under `root` (relative) with its kind and size, except under `skip` prefixes."""
    snapshot: dict[str, tuple[str, int]] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if any(relative == s or relative.startswith(s + "/") for s in skip):
            continue
        info = path.lstat()
        kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if path.is_dir() else "file"
        snapshot[relative] = (kind, 0 if kind == "dir" else info.st_size)
    return snapshot


def record_figures(suite: str, figures: Mapping[str, object]) -> None:
    """Print a suite's figures and append them to the figures file (for the report)."""
    line = json.dumps({"suite": suite, "full": FULL, **figures}, sort_keys=True)
    print(f"torture figures: {line}")
    with contextlib.suppress(OSError), FIGURES.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def runner_env(tag: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment additions for a runner started by a torture test."""
    return {TAG_ENV: tag, **(extra or {})}


@contextlib.contextmanager
def reaped(*procs: subprocess.Popen[Any] | Spawned) -> Iterator[None]:
    """Kill and wait for these processes when the block ends, however it ends."""
    try:
        yield
    finally:
        for started in procs:
            proc = started.proc if isinstance(started, Spawned) else started
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                if isinstance(started, Spawned):
                    started.finish(timeout=30)
                else:
                    proc.communicate(timeout=30)


def spawn_python(
    ws: Workspace, script: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start a Python script of the workspace (the project importable), pipes captured."""
    return subprocess.Popen(
        [sys.executable, script, *args],
        cwd=ws.root,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Spawned:
    """A runner started in the background, its stderr going to an unnamed temporary file.

    A pipe nobody reads would fill up and stall the runner's logging; a file never does.
    """

    proc: subprocess.Popen[bytes]
    _stderr: IO[bytes]
    _text: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        """Everything the runner wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        """Wait for the exit (killing it after `timeout`); its return code and stderr (idempotent)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._text is None:
            self._text = self.stderr()
            self._stderr.close()
        return self.proc.returncode, self._text


def spawn_runner(
    ws: Workspace, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Spawned:
    """Start `python -m runner ARGS` in the workspace without pipes (stderr to a temp file)."""
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Spawned.finish
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd or ws.root,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    return Spawned(proc, err)


def exited_within(proc: subprocess.Popen[Any], seconds: float) -> bool:
    """Wait up to `seconds` for `proc` to exit; True if it did."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def traceback_free(*texts: str) -> bool:
    """True when no text shows a Python traceback."""
    return not any("Traceback (most recent call last)" in text for text in texts)


__all__ = [
    "FULL",
    "MARKER_ENV",
    "TAG_ENV",
    "Sampler",
    "Spawned",
    "Workspace",
    "exited_within",
    "kill_tagged",
    "new_tag",
    "reaped",
    "record_figures",
    "runner_env",
    "size",
    "spawn_python",
    "spawn_runner",
    "tagged",
    "traceback_free",
    "tree_snapshot",
    "wait_until",
    "zombies_of",
]
