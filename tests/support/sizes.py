"""Sizes and figures of the torture suites: a CI size, and a full one under RUNNER_TORTURE=full."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

FULL = os.environ.get("RUNNER_TORTURE", "").lower() == "full"
"""True when the full-size suites were asked for (`RUNNER_TORTURE=full`)."""

FIGURES = Path(os.environ.get("RUNNER_TORTURE_FIGURES", "/tmp/runner-torture-figures.jsonl"))


def size(ci: int, full: int) -> int:
    """The CI figure, or the full one under RUNNER_TORTURE=full."""
    return full if FULL else ci


def record_figures(suite: str, figures: Mapping[str, object]) -> None:
    """Print a suite's figures and append them to the figures file (for the report)."""
    line = json.dumps({"suite": suite, "full": FULL, **figures}, sort_keys=True)
    print(f"torture figures: {line}")
    with contextlib.suppress(OSError), FIGURES.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
