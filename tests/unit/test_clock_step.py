"""The wall clock stepping backwards while a retry waits: the backoff keeps its length (the
step is not added to it), the heartbeat goes on, and the step is logged."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

from runner.config import load_pipeline
from runner.domain.runs import TRIGGER_NOW
from runner.engine import Engine, RunRequest
from runner.process import LaunchSpec, ProcessResult
from runner.state import open_store
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
