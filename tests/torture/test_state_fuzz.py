"""Bit-flip fuzz of the state file: random bits flipped, then `status` and `run --now`.

A state with 20 finished items (mode: once) and a group grown to 40 is copied, 1 to 16
random bits of the copy are flipped (seeded), then `runner status` and `runner run --now`
run on it. Every seed must end in a clear refusal (exit 1 with a message, no traceback, no
internal error) or a correct run (exit 0, all 40 items successful, a sound file); never a
loop (each command has a deadline), and never a finished item started again.

CI: 20 seeds; RUNNER_TORTURE=full: 500. RUNNER_TORTURE_SEED moves the seed range.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from runner import exitcodes
from runner.domain import queues as q
from runner.state import check_sqlite_file, open_store
from tests.support.damage import flip_bits
from tests.support.sizes import record_figures, size
from tests.support.spawning import traceback_free
from tests.support.workspace import Workspace, settings

SEEDS = size(20, 500)
FIRST_SEED = int(os.environ.get("RUNNER_TORTURE_SEED", "0"))
FINISHED = [f"done-{n:02d}" for n in range(20)]
FRESH = [f"new-{n:02d}" for n in range(20)]
DEADLINE = 120.0
"""Seconds a command may take on a damaged state; past it the seed counts as a loop."""

PIPELINE = """
groups:
  g: {file: items.txt}
definitions:
  d: {command: [sh, -c, 'echo "start $0" >> ledger.txt', "{{ item.id }}"]}
tasks:
  t: {definition: d, group: g, mode: once}
"""


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """Run the CLI in `root`; None when it overran DEADLINE (killed)."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "runner", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None


def _starts(root: Path) -> list[str]:
    ledger = root / "ledger.txt"
    if not ledger.exists():
        return []
    return [line.split()[1] for line in ledger.read_text().splitlines()]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose state holds 20 finished items; its group has grown to 40."""
    ws = Workspace(tmp_path_factory.mktemp("fuzz-base"))
    ws.write("pipeline.yaml", settings(4) + PIPELINE)
    ws.write("items.txt", "".join(f"{i}\n" for i in FINISHED))
    first = ws.runner("run", "pipeline.yaml", "--now")
    assert exitcodes.OK == first.returncode, first.stderr
    ws.write("items.txt", "".join(f"{i}\n" for i in [*FINISHED, *FRESH]))
    (ws.root / "ledger.txt").unlink()
    state = ws.root / ".runner" / "state.db"
    assert not state.with_name(state.name + "-wal").exists()  # closed cleanly: one file
    return ws.root


def test_bit_flips_end_in_a_clear_refusal_or_a_correct_run(base: Path, tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    flips = 0
    for seed in range(FIRST_SEED, FIRST_SEED + SEEDS):
        root = tmp_path / f"seed-{seed}"
        shutil.copytree(base, root)
        state = root / ".runner" / "state.db"
        rng = random.Random(seed)
        flips += len(flip_bits(state, rng, rng.randint(1, 16)))
        where = f"seed {seed}"

        status = _cli(root, "status", "pipeline.yaml")
        assert status is not None, f"{where}: status did not end within {DEADLINE} s"
        assert status.returncode in (exitcodes.OK, exitcodes.RUN_FAILED), (where, status.stderr)
        assert traceback_free(status.stderr) and "internal error" not in status.stderr, (
            where,
            status.stderr,
        )

        run = _cli(root, "run", "pipeline.yaml", "--now", "--log-format", "json")
        assert run is not None, f"{where}: run did not end within {DEADLINE} s (a loop?)"
        assert traceback_free(run.stderr) and "internal error" not in run.stderr, (
            where,
            run.stderr[-3000:],
        )
        starts = _starts(root)
        assert [] == sorted(set(starts) & set(FINISHED)), f"{where}: finished items ran again"
        assert len(starts) == len(set(starts)), f"{where}: an item started twice: {starts}"
        if run.returncode == exitcodes.OK:
            assert [] == check_sqlite_file(state, "full"), where
            with open_store(state, readonly=True) as store:
                assert {q.SUCCESSFUL: 40} == store.queue_counts("t"), where
            outcomes["ran correctly"] += 1
        else:
            assert exitcodes.RUN_FAILED == run.returncode, (where, run.stderr[-3000:])
            message = run.stderr.strip().splitlines()[-1]
            assert message.startswith("runner: "), (where, message)
            outcomes["refused"] += 1
        shutil.rmtree(root)
    record_figures(
        "state-bit-flips",
        {
            "seeds": SEEDS,
            "first_seed": FIRST_SEED,
            "bits_flipped": flips,
            "refused": outcomes["refused"],
            "ran_correctly": outcomes["ran correctly"],
            "loops": 0,
            "tracebacks": 0,
            "repeats": 0,
        },
    )
