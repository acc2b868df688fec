"""The live progress line: shown on a terminal, never in the JSON stream."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from runner import exitcodes
from runner.progress import RunProgress, format_progress
from tests.support.spawning import read_terminal
from tests.support.workspace import Workspace, settings

PIPELINE = """
groups:
  g: {members: [a, b, c, d, e, f]}
definitions:
  d: {command: ["./slow.py"]}
tasks:
  t: {definition: d, group: g}
"""


def _workspace(ws: Workspace) -> None:
    ws.script("slow.py", "import time; time.sleep(0.7)\n")
    ws.write("pipeline.yaml", settings(2) + PIPELINE)


class TestProgressLine:
    def test_shown_on_a_terminal(self, ws: Workspace) -> None:
        """With stderr on a terminal, a live `task done/total` line is drawn under the console logs."""
        _workspace(ws)
        leader, follower = os.openpty()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "runner", "run", "pipeline.yaml", "--now"],
                cwd=ws.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=follower,
            )
            os.close(follower)
            output = read_terminal(leader)
            assert exitcodes.OK == process.wait(timeout=60)
        finally:
            os.close(leader)
        text = output.decode("utf-8", "replace")
        assert "\r\x1b[K" in text
        assert re.search(r"\x1b\[Kt [0-6]/6 ", text), text[-500:]

    def test_absent_from_json_stderr(self, ws: Workspace) -> None:
        """When stderr is not a terminal, it carries JSON lines only: no progress line."""
        _workspace(ws)
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert exitcodes.OK == result.returncode
        assert "\x1b[K" not in result.stderr
        assert all(line.startswith("{") for line in result.stderr.splitlines())


class TestFormat:
    def test_counts_rate_and_eta(self) -> None:
        """A segment shows done/total, failures, the rate per minute and the time left."""
        run = RunProgress(task="mig", started=0.0, total=100, finished=30, failed=2)
        assert "mig 30/100 (2 failed) 30/min ETA 2:20" == format_progress([run], now=60.0)

    def test_no_eta_before_the_first_item(self) -> None:
        """Without a finished item there is no rate, so no ETA is guessed."""
        run = RunProgress(task="mig", started=0.0, total=10)
        assert "mig 0/10 0/min" == format_progress([run], now=5.0)
