"""A limit per attribute that binds at every start keeps the dispatcher's lookahead.

Attempts recorded ahead of a free slot wait for their value to have room; they do not count as
running for their limit. In-process (fake launcher and clock): no timing is asserted, only how
many attempts are recorded ahead and how many run at once per value.
"""

from __future__ import annotations

import textwrap
import threading
from collections import Counter
from pathlib import Path

from runner.config import load_pipeline
from runner.domain.runs import RUN_OK, TRIGGER_NOW
from runner.engine import Engine, RunReport, RunRequest
from runner.process import LaunchSpec, ProcessResult
from runner.state import open_store
from runner.testing import FakeClock, FakeLauncher, LogCapture, Script

ITEMS = 40
FAST = 4
"""The first items of each server end at once (so that the lookahead grows to its most)."""

PIPELINE = """\
version: 1
settings: {{state: state.db, logs: logs, concurrency: 2}}
groups:
  g: {{members: [{members}]}}
definitions:
  d: {{command: ["x", "{{{{ item.id }}}}"]}}
policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once, limits: [{{per: server, max: 1}}]}}
"""


def server(n: int) -> str:
    return "ab"[n % 2]


class PerValue(FakeLauncher):
    """A fake launcher that counts its launches in progress per server (the item id's prefix)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self._count = threading.Lock()

    def __call__(self, spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
        value = spec.env["RUNNER_ITEM"][0]
        with self._count:
            self.now[value] += 1
            self.most[value] = max(self.most[value], self.now[value])
        try:
            return super().__call__(spec, cancel)
        finally:
            with self._count:
                self.now[value] -= 1


def test_attempts_are_recorded_ahead_while_the_limit_binds(tmp_path: Path) -> None:
    """Concurrency 2, items alternating between servers a and b, at most 1 per server: while
    one item of each server runs (held), the next items of both servers are recorded ahead,
    ready for the slot that frees; still never more than one runs per server."""
    ids = [f"{server(n)}{n:02d}" for n in range(ITEMS)]
    members = ", ".join(f"{{id: {i}, server: {i[0]}}}" for i in ids)
    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent(PIPELINE.format(members=members)))
    clock = FakeClock()
    launcher = PerValue(clock)
    release = threading.Event()
    held = ids[FAST : FAST + 2]  # one of each server
    for item in held:
        launcher.script(item, Script(release=release))
    reports: list[RunReport] = []
    ended = threading.Event()

    def run() -> None:
        try:
            execute()
        finally:
            ended.set()

    def execute() -> None:
        with open_store(tmp_path / "state.db") as store:
            engine = Engine(
                load_pipeline(tmp_path / "pipeline.yaml"),
                store,
                site="main",
                log=LogCapture(),
                now=clock,
                env={},
                launcher=launcher,
                idle=clock.advance,
            )
            try:
                reports.extend(engine.execute([RunRequest("t", TRIGGER_NOW)]))
            finally:
                engine.close()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        while launcher.running < 2 and not ended.is_set():
            clock.wait_until(clock() + 0.5, ended)  # the loop's idle waits move the clock
        assert launcher.running == 2
        # a few more cycles of the main loop, each of which may record attempts ahead
        clock.wait_until(clock() + 5, ended)
        with open_store(tmp_path / "state.db", readonly=True) as store:
            open_attempts = store.open_attempts("main")
        recorded = Counter(a.item_id[0] for a in open_attempts)
        assert launcher.running == 2  # nothing else started while the held ones run
        assert launcher.now == Counter({"a": 1, "b": 1})
        # without a lookahead only the two held items would be open; with it, the next ones of
        # both servers wait recorded (none of them launched)
        assert recorded["a"] > 1
        assert recorded["b"] > 1
        assert len(open_attempts) > 2 + 4
    finally:
        release.set()
        worker.join(60)
    assert not worker.is_alive()
    [report] = reports
    assert report.status == RUN_OK
    assert sorted(ids) == sorted(spec.env["RUNNER_ITEM"] for spec in launcher.specs)
    assert launcher.most == Counter({"a": 1, "b": 1})
