"""Integration tests of runner.process: real child processes, real files."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from runner.process import (
    MARKER_ENV,
    TAIL_BYTES,
    LaunchSpec,
    ProcessResult,
    kill_tree,
    reap_orphans,
    run_capture,
    run_process,
    sweep_marker,
)
from tests.support.programs import PROGRAMS
from tests.support.system import require_system
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def helper(name: str, *args: str) -> list[str]:
    """The argv that runs one of the helper child programs."""
    return [sys.executable, str(PROGRAMS / name), *args]


def is_alive(pid: int) -> bool:
    """True if the pid runs (a zombie is dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def await_death(pid: int, timeout: float = 30.0) -> bool:
    """Wait (on a pidfd, no polling) until the pid exits; True if it did within `timeout`."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(readable)


def marked_alive(marker: str) -> list[int]:
    """Pids of running processes whose environment carries the marker."""
    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        environ = proc.info["environ"] or {}
        if environ.get(MARKER_ENV) == marker and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


def reported_pids(result: ProcessResult) -> dict[str, int]:
    """`role pid` lines printed by tree.py, as a mapping."""
    return {
        line.split()[0]: int(line.split()[1]) for line in result.stdout_tail.splitlines() if line
    }


SCALED_TIMEOUTS = (0.7, 1.4, 2.8, 5.6, 11.2)
"""Timeouts a timing-bound test tries in turn, until the machine kept up with one of them."""


def _read_events(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _gaps(start: float, stamps: list[float]) -> list[float]:
    """The intervals from `start` through each stamp (monotonic seconds)."""
    points = [start, *stamps]
    return [later - earlier for earlier, later in itertools.pairwise(points)]


def in_thread(function: Callable[[], ProcessResult]) -> ProcessResult:
    """Run a call in a thread and fail (instead of hanging the suite) if it never returns."""
    box: list[ProcessResult] = []
    thread = threading.Thread(target=lambda: box.append(function()), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert [False] == [thread.is_alive()], "run_process did not return"
    return box[0]


@pytest.fixture
def env() -> dict[str, str]:
    """A complete environment for the children."""
    return dict(os.environ)


@pytest.fixture
def marker() -> str:
    """A unique attempt marker."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a test leaves running on purpose; killed at teardown."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


class TestExit:
    def test_exit_code_is_reported(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A child that exits 7 gives outcome `exited` with exit code 7 and no signal."""
        result = run_process(LaunchSpec(argv=["/bin/sh", "-c", "exit 7"], cwd=tmp_path, env=env))
        assert ("exited", 7, None) == (result.outcome, result.exit_code, result.signal)

    def test_signal_death_is_reported(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A child killed by a signal has no exit code and the signal number set."""
        spec = LaunchSpec(argv=["/bin/sh", "-c", "kill -USR1 $$"], cwd=tmp_path, env=env)
        result = run_process(spec)
        assert ("exited", None, signal.SIGUSR1) == (
            result.outcome,
            result.exit_code,
            result.signal,
        )

    def test_both_streams_are_in_the_tails(self, tmp_path: Path, env: dict[str, str]) -> None:
        """What the child prints on stdout and stderr comes back in the tails."""
        spec = LaunchSpec(argv=["/bin/sh", "-c", "echo out; echo err >&2"], cwd=tmp_path, env=env)
        result = run_process(spec)
        assert ("out\n", "err\n") == (result.stdout_tail, result.stderr_tail)

    def test_child_gets_exactly_the_given_environment_and_marker(self, tmp_path: Path) -> None:
        """The child's environment is the given mapping plus RUNNER_ATTEMPT_MARKER."""
        spec = LaunchSpec(argv=["/usr/bin/env"], cwd=tmp_path, env={"ONLY": "this"}, marker="m-1")
        result = run_process(spec)
        assert sorted(["ONLY=this", f"{MARKER_ENV}=m-1"]) == sorted(result.stdout_tail.split())

    def test_stdin_is_empty(self, tmp_path: Path, env: dict[str, str]) -> None:
        """The child reads end-of-file at once from stdin."""
        result = run_process(LaunchSpec(argv=["/bin/cat"], cwd=tmp_path, env=env))
        assert ("exited", 0, "") == (result.outcome, result.exit_code, result.stdout_tail)

    def test_argument_with_shell_syntax_stays_one_argument(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """Without shell, `x; touch CANARY` is one argument and runs nothing."""
        spec = LaunchSpec(argv=["/bin/echo", "x; touch CANARY"], cwd=tmp_path, env=env)
        result = run_process(spec)
        assert ("x; touch CANARY\n", False) == (
            result.stdout_tail,
            (tmp_path / "CANARY").exists(),
        )

    def test_shell_runs_the_script(self, tmp_path: Path, env: dict[str, str]) -> None:
        """With shell=True the single string is a /bin/sh script."""
        spec = LaunchSpec(argv=["touch CANARY && echo made"], cwd=tmp_path, env=env, shell=True)
        result = run_process(spec)
        assert ("made\n", True) == (result.stdout_tail, (tmp_path / "CANARY").exists())

    def test_shell_with_several_elements_fails_to_start(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """A shell command given as several elements is refused with a message, not run."""
        spec = LaunchSpec(argv=["echo", "hi"], cwd=tmp_path, env=env, shell=True)
        result = run_process(spec)
        assert ("start-failed", True) == (result.outcome, "one script string" in str(result.error))


class TestStartFailure:
    def test_missing_program(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A missing program is `start-failed` with the OS message naming it."""
        result = run_process(LaunchSpec(argv=["./missing"], cwd=tmp_path, env=env))
        assert ("start-failed", "No such file or directory: './missing'", None) == (
            result.outcome,
            result.error,
            result.pid,
        )

    def test_file_that_is_not_executable(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A file without execute permission is `start-failed`: permission denied."""
        script = tmp_path / "script.sh"
        script.write_text("#!/bin/sh\necho hi\n")
        script.chmod(0o644)
        result = run_process(LaunchSpec(argv=["./script.sh"], cwd=tmp_path, env=env))
        assert ("start-failed", "Permission denied: './script.sh'") == (
            result.outcome,
            result.error,
        )

    def test_missing_working_directory(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A working directory that does not exist is `start-failed` naming the directory."""
        cwd = tmp_path / "absent"
        result = run_process(LaunchSpec(argv=["/bin/true"], cwd=cwd, env=env))
        assert ("start-failed", f"No such file or directory: '{cwd}'") == (
            result.outcome,
            result.error,
        )

    def test_empty_command(self, tmp_path: Path, env: dict[str, str]) -> None:
        """An empty argv is `start-failed` with a message, not an exception."""
        result = run_process(LaunchSpec(argv=[], cwd=tmp_path, env=env))
        assert ("start-failed", True) == (result.outcome, "empty" in str(result.error))

    def test_cancelled_before_start_starts_nothing(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """A cancel already set gives `interrupted` without starting the child."""
        cancel = threading.Event()
        cancel.set()
        spec = LaunchSpec(argv=["touch", "CANARY"], cwd=tmp_path, env=env)
        result = run_process(spec, cancel)
        assert ("interrupted", None, False) == (
            result.outcome,
            result.pid,
            (tmp_path / "CANARY").exists(),
        )


class TestKilling:
    def test_timeout_kills_the_whole_tree(
        self, tmp_path: Path, env: dict[str, str], marker: str
    ) -> None:
        """A timeout kills three levels, a TERM-ignoring grandchild and a setsid one included.

        The kill is checked on every try; a try whose timeout came before the whole tree had
        started (a slow machine) is repeated with twice the timeout.
        """
        roles = {"top", "middle", "stubborn", "escapee"}
        for timeout in SCALED_TIMEOUTS:
            spec = LaunchSpec(
                argv=helper("tree.py", "top"),
                cwd=tmp_path,
                env=env,
                timeout=timeout,
                grace=0.5,
                marker=marker,
            )
            result = run_process(spec)
            pids = reported_pids(result)
            assert "timeout" == result.outcome
            assert [] == [pid for pid in pids.values() if is_alive(pid)]
            assert [] == marked_alive(marker)
            if roles == set(pids):
                break
        assert roles == set(pids)

    def test_idle_child_is_hung(self, tmp_path: Path, env: dict[str, str]) -> None:
        """No output and no events for idle_timeout seconds gives `hung`, and the child dies."""
        spec = LaunchSpec(
            argv=["/bin/sh", "-c", "echo started; sleep 60"],
            cwd=tmp_path,
            env=env,
            idle_timeout=0.3,
            grace=1.0,
        )
        result = run_process(spec)
        assert ("hung", "started\n", signal.SIGTERM) == (
            result.outcome,
            result.stdout_tail,
            result.signal,
        )

    def test_events_growth_counts_as_activity(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A child that prints nothing but keeps appending events is not hung.

        The child appends an event every tenth of a second for longer than the idle timeout.
        Only a try where the machine kept every gap (launch to first event included) under the
        idle timeout says anything; another is repeated with twice the idle timeout.
        """
        events = tmp_path / "events.jsonl"
        for idle in SCALED_TIMEOUTS:
            events.unlink(missing_ok=True)
            spec = LaunchSpec(
                argv=helper("events.py", str(events), str(int(idle / 0.1) + 5), "0.1", "--stamped"),
                cwd=tmp_path,
                env=env,
                idle_timeout=idle,
                events_path=events,
            )
            launched = time.monotonic()
            result = run_process(spec)
            gaps = _gaps(launched, [event["at"] for event in _read_events(events)])
            if max(gaps) < idle:
                break
        assert max(gaps) < idle, f"the machine never kept events {idle} s apart: {gaps}"
        assert ("exited", 0) == (result.outcome, result.exit_code)

    def test_cancel_interrupts(self, tmp_path: Path, env: dict[str, str], marker: str) -> None:
        """Setting the cancel event kills the child; the outcome is `interrupted`."""
        events = tmp_path / "events.jsonl"
        cancel = threading.Event()
        spec = LaunchSpec(
            argv=helper("events.py", str(events), "1", "0", "--then-wait"),
            cwd=tmp_path,
            env=env,
            events_path=events,
            on_events=lambda lines: cancel.set(),
            grace=1.0,
            marker=marker,
        )
        result = run_process(spec, cancel)
        assert ("interrupted", signal.SIGTERM, []) == (
            result.outcome,
            result.signal,
            marked_alive(marker),
        )

    def test_error_in_the_events_callback_leaves_no_child(
        self, tmp_path: Path, env: dict[str, str], marker: str
    ) -> None:
        """If on_events raises, the error propagates and the child is killed and reaped."""
        events = tmp_path / "events.jsonl"

        def explode(lines: list[bytes]) -> None:
            raise KeyError("callback failed")

        spec = LaunchSpec(
            argv=helper("events.py", str(events), "1", "0", "--then-wait"),
            cwd=tmp_path,
            env=env,
            events_path=events,
            on_events=explode,
            marker=marker,
        )
        with pytest.raises(KeyError):
            run_process(spec)
        assert [] == marked_alive(marker)

    def test_normal_exit_kills_the_rest_of_the_group(
        self, tmp_path: Path, env: dict[str, str], leftovers: list[int]
    ) -> None:
        """When the child exits, what it left in its process group is killed."""
        if not hasattr(os, "pidfd_open"):
            require_system("pidfd_open", "the group clean-up watches the child through a pidfd")
        pidfile = tmp_path / "sleeper.pid"
        spec = LaunchSpec(argv=helper("launcher.py", str(pidfile), "0"), cwd=tmp_path, env=env)
        result = in_thread(lambda: run_process(spec))
        sleeper = int(pidfile.read_text())
        leftovers.append(sleeper)
        assert ("exited", 0, True) == (result.outcome, result.exit_code, await_death(sleeper))

    def test_escaped_process_holding_the_pipes_does_not_hang_the_attempt(
        self, tmp_path: Path, env: dict[str, str], leftovers: list[int]
    ) -> None:
        """A setsid grandchild that keeps stdout open does not keep the attempt waiting."""
        code = (
            "import subprocess, sys; "
            "p = subprocess.Popen([sys.executable, '-c', "
            "'import threading; threading.Event().wait()'], start_new_session=True); "
            "print(p.pid, flush=True)"
        )
        spec = LaunchSpec(argv=[sys.executable, "-c", code], cwd=tmp_path, env=env)
        result = in_thread(lambda: run_process(spec))
        escapee = int(result.stdout_tail)
        leftovers.append(escapee)
        assert ("exited", 0, True) == (result.outcome, result.exit_code, is_alive(escapee))

    def test_wait_full_timeout_waits_and_leaves_background_alive(
        self, tmp_path: Path, env: dict[str, str], leftovers: list[int]
    ) -> None:
        """`wait: timeout` waits the whole timeout after an early success and kills nothing."""
        pidfile = tmp_path / "sleeper.pid"
        spec = LaunchSpec(
            argv=helper("launcher.py", str(pidfile), "0"),
            cwd=tmp_path,
            env=env,
            timeout=1.0,
            wait_full_timeout=True,
        )
        result = run_process(spec)
        sleeper = int(pidfile.read_text())
        leftovers.append(sleeper)
        assert ("exited", 0, True, True) == (
            result.outcome,
            result.exit_code,
            result.duration_s >= 1.0,
            is_alive(sleeper),
        )

    def test_wait_full_timeout_reports_a_failure_at_once(
        self, tmp_path: Path, env: dict[str, str], leftovers: list[int]
    ) -> None:
        """`wait: timeout` does not sit out the timeout after a failed exit, and kills nothing."""
        pidfile = tmp_path / "sleeper.pid"
        spec = LaunchSpec(
            argv=helper("launcher.py", str(pidfile), "3"),
            cwd=tmp_path,
            env=env,
            timeout=60.0,
            wait_full_timeout=True,
        )
        result = run_process(spec)
        sleeper = int(pidfile.read_text())
        leftovers.append(sleeper)
        assert ("exited", 3, True, True) == (
            result.outcome,
            result.exit_code,
            result.duration_s < 30.0,
            is_alive(sleeper),
        )

    def test_wait_full_timeout_with_child_still_running_is_a_timeout(
        self, tmp_path: Path, env: dict[str, str], leftovers: list[int]
    ) -> None:
        """`wait: timeout` stops a still-running child at the timeout, but not what it started."""
        pidfile = tmp_path / "sleeper.pid"
        spec = LaunchSpec(
            argv=helper("launcher.py", str(pidfile), "wait"),
            cwd=tmp_path,
            env=env,
            timeout=1.0,
            grace=1.0,
            wait_full_timeout=True,
        )
        result = run_process(spec)
        sleeper = int(pidfile.read_text())
        leftovers.append(sleeper)
        assert ("timeout", signal.SIGTERM, True) == (
            result.outcome,
            result.signal,
            is_alive(sleeper),
        )


LAYER_ROLES = {"top", "hidden", "stray", "runaway"}
"""Members of layers.py's tree: each is found by one layer of the kill only."""


def layer_pids(text: str) -> dict[str, int]:
    """`role pid` lines printed by layers.py, as a mapping (the `ready` line left out)."""
    return {line.split()[0]: int(line.split()[1]) for line in text.splitlines() if " " in line}


@pytest.fixture
def layered(leftovers: list[int]) -> Callable[[dict[str, int]], None]:
    """Wait (bounded) until every member of a layers.py tree is dead; kill survivors at teardown."""

    def all_dead(pids: dict[str, int]) -> None:
        leftovers.extend(pids.values())
        wait_until(
            lambda: not [role for role, pid in pids.items() if is_alive(pid)],
            timeout=10,
            what=f"every member dead: {[r for r, p in pids.items() if is_alive(p)]} still run",
        )

    return all_dead


class TestEachKillLayer:
    """Each layer of the whole-tree kill is needed: a tree where no layer covers another.

    Descendant collection alone finds `hidden`, the final group SIGKILL alone ends `stray`,
    the marker sweep alone finds `runaway` (see tests/support/programs/layers.py).
    """

    def test_timeout_kills_every_layer(
        self,
        tmp_path: Path,
        env: dict[str, str],
        marker: str,
        layered: Callable[[dict[str, int]], None],
    ) -> None:
        """A timed-out attempt leaves none of them running (retried longer until `ready`)."""
        for timeout in SCALED_TIMEOUTS:
            spec = LaunchSpec(
                argv=helper("layers.py", "top"),
                cwd=tmp_path,
                env=env,
                timeout=timeout,
                grace=0.3,
                marker=marker,
            )
            result = run_process(spec)
            pids = layer_pids(result.stdout_tail)
            assert "timeout" == result.outcome
            layered(pids)
            if "ready" in result.stdout_tail.split():
                break
        assert ("ready", LAYER_ROLES) == (result.stdout_tail.split()[-1], set(pids))

    def test_kill_tree_kills_every_layer(
        self, marker: str, layered: Callable[[dict[str, int]], None]
    ) -> None:
        """kill_tree on a tree that is fully up leaves none of them running."""
        child = subprocess.Popen(
            helper("layers.py", "top"),
            stdout=subprocess.PIPE,
            env={**os.environ, MARKER_ENV: marker},
            start_new_session=True,
        )
        assert child.stdout is not None
        with child, child.stdout:
            lines = [child.stdout.readline().decode() for _ in range(len(LAYER_ROLES) + 1)]
            pids = layer_pids("".join(lines))
            assert ("ready\n", LAYER_ROLES) == (lines[-1], set(pids))
            kill_tree(child.pid, child.pid, marker, grace=0.3)
        layered(pids)


class TestKillTreeAndReaping:
    def test_kill_tree_kills_group_descendants_and_marked(
        self, tmp_path: Path, marker: str
    ) -> None:
        """kill_tree ends a running tree: its group, a TERM-ignorer and a setsid escapee."""
        child = subprocess.Popen(
            helper("tree.py", "top"),
            stdout=subprocess.PIPE,
            env={**os.environ, MARKER_ENV: marker},
            start_new_session=True,
        )
        assert child.stdout is not None
        with child, child.stdout:
            pids = [int(child.stdout.readline().split()[1]) for _ in range(4)]
            kill_tree(child.pid, child.pid, marker, grace=0.3)
        assert ([], []) == ([pid for pid in pids if is_alive(pid)], marked_alive(marker))

    def test_sweep_marker_kills_and_counts_marked_processes(self, marker: str) -> None:
        """sweep_marker kills every process carrying the marker and returns their number."""
        sleepers = [
            subprocess.Popen(["sleep", "60"], env={**os.environ, MARKER_ENV: marker})
            for _ in range(2)
        ]
        count = sweep_marker(marker)
        codes = [sleeper.wait() for sleeper in sleepers]
        assert (2, [-signal.SIGKILL, -signal.SIGKILL]) == (count, codes)

    def test_reaping_orphans_never_takes_a_direct_childs_status(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """reap_orphans running alongside attempts never steals their exit codes."""
        codes: list[int | None] = []
        lock = threading.Lock()
        spec = LaunchSpec(argv=["/bin/sh", "-c", "exit 7"], cwd=tmp_path, env=env)

        def attempts() -> None:
            for _ in range(40):
                result = run_process(spec)
                with lock:
                    codes.append(result.exit_code)

        threads = [threading.Thread(target=attempts) for _ in range(3)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            reap_orphans()
        for thread in threads:
            thread.join()
        assert [7] * 120 == codes

    def test_subreaper_reaps_a_killed_tree(self, tmp_path: Path) -> None:
        """As a child subreaper, the runner kills an escaped tree and leaves no zombie."""
        done = subprocess.run(
            [sys.executable, str(PROGRAMS / "subreaper_check.py"), str(PROGRAMS)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            check=True,
            timeout=120,
        )
        report = json.loads(done.stdout)
        alive = [pid for pid in report["pids"] if is_alive(pid)]
        assert (True, "timeout", 4, [], [], []) == (
            report["subreaper"],
            report["outcome"],
            len(report["pids"]),
            report["children_left"],
            report["zombies_left"],
            alive,
        )


class TestOutputFiles:
    def test_silent_child_creates_no_files(self, tmp_path: Path, env: dict[str, str]) -> None:
        """Output files are created on the first byte only."""
        spec = LaunchSpec(
            argv=["/bin/true"],
            cwd=tmp_path,
            env=env,
            stdout_path=tmp_path / "out",
            stderr_path=tmp_path / "err",
        )
        run_process(spec)
        assert [] == sorted(path.name for path in tmp_path.iterdir())

    def test_output_file_is_private_and_complete(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A stream's file has mode 0600 and holds everything printed under the limit."""
        spec = LaunchSpec(
            argv=["/bin/echo", "hello"],
            cwd=tmp_path,
            env=env,
            stdout_path=tmp_path / "logs" / "out",
            stderr_path=tmp_path / "logs" / "err",
        )
        result = run_process(spec)
        out = tmp_path / "logs" / "out"
        assert (b"hello\n", 0o600, ["out"], False) == (
            out.read_bytes(),
            stat.S_IMODE(out.stat().st_mode),
            sorted(path.name for path in out.parent.iterdir()),
            result.stdout_truncated,
        )

    def test_truncated_file_keeps_the_tail_after_a_marker(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """Beyond the limit the file holds a truncation line and the last `limit` bytes."""
        data = bytes(range(256)) * 20
        code = "import os; os.write(1, bytes(range(256)) * 20)"
        spec = LaunchSpec(
            argv=[sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            stdout_path=tmp_path / "out",
            output_limit=1000,
        )
        result = run_process(spec)
        expected = f"[... {len(data) - 1000} bytes truncated ...]\n".encode() + data[-1000:]
        assert (expected, True) == ((tmp_path / "out").read_bytes(), result.stdout_truncated)

    def test_output_of_exactly_the_limit_is_not_truncated(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """Exactly `limit` bytes are kept whole, without a truncation line."""
        spec = LaunchSpec(
            argv=[sys.executable, "-c", "import os; os.write(1, b'a' * 1000)"],
            cwd=tmp_path,
            env=env,
            stdout_path=tmp_path / "out",
            output_limit=1000,
        )
        result = run_process(spec)
        assert (b"a" * 1000, False) == ((tmp_path / "out").read_bytes(), result.stdout_truncated)

    @pytest.mark.slow
    def test_100_mb_on_both_streams_stays_bounded(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """100 MB on each stream: files stay within the limit, runner memory stays flat."""
        me = psutil.Process()
        baseline = me.memory_info().rss
        peak = [baseline]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.005):
                peak.append(me.memory_info().rss)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            spec = LaunchSpec(
                argv=helper("spew.py", str(100 * MiB), str(100 * MiB)),
                cwd=tmp_path,
                env=env,
                stdout_path=tmp_path / "out",
                stderr_path=tmp_path / "err",
                output_limit=MiB,
            )
            result = run_process(spec)
        finally:
            stop.set()
            sampler.join()
        marker_line = f"[... {100 * MiB + 13 - MiB} bytes truncated ...]\n".encode()
        out, err = (tmp_path / "out").read_bytes(), (tmp_path / "err").read_bytes()
        assert ("exited", 0, True, True) == (
            result.outcome,
            result.exit_code,
            result.stdout_truncated,
            result.stderr_truncated,
        )
        assert (MiB + len(marker_line), MiB + len(marker_line)) == (len(out), len(err))
        assert (True, True, True, True) == (
            out.startswith(marker_line),
            out.endswith(b"END-OF-STDOUT"),
            err.startswith(marker_line),
            err.endswith(b"END-OF-STDERR"),
        )
        assert max(peak) - baseline < 40 * MiB

    def test_50_mb_line_without_newline(self, tmp_path: Path, env: dict[str, str]) -> None:
        """One 50 MB line without a newline is kept as its tail, never blocking the child."""
        spec = LaunchSpec(
            argv=helper("spew.py", str(50 * MiB), "0", "--no-newline"),
            cwd=tmp_path,
            env=env,
            stdout_path=tmp_path / "out",
            output_limit=MiB,
        )
        result = run_process(spec)
        out = (tmp_path / "out").read_bytes()
        marker_line = f"[... {50 * MiB + 13 - MiB} bytes truncated ...]\n".encode()
        assert ("exited", TAIL_BYTES, True) == (
            result.outcome,
            len(result.stdout_tail),
            result.stdout_tail.endswith("x" * 100 + "END-OF-STDOUT"),
        )
        assert (marker_line + b"x" * (MiB - 13) + b"END-OF-STDOUT") == out


class TestSecrets:
    def test_secret_split_across_reads_is_masked_in_files_and_tails(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """A secret written in 3-byte pieces never reaches the files or the tails."""
        spec = LaunchSpec(
            argv=helper("dribble.py", "before s3cr3t-VALUE after", "3"),
            cwd=tmp_path,
            env=env,
            stdout_path=tmp_path / "out",
            stderr_path=tmp_path / "err",
            secrets=["s3cr3t-VALUE", ""],
        )
        result = run_process(spec)
        expected = "before *** after"
        assert (expected, expected, expected, expected) == (
            (tmp_path / "out").read_text(),
            (tmp_path / "err").read_text(),
            result.stdout_tail,
            result.stderr_tail,
        )

    def test_secret_is_masked_in_events_lines(self, tmp_path: Path, env: dict[str, str]) -> None:
        """Events lines reach the callback with secrets masked."""
        events = tmp_path / "events.jsonl"
        lines: list[bytes] = []
        code = f"open({str(events)!r}, 'w').write('{{\"detail\": \"token s3cr3t\"}}\\n')"
        spec = LaunchSpec(
            argv=[sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            events_path=events,
            on_events=lines.extend,
            secrets=["s3cr3t"],
        )
        run_process(spec)
        assert [b'{"detail": "token ***"}'] == lines


class TestEvents:
    def test_complete_lines_are_delivered(self, tmp_path: Path, env: dict[str, str]) -> None:
        """Every complete line reaches on_events in order; an unterminated last one does not."""
        events = tmp_path / "events.jsonl"
        lines: list[bytes] = []
        spec = LaunchSpec(
            argv=helper("events.py", str(events), "5", "0.05"),
            cwd=tmp_path,
            env=env,
            events_path=events,
            on_events=lines.extend,
        )
        run_process(spec)
        with events.open("a") as handle:
            handle.write('{"processed": "partial"')
        expected = [json.dumps({"processed": f"sub-{n}"}).encode() for n in range(5)]
        assert expected == lines

    def test_unterminated_last_line_is_not_delivered(
        self, tmp_path: Path, env: dict[str, str]
    ) -> None:
        """A last line without newline is not a complete event."""
        events = tmp_path / "events.jsonl"
        lines: list[bytes] = []
        code = f"open({str(events)!r}, 'w').write('one\\n\\ntwo\\r\\nthree')"
        spec = LaunchSpec(
            argv=[sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            events_path=events,
            on_events=lines.extend,
        )
        run_process(spec)
        assert [b"one", b"two"] == lines

    def test_overlong_line_is_dropped(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A line longer than 1 MiB is dropped whole; the lines around it still come."""
        events = tmp_path / "events.jsonl"
        lines: list[bytes] = []
        body = "'before\\n' + 'z' * (2 * 1024 * 1024) + '\\nafter\\n'"
        code = f"open({str(events)!r}, 'w').write({body})"
        spec = LaunchSpec(
            argv=[sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            events_path=events,
            on_events=lines.extend,
        )
        run_process(spec)
        assert [b"before", b"after"] == lines


class TestRunCapture:
    def test_captures_whole_stdout(self, tmp_path: Path, env: dict[str, str]) -> None:
        """run_capture returns the whole stdout as bytes."""
        result = run_capture(["/bin/echo", "a b"], cwd=tmp_path, env=env, timeout=30)
        assert ("exited", 0, b"a b\n", False) == (
            result.outcome,
            result.exit_code,
            result.stdout,
            result.stdout_truncated,
        )

    def test_keeps_the_first_limit_bytes(self, tmp_path: Path, env: dict[str, str]) -> None:
        """Beyond `limit` the capture stops and says it was truncated."""
        code = "import sys; sys.stdout.write('0123456789' * 10)"
        argv = [sys.executable, "-c", code]
        result = run_capture(argv, cwd=tmp_path, env=env, timeout=30, limit=15)
        assert (b"012345678901234", True) == (result.stdout, result.stdout_truncated)

    def test_timeout(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A command that outlives its timeout is killed: outcome `timeout`."""
        result = run_capture(["sleep", "60"], cwd=tmp_path, env=env, timeout=0.3)
        assert ("timeout", signal.SIGTERM) == (result.outcome, result.signal)
