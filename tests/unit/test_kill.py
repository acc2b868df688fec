"""The one kill sequence (runner.process.kill) on real process trees."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator

import psutil
import pytest

from runner.process import MARKER_ENV, kill_tree
from runner.process.kill import TreeKill
from tests.support.programs import PROGRAMS

TREE = PROGRAMS / "tree.py"

ESCAPE = textwrap.dedent(
    """
    import subprocess, sys, threading
    middle = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess; p = subprocess.Popen(['sleep', '60'], start_new_session=True);"
         " print(p.pid, flush=True)"],
        stdout=subprocess.PIPE,
    )
    escapee = middle.stdout.readline().decode().strip()
    middle.wait()
    print(escapee, flush=True)
    threading.Event().wait()
    """
)
"""Leaves a `sleep` in its own session whose parent has exited: no descendant, no group member."""


def is_alive(pid: int) -> bool:
    """True if the pid runs (a zombie is dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def marker() -> str:
    return f"kill-test-{uuid.uuid4().hex}"


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids the test started; whatever survives is killed at teardown."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def start_tree(marker: str, started: list[int]) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """tree.py: top -> middle -> {stubborn (ignores TERM), escapee (setsid)}; pids by role."""
    top = subprocess.Popen(
        [sys.executable, str(TREE), "top"],
        stdout=subprocess.PIPE,
        env={**os.environ, MARKER_ENV: marker},
        start_new_session=True,
    )
    assert top.stdout is not None
    roles: dict[str, int] = {}
    for _ in range(4):
        role, pid = top.stdout.readline().split()
        roles[role.decode()] = int(pid)
    started.extend(roles.values())
    return top, roles


class TestTreeKill:
    def test_term_ends_the_group_but_not_a_term_ignoring_member(
        self, marker: str, started: list[int]
    ) -> None:
        """After the TERM and the grace, the group is gone except the member that ignores TERM."""
        top, roles = start_tree(marker, started)
        with top:
            kill = TreeKill(top.pid, top.pid, marker)
            top.wait(timeout=30)
            kill.wait(0.5)
            alive = {role for role, pid in roles.items() if is_alive(pid)}
            ended = kill.ended()
            kill.force()
            kill.settle()
        assert ({"stubborn"}, False) == (alive, ended)

    def test_force_kills_the_term_ignoring_member(self, marker: str, started: list[int]) -> None:
        """SIGKILL after the grace ends what ignored SIGTERM; nothing of the tree is left."""
        top, roles = start_tree(marker, started)
        with top:
            kill = TreeKill(top.pid, top.pid, marker)
            kill.wait(0.3)
            kill.force()
            kill.settle()
            ended = kill.ended()
        assert ([], True) == ([role for role, pid in roles.items() if is_alive(pid)], ended)

    def test_setsid_escapee_is_found_through_the_marker(
        self, marker: str, started: list[int]
    ) -> None:
        """A process in its own session whose parent exited is found by its marker alone."""
        leader = subprocess.Popen(
            [sys.executable, "-c", ESCAPE],
            stdout=subprocess.PIPE,
            env={**os.environ, MARKER_ENV: marker},
            start_new_session=True,
        )
        assert leader.stdout is not None
        with leader, leader.stdout:
            escapee = int(leader.stdout.readline())
            started.append(escapee)
            descendants = {child.pid for child in psutil.Process(leader.pid).children(True)}
            apart = os.getpgid(escapee) != leader.pid and escapee not in descendants
            kill_tree(leader.pid, leader.pid, marker, grace=0.2)
        assert (True, False) == (apart, is_alive(escapee))

    def test_without_the_marker_the_escapee_survives(self, started: list[int]) -> None:
        """The contrast: group and descendants alone do not reach a setsid escapee."""
        leader = subprocess.Popen(
            [sys.executable, "-c", ESCAPE], stdout=subprocess.PIPE, start_new_session=True
        )
        assert leader.stdout is not None
        with leader, leader.stdout:
            escapee = int(leader.stdout.readline())
            started.append(escapee)
            kill_tree(leader.pid, leader.pid, None, grace=0.2)
        assert (False, True) == (is_alive(leader.pid), is_alive(escapee))
