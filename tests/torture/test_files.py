"""Files: symlinks planted at the runner's paths, private modes, shared directories, a full disk.

State, lock and log paths pre-created as symlinks to a victim file: the victim is untouched
and the runner refuses with a clear message (UnsafePathError: exit 2). Everything the runner
creates is 0600 (files) or 0700 (directories). A directory writable by every user is
refused. A small tmpfs that fills up mid-run: nothing corrupted, no traceback, no new launch,
a clear log event, and the run resumes once space is freed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner import exitcodes
from runner.domain import queues as q
from runner.launch import item_prefix
from runner.state import open_store
from runner.system.fs import ensure_runner_dir
from tests.support.sizes import record_figures
from tests.support.spawning import traceback_free
from tests.support.system import require_system
from tests.support.workspace import Workspace, settings

VICTIM_TEXT = "precious: must never change\n"

PIPELINE = """
groups:
  g: {members: [one, two, three]}
definitions:
  d: {command: [sh, -c, 'echo out "$0"; echo err "$0" >&2', "{{ item.id }}"]}
tasks:
  t: {definition: d, group: g}
"""


def log_names() -> list[str]:
    """Today's log file name, and the neighbours a run across midnight may use."""
    today = datetime.now(UTC)
    return [f"runner-{(today + timedelta(days=d)).strftime('%Y-%m-%d')}.jsonl" for d in (-1, 0, 1)]


@pytest.fixture
def files_ws(ws: Workspace) -> Workspace:
    """A three-item pipeline, its .runner directory made private, and a victim file beside it."""
    ws.write("pipeline.yaml", settings(2) + PIPELINE)
    ws.write("victim.txt", VICTIM_TEXT)
    (ws.root / ".runner").mkdir(mode=0o700)
    return ws


def plant(ws: Workspace, relative: str) -> None:
    """Make `relative` (under the workspace) a symlink to the victim file."""
    link = ws.root / relative
    link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    link.symlink_to(ws.root / "victim.txt")


def plant_state(ws: Workspace) -> str:
    plant(ws, ".runner/state.db")
    return "is a symbolic link"


def plant_lock(ws: Workspace) -> str:
    plant(ws, ".runner/state.db.default.lock")
    return "is a symbolic link"


def plant_log_file(ws: Workspace) -> str:
    for name in log_names():
        plant(ws, f".runner/logs/{name}")
    return "is a symbolic link"


def plant_logs_directory(ws: Workspace) -> str:
    (ws.root / ".runner/logs").symlink_to(ws.root / "victim.txt")
    return "is a symbolic link"


def share_state_directory(ws: Workspace) -> str:
    (ws.root / ".runner").chmod(0o777)
    return "is writable by every user"


def share_logs_directory(ws: Workspace) -> str:
    (ws.root / ".runner/logs").mkdir(mode=0o700)
    (ws.root / ".runner/logs").chmod(0o777)
    return "is writable by every user"


# case: what it plants; each returns the text the refusal must hold
PLANTS: dict[str, Callable[[Workspace], str]] = {
    "state": plant_state,
    "lock": plant_lock,
    "log-file": plant_log_file,
    "logs-directory": plant_logs_directory,
    "state-directory-shared": share_state_directory,
    "logs-directory-shared": share_logs_directory,
}


class TestPlantedPaths:
    @pytest.mark.parametrize("case", sorted(PLANTS))
    def test_runner_refuses_and_victim_is_untouched(self, files_ws: Workspace, case: str) -> None:
        """A symlink or a shared directory in the runner's place: exit 2, a clear message, victim intact."""
        ws = files_ws
        victim = ws.root / "victim.txt"
        before = victim.stat()
        expected = PLANTS[case](ws)
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert exitcodes.BAD_CONFIG == result.returncode, result.stderr[-2000:]
        assert expected in result.stderr
        assert VICTIM_TEXT == victim.read_text()
        assert (before.st_mtime_ns, before.st_size) == (
            victim.stat().st_mtime_ns,
            victim.stat().st_size,
        )

    def test_attempt_output_symlink_is_not_followed(self, files_ws: Workspace) -> None:
        """An output file planted as a symlink (its name is predictable) is never written through."""
        ws = files_ws
        logs = ws.root / ".runner" / "logs"
        for item in ("one", "two", "three"):
            prefix = item_prefix(logs, "t", item)
            for kind in ("stdout", "stderr"):
                plant(ws, str(Path(f"{prefix}.1.{kind}").relative_to(ws.root)))
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert VICTIM_TEXT == (ws.root / "victim.txt").read_text()
        assert result.returncode in (exitcodes.OK, exitcodes.ITEMS_IN_ERROR)

    @pytest.mark.parametrize("suffix", ["-wal", "-shm"])
    def test_symlinked_sqlite_side_files_are_refused(
        self, files_ws: Workspace, suffix: str
    ) -> None:
        """A symlink planted at the state's -wal or -shm file is refused with exit 2 and a clear message."""
        ws = files_ws
        plant(ws, f".runner/state.db{suffix}")
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert VICTIM_TEXT == (ws.root / "victim.txt").read_text()
        assert exitcodes.BAD_CONFIG == result.returncode, result.stderr[-2000:]
        assert "is a symbolic link" in result.stderr


def modes(root: Path) -> dict[str, str]:
    """Octal permission bits of every path under `root`."""
    return {
        p.relative_to(root).as_posix(): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in [root, *root.rglob("*")]
    }


class TestModes:
    def test_everything_created_is_private(self, ws: Workspace) -> None:
        """After a run, every file the runner made is 0600 and every directory 0700."""
        ws.write("pipeline.yaml", settings(2) + PIPELINE)
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert exitcodes.OK == result.returncode, result.stderr[-2000:]
        found = modes(ws.root / ".runner")
        wrong = {
            path: mode
            for path, mode in found.items()
            if mode != ("0o700" if (ws.root / ".runner" / path).is_dir() else "0o600")
            and not (path.endswith("nothing-processed") and mode == "0o400")
        }
        assert {} == wrong
        assert 6 <= sum(1 for p in found if p.endswith((".stdout", ".stderr")))

    def test_private_dir_creates_every_missing_parent_0700(self, tmp_path: Path) -> None:
        """ensure_runner_dir makes each missing ancestor 0700, not only the last one."""
        ensure_runner_dir(tmp_path / "a" / "b" / "c")
        assert ["0o700", "0o700", "0o700"] == [
            oct(stat.S_IMODE((tmp_path / p).stat().st_mode)) for p in ("a", "a/b", "a/b/c")
        ]


DISK_PIPELINE = """
groups:
  g: {{members: [{members}]}}
definitions:
  d:
    command: [sh, -c, 'head -c 1500000 /dev/zero | tr "\\0" x; head -c 1500000 /dev/zero | tr "\\0" y >&2']
policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p}}
"""
DISK_ITEMS = 20


@pytest.fixture
def small_disk(ws: Workspace) -> Iterator[Path]:
    """An 8 MiB tmpfs at <workspace>/disk (skipped where mounting is not allowed, except under CI)."""
    disk = ws.root / "disk"
    disk.mkdir(mode=0o700)
    if shutil.which("mount") is None:
        require_system("mount", "the full-disk case needs a small tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        require_system("tmpfs mount", f"{mounted.stderr.strip()} (needs root or CAP_SYS_ADMIN)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def disk_pipeline(ws: Workspace) -> None:
    ws.write(
        "pipeline.yaml",
        textwrap.dedent(
            """\
            version: 1
            settings:
              state: disk/state.db
              logs: disk/logs
              concurrency: 2
              output_limit: 1048576
              min_free_disk: 2097152
            """
        )
        + DISK_PIPELINE.format(members=", ".join(f"i{n:02d}" for n in range(DISK_ITEMS))),
    )


def free_space(disk: Path) -> None:
    """Delete the attempts' output files (what filled the disk)."""
    shutil.rmtree(disk / "logs" / "attempts", ignore_errors=True)


class TestFullDisk:
    def test_state_stays_sound_and_the_run_resumes_after_space_is_freed(
        self, ws: Workspace, small_disk: Path
    ) -> None:
        """The disk fills mid-run: no traceback, state intact; once space is freed the run finishes."""
        disk_pipeline(ws)
        first = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(first.stdout, first.stderr)
        assert exitcodes.OK != first.returncode
        with open_store(small_disk / "state.db", readonly=True) as store:
            assert "ok" == store.integrity_check()
            started_before = len(store.connection.execute("SELECT id FROM attempts").fetchall())
        free_space(small_disk)
        rounds = 0
        result = first
        while result.returncode != exitcodes.OK and rounds < DISK_ITEMS:
            result = ws.runner("run", "pipeline.yaml", "--log-format", "json")
            assert traceback_free(result.stdout, result.stderr)
            free_space(small_disk)
            rounds += 1
        assert exitcodes.OK == result.returncode, result.stderr[-2000:]
        with open_store(small_disk / "state.db", readonly=True) as store:
            assert "ok" == store.integrity_check()
            counts = store.queue_counts("t")
        assert DISK_ITEMS == sum(counts.values())
        assert set(counts) <= {q.SUCCESSFUL, q.AWAITING_INTERVENTION}
        record_figures(
            "files-full-disk",
            {
                "first_exit_code": first.returncode,
                "attempts_before_full": started_before,
                "resumes_needed": rounds,
                "queues": counts,
            },
        )

    def test_full_disk_stops_launches_with_a_clear_event(
        self, ws: Workspace, small_disk: Path
    ) -> None:
        """The disk fills mid-run: a disk event is logged, no internal error, exit 1 (run left open)."""
        disk_pipeline(ws)
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert "internal error" not in result.stderr
        assert '"event":"disk.low"' in result.stderr or '"event":"disk.full"' in result.stderr
        assert exitcodes.RUN_FAILED == result.returncode
        with open_store(small_disk / "state.db", readonly=True) as store:
            assert "ok" == store.integrity_check()
            attempts = store.connection.execute("SELECT count(*) FROM attempts").fetchone()[0]
        assert attempts < DISK_ITEMS


NOTE_PIPELINE = """\
version: 1
settings:
  state: state.db
  logs: disk/logs
  concurrency: 1
  min_free_disk: 0
  output_limit: 1048576
groups:
  g: {{members: [one]}}
definitions:
  d:
    command: [sh, -c, '{script}']
policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p}}
"""


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk to its last byte with one file, then free `leave` bytes; returns that file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (1024 * 1024, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    os.truncate(filler, filler.stat().st_size - leave)
    return filler


class TestFullDiskOutputNote:
    def test_an_output_file_cut_by_a_full_disk_says_so_in_history_and_in_the_file(
        self, ws: Workspace, small_disk: Path
    ) -> None:
        """Output that cannot be written is noted (where, why, from which byte); the outcome stays."""
        (small_disk / "logs" / "attempts").mkdir(parents=True)
        filler = fill(small_disk)
        script = f'head -c 300000 /dev/zero | tr "\\\\0" x; rm -f {filler}'
        ws.write("pipeline.yaml", NOTE_PIPELINE.format(script=script))
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert exitcodes.OK == result.returncode, result.stderr[-2000:]
        shown = ws.runner("history", "pipeline.yaml", "--task", "t", "one", "--json")
        assert exitcodes.OK == shown.returncode, shown.stderr
        (attempt,) = [e for e in json.loads(shown.stdout) if e["kind"] == "attempt"]
        assert "ok" == attempt["status"]
        error = attempt["error"] or ""
        assert ".stdout could not be written from byte 0 on" in error, error
        assert "No space left on device" in error, error
        printed = ws.runner("output", "pipeline.yaml", "--task", "t", "one")
        assert exitcodes.OK == printed.returncode, printed.stderr
        assert f"[runner: {error}]" in printed.stdout
        assert (
            error
            == json.loads(
                ws.runner("output", "pipeline.yaml", "--task", "t", "one", "--json").stdout
            )["error"]
        )
        stdout = Path(attempt["stdout"]).read_bytes()
        assert stdout.endswith(b"]\n") and b"could not be written from byte" in stdout[-400:]
        assert set(stdout[: stdout.rindex(b"\n[runner:")]) <= {ord("x")}

    def test_a_ring_file_that_cannot_be_put_in_order_says_so(
        self, ws: Workspace, small_disk: Path
    ) -> None:
        """Past output_limit the file is reordered through a copy; no room for it: a note, no loss."""
        (small_disk / "logs" / "attempts").mkdir(parents=True)
        fill(small_disk, leave=1536 * 1024)
        script = 'head -c 1200000 /dev/zero | tr "\\\\0" x'
        ws.write("pipeline.yaml", NOTE_PIPELINE.format(script=script))
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert exitcodes.OK == result.returncode, result.stderr[-2000:]
        shown = ws.runner("history", "pipeline.yaml", "--task", "t", "one", "--json")
        (attempt,) = [e for e in json.loads(shown.stdout) if e["kind"] == "attempt"]
        assert "ok" == attempt["status"]
        error = attempt["error"] or ""
        assert ".stdout could not be put in order (it holds the tail as a ring)" in error, error
        stdout = Path(attempt["stdout"]).read_bytes()
        assert stdout.endswith(f"\n[runner: {error}]\n".encode())
        assert 1048576 == stdout.index(b"\n[runner:") and set(stdout[:1048576]) == {ord("x")}
