"""`runner serve` prunes on its own: `prune.done` from a real serving process; a failing
prune is logged as `prune.failed` and serve goes on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from runner import exitcodes
from runner.config import load_pipeline
from runner.serve.pruning import DailyPrune
from runner.testing import LogCapture
from tests.integration.test_prune import ITEM, attempts, pipeline_text, run_now
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace

SERVE = """\
import sys
from runner.serve import serve
raise SystemExit(serve(sys.argv[1], log_format="json", prune_after=float(sys.argv[2])))
"""


def events(ws: Workspace, name: str) -> list[dict[str, object]]:
    return [e for line in ws.log_text().splitlines() if (e := json.loads(line))["event"] == name]


def test_serve_prunes_after_its_start_and_logs_it(ws: Workspace) -> None:
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", pipeline_text("a, b"))
    run_now(ws)
    run_now(ws)
    before = attempts(ws)
    ws.write("pipeline.yaml", pipeline_text("a, b", "attempt_output: 1s"))
    time.sleep(1.1)  # the first run's attempts are now older than the retention
    ws.write("serve.py", SERVE)
    server = subprocess.Popen(
        [sys.executable, "serve.py", "pipeline.yaml", "0.5"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: events(ws, "prune.done"), what="prune.done in the log")
        done = events(ws, "prune.done")[0]
        assert done["attempt_output"] == 2
        assert {key for key, path in before.items() if not path.exists()} == {("a", 1), ("b", 1)}
        assert server.poll() is None  # still serving
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == exitcodes.OK, err


@pytest.mark.sqlite_only  # it damages the SQLite file
def test_a_failing_prune_is_logged_and_tried_again(ws: Workspace) -> None:
    ws.write("pipeline.yaml", pipeline_text("a", "runs: 1d"))
    state = ws.root / ".runner" / "state.db"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"this is not a state file" * 100)
    log = LogCapture()
    pipeline = load_pipeline(ws.root / "pipeline.yaml")
    with DailyPrune(lambda: pipeline, log, first_after=0.05, every=0.05):
        wait_until(lambda: len(log.named("prune.failed")) >= 2, what="two failed prunes")
    failed = log.named("prune.failed")[0]
    assert failed["log_level"] == "error"
    assert "is damaged" in str(failed["error"])  # and says how to recover:
    assert "runner state recover" in str(failed["error"])
    assert not log.named("prune.done")


def test_without_retention_nothing_is_pruned_nor_logged(ws: Workspace) -> None:
    ws.write("pipeline.yaml", pipeline_text("a"))
    log = LogCapture()
    prune = DailyPrune(lambda: load_pipeline(ws.root / "pipeline.yaml"), log)
    prune.prune_once()
    assert log.events == []
