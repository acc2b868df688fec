"""`settings.file_mode: group`: real runs leave group-readable files, and another user of the
group runs `runner status`, `items` and `logs`, with no runner open and while one runs.

The second half needs root (it creates a user and a group); it is skipped elsewhere, and fails
instead when CI is set, where it must run.
"""

from __future__ import annotations

import contextlib
import grp
import io
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import exitcodes
from runner.cli import main
from tests.support.system import require_system
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

GROUP_SETTINGS = "  file_mode: group\n"
PIPELINE = """
groups:
  g: {members: [one, two, three]}
definitions:
  d: {command: [sh, -c, 'echo out "$0"; echo err "$0" >&2;', "{{ item.id }}"]}
tasks:
  t: {definition: d, group: g}
"""
GROUP = "runnerfmgrp"
READER = "runnerfmreader"
VERBS = (("status",), ("items", "--task", "t"), ("logs",))
STATE_SIDE = {"state.db", "state.db-wal", "state.db-shm"}


@pytest.fixture(autouse=True)
def strict_umask() -> Iterator[None]:
    """The runner inherits a umask that would cut every group bit: the modes must survive it."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.lstat().st_mode)
        for p in [root, *root.rglob("*")]
    }


def expected(root: Path, relative: str) -> set[int]:
    """The modes `group` gives a path under .runner (the shared empty processed file is 0440)."""
    if relative in {".", ""}:
        return {0o770}
    if relative in STATE_SIDE:
        return {0o660}
    if (root / relative).is_dir():
        return {0o750}
    return {0o440} if relative.endswith("nothing-processed") else {0o640}


def test_a_group_run_leaves_group_readable_files_whatever_the_umask(ws: Workspace) -> None:
    ws.write("pipeline.yaml", settings(2, GROUP_SETTINGS) + PIPELINE)
    result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
    assert exitcodes.OK == result.returncode, result.stderr[-2000:]
    root = ws.root / ".runner"
    found = modes(root)
    wrong = {p: oct(m) for p, m in found.items() if m not in expected(root, p)}
    assert {} == wrong
    assert 6 <= sum(1 for p in found if p.endswith((".stdout", ".stderr")))
    assert any(p.startswith("logs/runner-") for p in found)


def _root_or_skip() -> None:
    if os.geteuid() != 0:
        require_system("root", "creating a user and a group for the group-reader test needs root")


@pytest.fixture
def reader() -> Iterator[tuple[int, int]]:
    """A user whose only group is a fresh group: (uid, gid); both removed afterwards."""
    _root_or_skip()
    subprocess.run(["groupadd", "-f", GROUP], check=True)
    with contextlib.suppress(KeyError):
        pwd.getpwnam(READER)
        subprocess.run(["userdel", READER], check=True)
    subprocess.run(["useradd", "-M", "-N", "-g", GROUP, READER], check=True)
    try:
        yield pwd.getpwnam(READER).pw_uid, grp.getgrnam(GROUP).gr_gid
    finally:
        subprocess.run(["userdel", READER], check=False)
        subprocess.run(["groupdel", GROUP], check=False)


@pytest.fixture
def shared_ws(reader: tuple[int, int]) -> Iterator[Workspace]:
    """A pipeline directory the group may enter, setgid so what the runner makes is the group's."""
    root = Path(tempfile.mkdtemp(prefix="runner-group-", dir="/tmp"))
    try:
        os.chown(root, 0, reader[1])
        root.chmod(0o750 | stat.S_ISGID)
        yield Workspace(root)
    finally:
        shutil.rmtree(root)


def verb_as(user: tuple[int, int], *argv: str) -> tuple[int, str]:
    """A `runner` verb run by `user` (uid, gid) in a forked child: (exit code, its output)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the reader, run the verb, exit
        code = 70
        try:
            os.close(read_end)
            os.setgroups([user[1]])
            os.setgid(user[1])
            os.setuid(user[0])
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = main(list(argv))
            os.write(write_end, out.getvalue().encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        text = stream.read().decode()
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status), text


def test_a_group_member_reads_the_state_and_logs_with_no_runner_and_while_one_runs(
    shared_ws: Workspace, reader: tuple[int, int]
) -> None:
    ws = shared_ws
    pipeline = ws.write("pipeline.yaml", settings(2, GROUP_SETTINGS) + PIPELINE)
    pipeline.chmod(0o640)
    result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
    assert exitcodes.OK == result.returncode, result.stderr[-2000:]
    warm = ws.root.with_name(ws.root.name + "-warm")  # a copy, so its reader leaves ours untouched
    shutil.copytree(ws.root, warm)
    try:  # as root first: loads every module the child will need
        for verb in VERBS:
            assert exitcodes.OK == main([*verb, str(warm / "pipeline.yaml")])
    finally:
        shutil.rmtree(warm)

    state = ws.root / ".runner" / "state.db"
    assert not state.with_name("state.db-shm").exists()  # no runner open: the reader must create it
    for verb, shows in zip(VERBS, ("task t", "one", "run.finished"), strict=True):
        code, text = verb_as(reader, *verb, str(pipeline))
        assert (exitcodes.OK, True) == (code, shows in text), text
    for side in ("state.db-wal", "state.db-shm"):  # made by the reader: the runner must write them
        path = state.with_name(side)
        if path.exists():
            assert (0o660, reader[1]) == (stat.S_IMODE(path.stat().st_mode), path.stat().st_gid)

    serving = ws.spawn("serve", "pipeline.yaml", "--log-format", "json")
    try:
        wait_until(lambda: (ws.root / ".runner" / "state.db.default.lock").read_text().strip())
        code, text = verb_as(reader, "status", str(pipeline))
        assert (exitcodes.OK, True) == (code, "task t" in text), text
    finally:
        serving.terminate()
        serving.communicate(timeout=60)
