"""Pipeline directories holding what is not a readable file under a *.yaml name: each one is a
located config error, never a file silently left out (and a FIFO is never opened blocking)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import exitcodes
from runner.config.loader import load_pipeline
from runner.config.yamlread import read_yaml_file
from runner.errors import ConfigError
from tests.support.system import require_system

PIPELINE = """\
version: 1
groups:
  g: {members: "a;b"}
definitions:
  d: {command: ["true"]}
tasks:
  t: {definition: d, group: g}
"""


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    (tmp_path / "main.yaml").write_text(PIPELINE)
    return tmp_path


def issues(path: Path) -> list[str]:
    """The config errors loading `path` gives, as printed."""
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    return [str(issue) for issue in caught.value.issues]


def test_a_dangling_symlink_is_an_error(pipeline_dir: Path) -> None:
    (pipeline_dir / "extra.yaml").symlink_to(pipeline_dir / "gone.yaml")
    (message,) = issues(pipeline_dir)
    assert str(pipeline_dir / "extra.yaml") in message
    assert "a symbolic link to" in message and "which does not exist" in message


def test_a_symlink_loop_is_an_error(pipeline_dir: Path) -> None:
    (pipeline_dir / "a.yaml").symlink_to(pipeline_dir / "b.yaml")
    (pipeline_dir / "b.yaml").symlink_to(pipeline_dir / "a.yaml")
    found = issues(pipeline_dir)
    assert 2 == len(found)
    assert all("a symbolic link loop" in message for message in found)


def test_a_fifo_is_an_error_and_is_not_opened(pipeline_dir: Path) -> None:
    """Opening a FIFO with no writer would block forever: it is refused from its type."""
    os.mkfifo(pipeline_dir / "pipe.yaml")
    (message,) = issues(pipeline_dir)
    assert "pipe.yaml" in message and "a FIFO (named pipe), not a file" in message


def test_a_directory_named_yaml_is_an_error(pipeline_dir: Path) -> None:
    (pipeline_dir / "more.yaml").mkdir()
    (message,) = issues(pipeline_dir)
    assert "more.yaml" in message and "a directory, not a file" in message


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's base directory is private to its user)."""
    directory = Path(tempfile.mkdtemp(prefix="runner-unreadable-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def test_an_unreadable_file_is_an_error(shared_dir: Path) -> None:
    """Checked by an unprivileged user, since root reads a file whatever its mode: as root,
    `runner validate` runs through `setpriv` as the user nobody."""
    (shared_dir / "main.yaml").write_text(PIPELINE)
    (shared_dir / "main.yaml").chmod(0o644)
    locked = shared_dir / "locked.yaml"
    locked.write_text(PIPELINE.replace("t:", "u:"))
    locked.chmod(0)
    if os.geteuid() != 0:
        (message,) = issues(shared_dir)
    else:
        message = _validate_as_nobody(shared_dir)
    assert "locked.yaml" in message and "cannot read the file" in message


def _validate_as_nobody(directory: Path) -> str:
    """What `runner validate` on `directory` prints as the user nobody (it must find an error)."""
    if shutil.which("setpriv") is None:
        require_system("setpriv", "util-linux setpriv runs the check as an unprivileged user")
    drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run(
        [*drop, sys.executable, "-c", "import runner"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        require_system("an unprivileged Python", probe.stderr.decode(errors="replace"))
    done = subprocess.run(
        [*drop, sys.executable, "-m", "runner", "validate", str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exitcodes.BAD_CONFIG == done.returncode, done.stderr
    return done.stderr


def test_a_fifo_swapped_in_after_the_check_is_not_read_blocking(tmp_path: Path) -> None:
    """read_yaml_file opens without blocking and checks the type of what it opened."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    read = read_yaml_file(fifo)
    assert read.fatal
    assert "a FIFO (named pipe), not a file" in str(read.issues[0])


def test_hidden_and_other_names_are_still_ignored(pipeline_dir: Path) -> None:
    """Only visible *.yaml/*.yml entries are pipeline files; the rest of the directory is not read."""
    os.mkfifo(pipeline_dir / ".hidden.yaml")
    (pipeline_dir / "notes.txt").mkdir()
    assert ["t"] == list(load_pipeline(pipeline_dir).tasks)


def test_a_fifo_as_a_group_file_is_refused_not_opened(tmp_path: Path) -> None:
    """A member file that is a FIFO is a group error; opening it would block the runner."""
    from runner.errors import GroupResolutionError
    from tests.unit.test_groups import resolve

    os.mkfifo(tmp_path / "m.txt")
    with pytest.raises(GroupResolutionError, match="is not a regular file"):
        resolve(tmp_path, file="m.txt")
