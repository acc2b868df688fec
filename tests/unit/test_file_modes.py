"""The one set of file modes: private and group, the umask, world-writable directories, one module."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.config import load_pipeline
from runner.errors import UnsafePathError
from runner.serve.reload import reload_config
from runner.state import open_store
from runner.system.fs import (
    current_modes,
    ensure_runner_dir,
    ensure_runner_file,
    file_modes,
    make_read_only,
    open_runner_file,
)
from runner.testing import LogCapture

PACKAGE = Path(__file__).resolve().parents[2] / "runner"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """A umask that would cut every group bit: the modes must survive it."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("strict_umask")
class TestGroup:
    def test_directories_0750_and_the_state_directory_0770(self, tmp_path: Path) -> None:
        with file_modes("group"):
            ensure_runner_dir(tmp_path / "a" / "logs")
            ensure_runner_dir(tmp_path / "a", state=True)
        assert (0o770, 0o750) == (mode(tmp_path / "a"), mode(tmp_path / "a" / "logs"))

    def test_files_0640_and_the_state_file_0660(self, tmp_path: Path) -> None:
        with file_modes("group"):
            os.close(open_runner_file(tmp_path / "log.jsonl", os.O_WRONLY))
            ensure_runner_file(tmp_path / "s" / "state.db", state=True)
        assert (0o640, 0o660, 0o770) == (
            mode(tmp_path / "log.jsonl"),
            mode(tmp_path / "s" / "state.db"),
            mode(tmp_path / "s"),
        )

    def test_read_only_file_0440(self, tmp_path: Path) -> None:
        path = tmp_path / "nothing-processed"
        path.write_text("")
        with file_modes("group"):
            make_read_only(path)
        assert 0o440 == mode(path)

    def test_existing_private_paths_gain_the_group_bits(self, tmp_path: Path) -> None:
        """Switching an installation to `group`: what the runner opens gets read by the group."""
        (tmp_path / "d").mkdir(mode=0o700)
        (tmp_path / "d" / "f").write_text("x")
        (tmp_path / "d" / "f").chmod(0o600)
        with file_modes("group"):
            ensure_runner_dir(tmp_path / "d")
            os.close(open_runner_file(tmp_path / "d" / "f"))
        assert (0o750, 0o640) == (mode(tmp_path / "d"), mode(tmp_path / "d" / "f"))

    def test_world_writable_directory_still_refused(self, tmp_path: Path) -> None:
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared").chmod(0o777)
        with file_modes("group"), pytest.raises(UnsafePathError, match="writable by every user"):
            ensure_runner_dir(tmp_path / "shared", state=True)

    def test_block_ends_back_on_private(self, tmp_path: Path) -> None:
        with file_modes("group"):
            pass
        ensure_runner_file(tmp_path / "d" / "f")
        assert (current_modes().file, 0o600, 0o700) == (
            0o600,
            mode(tmp_path / "d" / "f"),
            mode(tmp_path / "d"),
        )


@pytest.mark.usefixtures("strict_umask")
def test_private_is_the_default_and_adds_nothing_for_the_group(tmp_path: Path) -> None:
    ensure_runner_file(tmp_path / "s" / "state.db", state=True)
    os.close(open_runner_file(tmp_path / "s" / "lock"))
    assert (0o700, 0o600, 0o600) == (
        mode(tmp_path / "s"),
        mode(tmp_path / "s" / "state.db"),
        mode(tmp_path / "s" / "lock"),
    )


def test_private_leaves_an_existing_directory_as_it_is(tmp_path: Path) -> None:
    """`private` widens nothing and narrows nothing a user set up beforehand."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs").chmod(0o755)
    ensure_runner_dir(tmp_path / "logs")
    assert 0o755 == mode(tmp_path / "logs")


def test_no_mode_is_spelled_outside_the_one_module() -> None:
    """Every mode comes from runner/system/fs.py: no octal mode literal anywhere else."""
    literal = re.compile(r"\b0o[0-7]{3,4}\b")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "system" / "fs.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert [] == found


def test_serve_reports_a_changed_file_mode_as_needing_a_restart(tmp_path: Path) -> None:
    """The modes are chosen when a session starts: a reload says a restart applies the change."""
    path = tmp_path / "pipeline.yaml"
    body = (
        "version: 1\nsettings: {{state: state.db, logs: logs, file_mode: {mode}}}\n"
        "groups: {{g: {{members: a}}}}\ndefinitions: {{d: {{command: [x]}}}}\n"
        "tasks: {{t: {{definition: d, group: g}}}}\n"
    )
    path.write_text(body.format(mode="private"))
    old = load_pipeline(path)
    path.write_text(body.format(mode="group"))
    log = LogCapture()
    with open_store(tmp_path / "state.db") as store:
        new = reload_config(
            path,
            old,
            store=store,
            site="default",
            site_fixed=False,
            running=set(),
            log=log,
            now=0.0,
            forced=True,
        )
    assert new is not None
    assert ("group", ["file_mode"]) == (
        new.settings.file_mode,
        log.named("config.reloaded")[0]["restart_needed"],
    )
