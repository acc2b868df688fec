"""A pipeline directory in a temporary path, and the CLI run on it for real."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.state import DatabaseUrl, StateLocation, StateStore, open_store

SQLITE_STATE = ".runner/state.db"
"""The state of a test pipeline on SQLite (relative to the workspace)."""

SETTINGS = """\
version: 1
settings:
  state: "{state}"
  logs: .runner/logs
  concurrency: {concurrency}
"""

_state_setting = [SQLITE_STATE]
"""What `settings()` writes as `state`: the SQLite file, or the test's PostgreSQL URL (set by
the `ws` fixture for a test run on PostgreSQL, see tests/conftest.py)."""


def use_state(setting: str) -> None:
    """Make `settings()` write `setting` as the state (until the next call)."""
    _state_setting[0] = setting


def settings(concurrency: int = 4, extra: str = "") -> str:
    """The common settings section of a test pipeline, then `extra`."""
    return SETTINGS.format(state=_state_setting[0], concurrency=concurrency) + extra


def members(ids: Sequence[str]) -> str:
    """A YAML flow list of quoted ids."""
    return "[" + ", ".join(f'"{i}"' for i in ids) + "]"


@dataclass
class Workspace:
    """A pipeline directory in tmp_path with helpers to run the CLI on it."""

    root: Path
    state: str = SQLITE_STATE
    """`settings.state` of the common settings: the SQLite file or a PostgreSQL URL."""

    @property
    def state_location(self) -> StateLocation:
        """Where this workspace's runner keeps its state (SQLite file or database)."""
        if self.state.startswith("postgresql://"):
            return DatabaseUrl(self.state, self.root / ".runner" / "postgresql")
        return self.root / self.state

    @property
    def state_path(self) -> Path:
        """The local path naming the state: the SQLite file, or what a database's per-host side
        files (`<path>.<site>.lock`, `<path>.<site>.launches`) are named after."""
        location = self.state_location
        return location.side if isinstance(location, DatabaseUrl) else location

    def side_files(self, kind: str) -> list[Path]:
        """The state's per-host side files of one kind (`launches`, `lock`), of every site."""
        return sorted(self.state_path.parent.glob(f"{self.state_path.name}.*.{kind}"))

    @property
    def on_postgresql(self) -> bool:
        return isinstance(self.state_location, DatabaseUrl)

    def open_state(self, *, readonly: bool = False) -> StateStore:
        """The workspace's state, opened for the test to read or change."""
        return open_store(self.state_location, readonly=readonly)

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def script(self, name: str, body: str) -> Path:
        """An executable Python script in the workspace."""
        path = self.write(name, f"#!{sys.executable}\n" + textwrap.dedent(body))
        path.chmod(0o755)
        return path

    def runner(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        merged = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=self.root,
            env=merged,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spawn(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        merged = {**os.environ, **(env or {})}
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *args],
            cwd=self.root,
            env=merged,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def pipeline(self, body: str, concurrency: int = 4) -> None:
        """Write pipeline.yaml: the common settings, then `body` (dedented)."""
        self.write("pipeline.yaml", settings(concurrency) + textwrap.dedent(body))

    def store(self) -> StateStore:
        return self.open_state(readonly=True)

    def log_text(self) -> str:
        logs = self.root / ".runner" / "logs"
        return "".join(p.read_text() for p in sorted(logs.glob("runner-*.jsonl")))

    def all_files_text(self, under: str = ".runner") -> bytes:
        data = b""
        for path in (self.root / under).rglob("*"):
            if path.is_file():
                data += path.read_bytes()
        return data
