"""Runners and scripts started in the background, and reaped whatever happens to the test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.support.workspace import Workspace


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


def kill_left_in(root: Path) -> list[int]:
    """Kill every process still working in `root` (its cwd inside it), e.g. the items of a
    runner a failed test SIGKILLed while they waited for a file: they must not outlive the
    test. Returns their pids."""
    import psutil

    inside = str(root.resolve())
    left: list[psutil.Process] = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            cwd = proc.cwd()
            if proc.pid != os.getpid() and (cwd == inside or cwd.startswith(inside + os.sep)):
                left.append(proc)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=10)
    return [proc.pid for proc in left]


def read_terminal(leader: int) -> bytes:
    """All a pseudo-terminal's other side drew, read from its leader until that side closed
    (the process on it exited)."""
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other side closed
            break
        if not chunk:
            break
        output += chunk
    return output
