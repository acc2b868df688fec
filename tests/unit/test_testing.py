"""The public test helpers of runner.testing behave as documented."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from runner.process import LaunchSpec
from runner.testing import FakeClock, FakeLauncher, LogCapture, Script


def spec(item: str, tmp_path: Path, **extra: Any) -> LaunchSpec:
    return LaunchSpec(argv=["cmd", item], cwd=tmp_path, env={"RUNNER_ITEM": item}, **extra)


def test_scripts_are_used_in_order_then_the_last_repeats(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    launcher.script("a", Script(exit_code=1), Script(exit_code=2))
    codes = [launcher(spec("a", tmp_path)).exit_code for _ in range(3)]
    assert codes == [1, 2, 2]
    assert launcher(spec("other", tmp_path)).exit_code == 0
    assert launcher.launched("a") == 3
    assert len(launcher.specs) == 4


def test_steps_are_keyed_by_label_and_others_by_command(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    launcher.script("before[0]", Script(exit_code=4))
    launcher.script("resolve group", Script(exit_code=5))
    step = LaunchSpec(argv=["x"], cwd=tmp_path, env={"RUNNER_STEP": "before[0]"})
    plain = LaunchSpec(argv=["resolve", "group"], cwd=tmp_path, env={})
    assert launcher(step).exit_code == 4
    assert launcher(plain).exit_code == 5


def test_output_and_events_are_written_and_reported(tmp_path: Path) -> None:
    seen: list[list[bytes]] = []
    launcher = FakeLauncher()
    launcher.script("a", Script(stdout="out", stderr="err", events=['{"processed": "s1"}']))
    result = launcher(
        spec(
            "a",
            tmp_path,
            stdout_path=tmp_path / "o",
            stderr_path=tmp_path / "e",
            events_path=tmp_path / "ev",
            on_events=seen.append,
        )
    )
    assert (result.stdout_tail, result.stderr_tail) == ("out", "err")
    assert (tmp_path / "o").read_text() == "out"
    assert (tmp_path / "ev").read_text() == '{"processed": "s1"}\n'
    assert seen == [[b'{"processed": "s1"}']]


def test_a_duration_waits_for_the_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock(start=100.0)
    launcher = FakeLauncher(clock)
    launcher.script("a", Script(duration=10))
    results = []
    worker = threading.Thread(target=lambda: results.append(launcher(spec("a", tmp_path))))
    worker.start()
    worker.join(0.1)
    assert worker.is_alive() and launcher.running == 1
    clock.advance(10)
    worker.join(5)
    assert not worker.is_alive()
    assert results[0].outcome == "exited"
    assert results[0].duration_s == 10
    assert launcher.most_running == 1 and launcher.running == 0


def test_a_cancelled_launch_is_interrupted(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    release, cancel = threading.Event(), threading.Event()
    launcher.script("a", Script(release=release))
    cancel.set()
    result = launcher(spec("a", tmp_path), cancel)
    assert result.outcome == "interrupted"
    assert result.exit_code is None


def test_log_capture_keeps_events_as_dicts() -> None:
    log = LogCapture()
    log.bind(site="main").warning("run.stopped", task="t")
    log.info("other")
    assert log.named("run.stopped") == [
        {"event": "run.stopped", "log_level": "warning", "site": "main", "task": "t"}
    ]
    assert len(log.events) == 2
