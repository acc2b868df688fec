"""The wall clock stepping backwards while a retry waits: the backoff keeps its length (the
step is not added to it), the heartbeat goes on, and the step is logged."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from runner.config import load_pipeline
from runner.domain.runs import TRIGGER_NOW
from runner.domain.timefmt import iso
from runner.engine import Engine, RunRequest
from runner.process import LaunchSpec, ProcessResult
from runner.state import StateStore, open_store
from runner.testing import FakeClock, FakeLauncher, LogCapture, Script

BACKOFF = 60.0
STEP = 3600.0

PIPELINE = """\
version: 1
settings:
  state: state.db
  logs: logs
  concurrency: 1
groups:
  g: {members: "a"}
definitions:
  d: {command: ["work"]}
policies:
  p: {max_retries: 1, backoff: {initial: 60s}}
tasks:
  t: {definition: d, group: g, policy: p}
"""


class SteppingClock:
    """The wall clock as the runner reads it: a fake clock that can be set back once."""

    def __init__(self, fake: FakeClock) -> None:
        self.fake = fake
        self.offset = 0.0

    def __call__(self) -> float:
        return self.fake() - self.offset


def test_a_backward_step_does_not_lengthen_a_backoff(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent(PIPELINE))
    fake = FakeClock()
    wall = SteppingClock(fake)
    launches: list[float] = []  # the fake (steady) time of each launch
    scripted = FakeLauncher()
    scripted.script("a", Script(exit_code=1), Script(exit_code=0))

    def launcher(spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
        launches.append(fake())
        return scripted(spec, cancel)

    def idle(seconds: float) -> None:
        if len(launches) == 1 and wall.offset == 0.0:
            wall.offset = STEP  # the retry is recorded and waits: NTP sets the clock back
        fake.advance(seconds)

    log = LogCapture()
    with open_store(tmp_path / "state.db") as store:
        engine = Engine(
            load_pipeline(tmp_path / "pipeline.yaml"),
            store,
            site="main",
            log=log,
            cancel=threading.Event(),
            now=wall,
            env={},
            launcher=launcher,
            idle=idle,
        )
        try:
            engine.execute([RunRequest("t", TRIGGER_NOW)])
        finally:
            engine.close()
    assert 2 == len(launches)
    waited = launches[1] - launches[0]
    assert BACKOFF <= waited < BACKOFF + 10  # not BACKOFF + STEP
    (stepped,) = [e for e in log.events if e["event"] == "clock.stepped_back"]
    assert STEP - 2 <= stepped["step_s"] <= STEP
    assert 1 == stepped["retries_moved"]
    assert "warning" == stepped["log_level"]


def test_a_backward_step_while_no_runner_ran_is_found_at_start(tmp_path: Path) -> None:
    """A runner stops while a retry waits; the clock goes back an hour before the next start.
    That start finds the site's heartbeat ahead of now, logs the step and pulls the retry back:
    it launches one backoff after the failure, and `explain` said so before the start."""
    from runner.operations import explain

    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent(PIPELINE))
    pipeline = load_pipeline(tmp_path / "pipeline.yaml")
    fake = FakeClock()
    wall = SteppingClock(fake)
    launches: list[float] = []  # the fake (steady) time of each launch
    scripted = FakeLauncher()
    scripted.script("a", Script(exit_code=1), Script(exit_code=0))

    def launcher(spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
        launches.append(fake())
        return scripted(spec, cancel)

    def engine(
        store: StateStore, log: LogCapture, cancel: threading.Event, idle: Callable[[float], None]
    ) -> Engine:
        return Engine(
            pipeline,
            store,
            site=pipeline.settings.site,
            log=log,
            cancel=cancel,
            now=wall,
            env={},
            launcher=launcher,
            idle=idle,
        )

    stop = threading.Event()

    def stop_in_backoff(seconds: float) -> None:
        stop.set()  # the retry is recorded and waits: the runner is stopped
        fake.advance(min(seconds, 5.0))

    first_log = LogCapture()
    with open_store(tmp_path / "state.db") as store:
        first = engine(store, first_log, stop, stop_in_backoff)
        try:
            first.execute([RunRequest("t", TRIGGER_NOW)])
            first.set_offline()
        finally:
            first.close()
    assert 1 == len(launches)
    with open_store(tmp_path / "state.db", readonly=True) as store:
        row = store.item("t", "a")
    assert row is not None and row.retry_at is not None

    wall.offset = STEP  # the clock goes back while no runner runs
    before = explain(pipeline, "t", "a", now=wall())
    assert "backoff" == before.reason
    assert f"until {iso(row.retry_at - STEP)} " in before.summary  # not an hour later

    log = LogCapture()
    with open_store(tmp_path / "state.db") as store:
        second = engine(store, log, threading.Event(), fake.advance)
        try:
            second.recover()
            resume = [
                RunRequest(r.task, r.trigger, r.fire_time, r.window_end, resume=r)
                for r in store.open_runs(pipeline.settings.site)
            ]
            second.execute(resume)
        finally:
            second.close()
    assert 2 == len(launches)
    assert BACKOFF <= launches[1] - launches[0] < BACKOFF + 10  # not BACKOFF + STEP
    (stepped,) = [e for e in log.events if e["event"] == "clock.stepped_back"]
    assert "start" == stepped["found_at"]
    assert STEP - 10 <= stepped["step_s"] <= STEP
    assert 1 == stepped["retries_moved"]
