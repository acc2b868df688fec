"""Simulated hosts: a copy of a pipeline directory each, and the `runner serve` working it.

A host has its own directory (its pipeline files, its logs and `.runner/` side files, as a
separate machine would) and its own host name: the runner runs in a UTS namespace of its own
(`unshare --uts`, then `hostname <name>`, then exec), so `socket.gethostname()` tells the
hosts apart as it would on separate machines. It runs one `runner serve` at a time, started
with `SIM_HOST=<name>` in its environment (its item processes inherit it) in a session of
its own, so that the test can SIGKILL, SIGSTOP and SIGCONT it as one unit without touching
the test's own group. Every life's stderr is kept in a file of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.tagging import runner_env

SIM_HOST_ENV = "SIM_HOST"
RENAMED = ["sh", "-c", 'hostname "$0" && exec "$@"']
"""Run the rest of the argv after setting the host name to its first word (exec: same pid)."""


def uts_prefix() -> list[str] | None:
    """The argv prefix starting a program in a UTS namespace of its own (as root, or in a user
    namespace of its own), or None when this machine allows neither."""
    for prefix in (["unshare", "--uts"], ["unshare", "--user", "--map-root-user", "--uts"]):
        probe = subprocess.run(
            [*prefix, *RENAMED, "probe", "true"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return prefix
    return None


@dataclass
class SimHost:
    """One simulated host and its current runner process (None when it has none)."""

    name: str
    root: Path
    tag: str
    args: Sequence[str]
    """The runner's arguments after `python -m runner`."""
    uts: Sequence[str]
    """The argv prefix giving the runner a UTS namespace of its own (see `uts_prefix`)."""
    proc: subprocess.Popen[bytes] | None = None
    lives: int = 0
    started_at: float = 0.0
    """When the current life was started (wall clock, as the ledger's times)."""
    exits: list[int] = field(default_factory=list)
    """The exit status of every ended life, in order (negative: the signal that ended it)."""

    def start(self) -> None:
        """Start a new life of the runner (the previous one must have ended)."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} still runs"
        self.lives += 1
        self.started_at = time.time()
        env = {**os.environ, **runner_env(self.tag, {SIM_HOST_ENV: self.name})}
        with self.stderr_path(self.lives).open("wb") as err:
            self.proc = subprocess.Popen(
                [*self.uts, *RENAMED, self.name, sys.executable, "-m", "runner", *self.args],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )

    def ready(self) -> bool:
        """The current life has started (logged `runner.started`: its signal handlers are set)."""
        text = self.stderr_path(self.lives).read_text(errors="replace")
        return '"event":"runner.started"' in text.replace(" ", "")

    def stderr_path(self, life: int) -> Path:
        return self.root / f"serve-{life}.stderr"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        """Send `signum` to the runner's session (the runner; its items have sessions of their own)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signum)

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` for the current life to end; its status, None if it still runs."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if len(self.exits) < self.lives:
            self.exits.append(code)
        return code

    def kill(self) -> int:
        """SIGKILL the runner and reap it."""
        self.signal(signal.SIGKILL)
        code = self.wait(60)
        assert code is not None, f"{self.name} outlived SIGKILL"
        return code

    def stderr(self) -> str:
        """What every life wrote to stderr, life after life."""
        return "".join(
            self.stderr_path(n).read_text(errors="replace") for n in range(1, self.lives + 1)
        )

    def events(self, *names: str) -> Iterator[dict[str, object]]:
        """The runner's JSON log events of these names (every event if none), all lives."""
        logs = self.root / ".runner" / "logs"
        for path in sorted(logs.glob("runner-*.jsonl")):
            for line in path.read_text(errors="replace").splitlines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of a SIGKILLed life may be cut short
                if not names or event.get("event") in names:
                    yield event
