"""How many attempts a run records ahead of a free slot: many for fast items, one for slow."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import load_pipeline
from runner.engine.active import ActiveRun
from runner.state import RunRow

PIPELINE = """\
version: 1
groups:
  g: {members: [a]}
definitions:
  d: {command: [/bin/true]}
tasks:
  t: {definition: d, group: g, concurrency: 2}
"""


@pytest.fixture
def run(tmp_path: Path) -> ActiveRun:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    pipeline = load_pipeline(tmp_path / "pipeline.yaml")
    row = RunRow("r", "t", "default", "now", None, None, 0.0, None, "items", "running", "x", "")
    return ActiveRun(
        name="t",
        task=pipeline.tasks["t"],
        definition=pipeline.definitions["d"],
        policy=pipeline.policy_for("t"),
        row=row,
        fingerprint="x",
        task_ctx={},
        run_ctx={},
        phase="items",
    )


def test_one_ahead_before_any_attempt_ended(run: ActiveRun) -> None:
    assert 1 == run.lookahead(8, 0.02, 16)


def test_fast_items_fill_the_span_up_to_the_most(run: ActiveRun) -> None:
    """2 slots x 20 ms of 5 ms items: 8 ahead; 1 ms items would want 40, capped at 16."""
    run.attempt_ended(0.005)
    assert 8 == run.lookahead(8, 0.02, 16)
    run.typical_duration = 0.001
    assert 16 == run.lookahead(8, 0.02, 16)


def test_slow_items_keep_one_ahead(run: ActiveRun) -> None:
    """Items of an hour: one ahead, so a run-now item waits behind at most one."""
    run.attempt_ended(3600.0)
    assert 1 == run.lookahead(8, 0.02, 16)


def test_the_runner_cap_bounds_the_task_cap(run: ActiveRun) -> None:
    run.attempt_ended(0.005)
    assert 4 == run.lookahead(1, 0.02, 16)  # one slot: 20 ms / 5 ms


def test_the_typical_duration_follows_recent_attempts(run: ActiveRun) -> None:
    run.attempt_ended(1.0)
    for _ in range(40):
        run.attempt_ended(0.001)
    assert run.typical_duration is not None and run.typical_duration < 0.002
    assert 16 == run.lookahead(8, 0.02, 16)
