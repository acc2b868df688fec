"""The checkpoint protocol: lines a child appends to its RUNNER_EVENTS file.

`{"processed": "<sub-id>"}`, `{"detail": "..."}`, `{"progress": 0.42}`,
`{"metric": {"name": value}}`. Anything else is kept as an `invalid` record so
that the count of lines read stays exact (a crash recovery resumes reading the
file after the last line already persisted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from runner.state.records import Checkpoint

MAX_VALUE = 4096
"""Longest sub-id or detail kept; longer values are cut."""


def parse_event(line: bytes) -> Checkpoint:
    """Turn one line of an events file into a checkpoint record."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return Checkpoint("invalid", line[:200].decode("utf-8", "replace"))
    if isinstance(data, dict) and len(data) == 1:
        ((kind, value),) = data.items()
        if kind in ("processed", "detail") and isinstance(value, str):
            return Checkpoint(kind, value[:MAX_VALUE])
        if kind == "progress" and isinstance(value, int | float) and not isinstance(value, bool):
            return Checkpoint(kind, repr(float(value)))
        if kind == "metric" and isinstance(value, dict):
            return Checkpoint(kind, json.dumps(value, sort_keys=True)[:MAX_VALUE])
    return Checkpoint("invalid", line[:200].decode("utf-8", "replace"))


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
