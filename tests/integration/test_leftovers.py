"""The one-pass sweep of a dead runner's processes: each marker's processes die, others live."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import psutil
import pytest

from runner.engine.leftovers import sweep_markers
from runner.process import MARKER_ENV
from tests.support.waiting import wait_until


@pytest.fixture
def sleepers() -> Iterator[dict[str, list[subprocess.Popen[bytes]]]]:
    """Sleeping processes by marker: two under `run/1`, one under `run/2`, one under `other/1`."""
    started: dict[str, list[subprocess.Popen[bytes]]] = {}
    for marker in ("run/1", "run/1", "run/2", "other/1"):
        env = {**os.environ, MARKER_ENV: marker}
        started.setdefault(marker, []).append(
            subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
        )
    yield started
    for procs in started.values():
        for proc in procs:
            proc.kill()
            proc.wait()


def _dead(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


def test_every_wanted_marker_is_killed_in_one_pass_and_counted(
    sleepers: dict[str, list[subprocess.Popen[bytes]]],
) -> None:
    killed = sweep_markers(["run/1", "run/2", "run/3", ""])
    assert killed == {"run/1": 2, "run/2": 1}
    for marker in ("run/1", "run/2"):
        for proc in sleepers[marker]:
            wait_until(lambda proc=proc: _dead(proc), timeout=10)
            assert proc.returncode == -9
    (other,) = sleepers["other/1"]
    assert other.poll() is None
    assert psutil.Process(other.pid).status() != psutil.STATUS_ZOMBIE


def test_no_marker_scans_nothing() -> None:
    assert sweep_markers([]) == {}
    assert sweep_markers([""]) == {}
