"""`runner report` over real runs: per-item rows as CSV and JSON, formulas defused, secrets
masked, the manual flag, metric columns; and that it streams."""

from __future__ import annotations

import csv
import io
import json
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from runner import exitcodes, operations
from runner.config import load_pipeline
from runner.domain import queues as q
from runner.state import open_store
from tests.integration.test_operator_cli import validate
from tests.support.workspace import Workspace, settings

TOOL = """\
import os, sys
item = sys.argv[1]
print(f"rows={len(item)}")
if item.startswith("bad"):
    print(f"=HYPERLINK(1) failed with {os.environ['REPORT_SECRET']}", file=sys.stderr)
    sys.exit(1)
"""

PIPELINE = r"""
groups:
  g: {members: [ok-1, ok-22, bad-1, "-odd", bad-2]}
definitions:
  d:
    command: ["./tool.py", "{{ item.id }}"]
    output_events:
      - {match: '^rows=(?P<rows>\d+)', event: metric}
    outcomes:
      - {when: {exit_code: 1, stderr: "failed"}, status: failed}
policies:
  p: {max_retries: 0}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
"""

ENV = {"REPORT_SECRET": "s3cr3t-password"}


@pytest.fixture
def ran(ws: Workspace) -> Workspace:
    ws.script("tool.py", TOOL)
    ws.write(
        "pipeline.yaml", settings(2, "  secrets: [REPORT_SECRET]\n") + textwrap.dedent(PIPELINE)
    )
    result = ws.runner("run", "pipeline.yaml", "--now", env=ENV)
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    moved = ws.runner(
        "move", "pipeline.yaml", "--task", "t", "--to", "successful", "--reason", "by hand", "bad-2"
    )
    assert exitcodes.OK == moved.returncode, moved.stderr
    return ws


def test_csv_rows_columns_and_formula_guard(ran: Workspace) -> None:
    result = ran.runner("report", "pipeline.yaml", "--task", "t", env=ENV)
    assert exitcodes.OK == result.returncode, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [*operations.REPORT_COLUMNS, "metric.rows"] == list(rows[0])
    by_id = {row["id"]: row for row in rows}
    assert ["'-odd", "bad-1", "bad-2", "ok-1", "ok-22"] == [row["id"] for row in rows]
    bad = by_id["bad-1"]
    assert (q.AWAITING_INTERVENTION, "failed", "1", "false") == (
        bad["queue"],
        bad["status"],
        bad["attempts"],
        bad["manual"],
    )
    assert "failed: exit code 1: =HYPERLINK(1) failed with ***" == bad["last_error"]
    assert "s3cr3t" not in result.stdout
    assert ("successful", "true") == (by_id["bad-2"]["queue"], by_id["bad-2"]["manual"])
    assert ("5", "4") == (by_id["bad-1"]["metric.rows"], by_id["ok-1"]["metric.rows"])
    assert "-odd" not in [row["id"] for row in rows]  # a leading '-' is guarded
    assert by_id["ok-1"]["first_start"] == by_id["ok-1"]["last_start"] != ""
    assert float(by_id["ok-1"]["duration_s"]) > 0


def test_json_is_the_documented_shape(ran: Workspace) -> None:
    result = ran.runner("report", "pipeline.yaml", "--task", "t", "--format", "json")
    assert exitcodes.OK == result.returncode, result.stderr
    shown = json.loads(result.stdout)
    validate("report", shown)
    by_id = {row["id"]: row for row in shown}
    assert "-odd" in by_id  # JSON needs no guard
    assert {"rows": 4} == by_id["ok-1"]["metrics"]
    assert (True, False) == (by_id["bad-2"]["manual"], by_id["ok-1"]["manual"])


def test_output_file_and_errors(ran: Workspace) -> None:
    result = ran.runner("report", "pipeline.yaml", "--task", "t", "--output", "out.csv")
    assert exitcodes.OK == result.returncode, result.stderr
    assert "wrote 5 items of task t to out.csv" in result.stderr
    assert 6 == len((ran.root / "out.csv").read_text().splitlines())
    assert 0o600 == (ran.root / "out.csv").stat().st_mode & 0o777
    unknown = ran.runner("report", "pipeline.yaml", "--task", "nope")
    assert exitcodes.BAD_CONFIG == unknown.returncode and "no task named 'nope'" in unknown.stderr
    (ran.root / "link.csv").symlink_to(ran.root / "elsewhere.csv")
    linked = ran.runner("report", "pipeline.yaml", "--task", "t", "--output", "link.csv")
    assert exitcodes.BAD_CONFIG == linked.returncode and "symbolic link" in linked.stderr
    assert "Traceback" not in unknown.stderr + linked.stderr


def test_rows_are_streamed_not_held(tmp_path: Path) -> None:
    """30,000 items are written while the memory held stays far below what the rows take."""
    path = tmp_path / "p.yaml"
    path.write_text(
        settings(1)
        + "groups: {g: {members: [x]}}\ndefinitions: {d: {command: [x]}}\n"
        + "tasks: {t: {definition: d, group: g}}\n"
    )
    pipeline = load_pipeline(path)
    with open_store(pipeline.state_location) as store:
        store.upsert_task("t", site="default", config_hash="c", modified_by="me", now=1.0)
        members = ((f"item-{n:06d}-" + "x" * 200, "{}", "") for n in range(30_000))
        store.sync_members("t", members, now=1.0)

    class Counting(io.StringIO):
        written = 0

        def write(self, text: str) -> int:
            self.written += len(text)
            return len(text)

    out = Counting()
    tracemalloc.start()
    with operations.report(pipeline, "t") as found:
        assert 30_000 == found.write(out, "csv")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.written > 30_000 * 200
    assert peak < out.written / 4


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_guarded_in_text_cells(start: str) -> None:
    row = operations.ReportRow(
        id=f"{start}id",
        queue="successful",
        status=f"{start}st",
        attempts=1,
        first_start=None,
        last_start=None,
        duration_s=None,
        last_error=f"{start}err",
        manual=False,
        in_group=True,
        metrics={"delta": -3.0},
    )
    cells = row.csv_cells(["delta", "absent"])
    assert [f"'{start}id", f"'{start}st", f"'{start}err"] == [cells[0], cells[2], cells[7]]
    assert [-3, ""] == cells[-2:]  # numbers stay numbers
