"""The test suite's own hygiene: what a failed test leaves running is killed at its end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil

from tests.support.spawning import kill_left_in


def test_processes_working_in_the_workspace_are_killed_and_others_kept(tmp_path: Path) -> None:
    inside = tmp_path / "ws"
    (inside / "sub").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # new sessions, like the items of a runner that was SIGKILLed: nothing else would end them
    left = [
        subprocess.Popen(["sleep", "60"], cwd=cwd, start_new_session=True)
        for cwd in (inside, inside / "sub")
    ]
    kept = subprocess.Popen(["sleep", "60"], cwd=outside, start_new_session=True)
    try:
        killed = kill_left_in(inside)
        assert sorted(p.pid for p in left) == sorted(killed)
        for proc in left:
            assert not psutil.pid_exists(proc.pid)  # killed and reaped
        assert kept.poll() is None and psutil.pid_exists(kept.pid)
    finally:
        for proc in [*left, kept]:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
