"""A pipeline directory in a temporary path, and the CLI run on it for real."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.state import StateStore, open_store

SETTINGS = """\
version: 1
settings:
  state: .runner/state.db
  logs: .runner/logs
  concurrency: {concurrency}
"""


def settings(concurrency: int = 4, extra: str = "") -> str:
    """The common settings section of a test pipeline, then `extra`."""
    return SETTINGS.format(concurrency=concurrency) + extra


def members(ids: Sequence[str]) -> str:
    """A YAML flow list of quoted ids."""
    return "[" + ", ".join(f'"{i}"' for i in ids) + "]"


@dataclass
class Workspace:
    """A pipeline directory in tmp_path with helpers to run the CLI on it."""

    root: Path

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
        return open_store(self.root / ".runner" / "state.db", readonly=True)

    def log_text(self) -> str:
        logs = self.root / ".runner" / "logs"
        return "".join(p.read_text() for p in sorted(logs.glob("runner-*.jsonl")))

    def all_files_text(self, under: str = ".runner") -> bytes:
        data = b""
        for path in (self.root / under).rglob("*"):
            if path.is_file():
                data += path.read_bytes()
        return data
