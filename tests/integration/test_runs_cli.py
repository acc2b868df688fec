"""`runner runs`: a task's runs through the real CLI, on a state made by real `runner run`s."""

from __future__ import annotations

import textwrap

from runner import exitcodes
from tests.integration.test_operator_cli import cli_json, validate
from tests.support.workspace import Workspace, settings

PIPELINE = """
groups:
  g: {members: [a, b, fail-c]}
definitions:
  d: {command: ["./item.py", "{{ item.id }}"]}
policies:
  p: {max_retries: 0}
tasks:
  t: {definition: d, group: g, policy: p}
  other: {definition: d, group: g, policy: p}
"""

ITEM = """\
import sys
sys.exit(4 if sys.argv[1].startswith("fail-") else 0)
"""


def two_runs(ws: Workspace) -> Workspace:
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(2) + textwrap.dedent(PIPELINE))
    # the first run leaves fail-c in an error queue; the second reruns a and b only
    for code in (exitcodes.ITEMS_IN_ERROR, exitcodes.OK):
        result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
        assert code == result.returncode, result.stderr
    return ws


def test_runs_newest_first_with_counts(ws: Workspace) -> None:
    """Each run's outcome and attempts by status; the newest first; paging by --limit/--offset."""
    two_runs(ws)
    runs = cli_json(ws, "runs", "pipeline.yaml", "--task", "t")
    validate("runs", runs)
    assert 2 == len(runs)
    assert runs[0]["started"] >= runs[1]["started"]
    first, second = runs[1], runs[0]
    assert {"ok": 2, "failed": 1} == first["attempts"]
    assert "completed-with-errors" == first["status"]
    assert "now" == first["trigger"]
    assert first["ended"] is not None
    assert first["duration_s"] >= 0
    assert {"ok": 2} == second["attempts"]
    assert "ok" == second["status"]
    page = cli_json(ws, "runs", "pipeline.yaml", "--task", "t", "--limit", "1", "--offset", "1")
    assert [first["id"]] == [r["id"] for r in page]
    assert [] == cli_json(ws, "runs", "pipeline.yaml", "--task", "other")


def test_runs_table_and_unknown_task(ws: Workspace) -> None:
    """The table names each run; an unknown task is a usage error naming the nearest."""
    two_runs(ws)
    table = ws.runner("runs", "pipeline.yaml", "--task", "t", "--limit", "1")
    assert exitcodes.OK == table.returncode, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "TRIGGER", "STATUS"]
    assert "runs 1-1 of 2; next: --offset 1" in lines[-1]
    wrong = ws.runner("runs", "pipeline.yaml", "--task", "tt")
    assert exitcodes.BAD_CONFIG == wrong.returncode
    assert "did you mean 't'" in wrong.stderr
