"""What `runner run` shows: on a real pseudo-terminal, a line per item that did not end `ok`
and the live line with counts per queue; everywhere, the closing summary on stdout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

from runner import exitcodes
from runner.progress import RunProgress, format_progress
from tests.support.spawning import read_terminal
from tests.support.workspace import Workspace, settings

ITEM = """\
import sys, time
item = sys.argv[1]
time.sleep(0.3)
print("working on", item)
if item.startswith("bad"):
    print("the server refused", item, file=sys.stderr)
    sys.exit(4)
"""

PIPELINE = """
groups:
  g: {members: [ok-1, ok-2, ok-3, ok-4, bad-1, bad-2]}
definitions:
  d:
    command: ["./item.py", "{{ item.id }}"]
    outcomes:
      - {when: {exit_code: 4}, status: refused, queue: inaccessible}
policies:
  p: {max_retries: 0}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
"""

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _workspace(ws: Workspace) -> None:
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(2) + textwrap.dedent(PIPELINE))


def run_on_terminal(
    ws: Workspace, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """`runner run` with stdout and stderr on one real pseudo-terminal; (exit code, all it drew)."""
    leader, follower = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", "pipeline.yaml", "--now", *args],
            cwd=ws.root,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, **(env or {})},
        )
        os.close(follower)
        output = read_terminal(leader)
        code = process.wait(timeout=60)
    finally:
        os.close(leader)
    return code, output.decode("utf-8", "replace")


class TestOnATerminal:
    def test_only_items_that_did_not_end_ok_get_a_line(self, ws: Workspace) -> None:
        _workspace(ws)
        code, text = run_on_terminal(ws, env={"NO_COLOR": "1"})
        assert code == exitcodes.ITEMS_IN_ERROR, text
        plain = ANSI.sub("", text.replace("\r", "\n"))
        lines = plain.splitlines()
        bad = [line for line in lines if "refused -> inaccessible" in line]
        assert sorted(line.split()[2] for line in bad) == ["bad-1", "bad-2"]
        assert all("exit 4" in line and "the server refused" in line for line in bad)
        assert not any("item.started" in line or "item.finished" in line for line in lines)
        assert not any(re.search(r"\bok-\d\b", line) for line in lines if "summary" not in line)
        # the live line counts the queues as the items end
        assert re.search(r"t [0-6]/6 .*\[successful \d", plain), plain[-800:]
        # the log file still has every event
        events = [json.loads(line) for line in ws.log_text().splitlines()]
        assert len([e for e in events if e["event"] == "item.finished"]) == 6
        assert len([e for e in events if e["event"] == "item.started"]) == 6

    def test_no_color_means_no_colour(self, ws: Workspace) -> None:
        _workspace(ws)
        _, text = run_on_terminal(ws, env={"NO_COLOR": "1"})
        colours = re.findall(r"\x1b\[[0-9;]*m", text)
        assert colours == []
        _, coloured = run_on_terminal(ws)
        assert re.search(r"\x1b\[[0-9;]*m", coloured)

    def test_debug_shows_every_event(self, ws: Workspace) -> None:
        _workspace(ws)
        _, text = run_on_terminal(ws, "--log-level", "debug", env={"NO_COLOR": "1"})
        assert "item.started" in text
        assert text.count("item.finished") == 6


class TestSummary:
    def test_counts_exit_meaning_and_next_commands(self, ws: Workspace) -> None:
        _workspace(ws)
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert result.returncode == exitcodes.ITEMS_IN_ERROR
        assert result.stdout.splitlines() == [
            "summary:",
            "  t: completed-with-errors: successful 4, inaccessible 2 (total 6)",
            "exit 3: the runs completed, but items ended in error queues",
            "next: runner items pipeline.yaml --task t --category error    (which and why)",
            "      runner move pipeline.yaml --task t --from-queue inaccessible --to run-now "
            '--reason "fixed"    (run them again once fixed)',
        ]
        assert "\x1b" not in result.stdout
        # stderr stays JSON lines only
        assert all(line.startswith("{") for line in result.stderr.splitlines())

    def test_summary_on_a_terminal_too(self, ws: Workspace) -> None:
        _workspace(ws)
        _, text = run_on_terminal(ws)
        assert "summary:\r\n  t: completed-with-errors: successful 4, inaccessible 2" in text

    def test_nothing_due(self, ws: Workspace) -> None:
        _workspace(ws)
        result = ws.runner("run", "pipeline.yaml")
        assert result.returncode == exitcodes.OK
        assert result.stdout.splitlines() == [
            "nothing was due (exit 0: done)",
            "next: runner plan pipeline.yaml    (when each task runs next)",
        ]

    def test_all_ok(self, ws: Workspace) -> None:
        ws.script("item.py", ITEM)
        ws.write(
            "pipeline.yaml",
            settings(2) + textwrap.dedent(PIPELINE).replace("bad-1, bad-2", "ok-5"),
        )
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert result.returncode == exitcodes.OK
        assert result.stdout.splitlines()[1:] == [
            "  t: ok: successful 5 (total 5)",
            "exit 0: done",
            "next: runner status pipeline.yaml",
        ]


class TestLiveLine:
    def test_counts_per_queue_follow_each_items_latest_outcome(self) -> None:
        run = RunProgress(task="mig", started=0.0, total=3)
        run.item_ended("a", "retry")
        run.item_ended("b", "successful")
        run.item_ended("a", "successful")
        run.item_ended("c", "corrupt")
        run.finished, run.failed = 3, 1
        assert format_progress([run], now=60.0) == (
            "mig 3/3 (1 failed) [successful 2, corrupt 1] 3/min"
        )
