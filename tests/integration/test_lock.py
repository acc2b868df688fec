"""Integration tests of runner.system.lock: real files, real holder processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import LockHeldError, RunnerError, UnsafePathError
from runner.system.lock import RunnerLock, lock_path_for
from tests.support.programs import PROGRAMS

ROOT = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def try_in_other_process(path: Path) -> dict[str, object]:
    """Try to take the lock from another process; its JSON report."""
    done = subprocess.run(
        [sys.executable, str(PROGRAMS / "hold_lock.py"), str(path), "try"],
        env=CHILD_ENV,
        capture_output=True,
        check=True,
        timeout=60,
    )
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock at tmp_path/held.lock."""
    process = subprocess.Popen(
        [sys.executable, str(PROGRAMS / "hold_lock.py"), str(tmp_path / "held.lock"), "hold"],
        env=CHILD_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    with process:
        assert f"locked {process.pid}\n" == process.stdout.readline()
        yield process
        if process.poll() is None:
            process.kill()


class TestAcquire:
    def test_acquire_writes_the_pid_into_a_private_file(self, tmp_path: Path) -> None:
        """The lock file has mode 0600 and holds the holder's pid."""
        path = tmp_path / "state.db.default.lock"
        with RunnerLock(path) as lock:
            assert (True, f"{os.getpid()}\n", 0o600) == (
                lock.held,
                path.read_text(),
                stat.S_IMODE(path.stat().st_mode),
            )

    def test_second_acquire_in_another_process_names_the_holder(self, tmp_path: Path) -> None:
        """While this process holds the lock, another one gets LockHeldError with this pid."""
        path = tmp_path / "state.db.default.lock"
        with RunnerLock(path):
            report = try_in_other_process(path)
        assert {"acquired": False, "holder_pid": os.getpid()} == {
            key: report[key] for key in ("acquired", "holder_pid")
        }

    def test_lock_held_by_another_process_raises_here(
        self, tmp_path: Path, holder: subprocess.Popen[str]
    ) -> None:
        """Acquiring a lock another process holds raises LockHeldError naming its pid."""
        with pytest.raises(LockHeldError) as caught:
            RunnerLock(tmp_path / "held.lock").acquire()
        assert (holder.pid, tmp_path / "held.lock", True) == (
            caught.value.holder_pid,
            caught.value.lock_path,
            f"process {holder.pid}" in str(caught.value),
        )

    def test_second_lock_object_in_the_same_process_is_refused(self, tmp_path: Path) -> None:
        """Two RunnerLock objects on one file exclude each other even in one process."""
        path = tmp_path / "state.db.default.lock"
        with RunnerLock(path), pytest.raises(LockHeldError):
            RunnerLock(path).acquire()

    def test_acquire_twice_on_one_object_is_harmless(self, tmp_path: Path) -> None:
        """Acquiring a lock the same object already holds does nothing."""
        lock = RunnerLock(tmp_path / "x.lock")
        lock.acquire()
        lock.acquire()
        lock.release()
        assert False is lock.held

    def test_missing_directory_is_created(self, tmp_path: Path) -> None:
        """The lock file's directory is created when it does not exist yet."""
        path = tmp_path / ".runner" / "state.db.default.lock"
        with RunnerLock(path):
            assert True is path.is_file()


class TestRelease:
    def test_release_lets_another_process_take_it(self, tmp_path: Path) -> None:
        """After release, another process acquires the lock."""
        path = tmp_path / "state.db.default.lock"
        with RunnerLock(path):
            pass
        assert {"acquired": True} == try_in_other_process(path)

    def test_lock_is_released_when_the_holder_is_killed(
        self, tmp_path: Path, holder: subprocess.Popen[str]
    ) -> None:
        """SIGKILL of the holder frees the lock: the next acquire works."""
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        lock = RunnerLock(tmp_path / "held.lock")
        lock.acquire()
        lock.release()
        assert -signal.SIGKILL == holder.returncode

    def test_lock_is_not_inherited_by_child_processes(self, tmp_path: Path) -> None:
        """A child started while the lock is held does not keep it after the holder releases."""
        path = tmp_path / "state.db.default.lock"
        lock = RunnerLock(path)
        lock.acquire()
        with subprocess.Popen(["sleep", "60"], close_fds=False) as sleeper:
            lock.release()
            report = try_in_other_process(path)
            sleeper.kill()
        assert {"acquired": True} == report


class TestUnsafePaths:
    def test_symlink_is_refused(self, tmp_path: Path) -> None:
        """A symlink at the lock path raises UnsafePathError and is not followed."""
        target = tmp_path / "target"
        target.write_text("keep")
        link = tmp_path / "state.db.default.lock"
        link.symlink_to(target)
        with pytest.raises(UnsafePathError):
            RunnerLock(link).acquire()
        assert "keep" == target.read_text()

    def test_dangling_symlink_is_refused(self, tmp_path: Path) -> None:
        """A symlink to nothing raises UnsafePathError and creates nothing."""
        link = tmp_path / "state.db.default.lock"
        link.symlink_to(tmp_path / "absent")
        with pytest.raises(UnsafePathError):
            RunnerLock(link).acquire()
        assert False is (tmp_path / "absent").exists()

    def test_directory_is_refused(self, tmp_path: Path) -> None:
        """A directory at the lock path raises a RunnerError, not an OSError."""
        path = tmp_path / "state.db.default.lock"
        path.mkdir()
        with pytest.raises(RunnerError) as caught:
            RunnerLock(path).acquire()
        assert True is (str(path) in str(caught.value))


class TestLockPathFor:
    def test_plain_site(self) -> None:
        """The lock sits next to the state file, named after the site."""
        assert Path("/s/state.db.default.lock") == lock_path_for(Path("/s/state.db"), "default")

    def test_site_with_separators_stays_in_the_directory(self) -> None:
        """A site name with `/` or `..` cannot leave the state file's directory."""
        path = lock_path_for(Path("/s/state.db"), "../../etc/x")
        assert (Path("/s"), "state.db.%2E.%2F..%2Fetc%2Fx.lock") == (path.parent, path.name)

    def test_distinct_sites_give_distinct_files(self) -> None:
        """Sites that differ only in characters that get encoded still get their own files."""
        names = ["a/b", "a%2Fb", "a b", "a+b", "", "%", "."]
        paths = {lock_path_for(Path("/s/state.db"), name) for name in names}
        assert len(names) == len(paths)

    def test_long_site_is_shortened(self) -> None:
        """A very long site name gives a file name within file-system limits."""
        path = lock_path_for(Path("/s/state.db"), "x" * 1000)
        assert (True, True) == (len(path.name) < 120, path.name.endswith(".lock"))
