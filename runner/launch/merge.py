"""Crash-time merge of an events file: the lines a dead runner had not recorded yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from runner.launch.protocol import parse_event
from runner.state.records import Checkpoint


def read_events_file(path: Path | str, *, skip_lines: int) -> Iterator[Checkpoint]:
    """Checkpoints of the complete, non-blank lines of `path` after the first `skip_lines`.

    Used by crash recovery: `skip_lines` is how many lines the dead runner had persisted.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return
    seen = 0
    with handle:
        for line in handle:
            stripped = line.strip()
            if not stripped or not line.endswith(b"\n"):
                continue
            seen += 1
            if seen > skip_lines:
                yield parse_event(stripped)
