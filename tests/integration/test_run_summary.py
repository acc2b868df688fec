"""Finish steps learn how the run went: RUNNER_RUN_STATUS and the RUNNER_RUN_SUMMARY file."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from runner import exitcodes
from runner.launch.protocol import RUN_STATUS_ENV, RUN_SUMMARY_ENV
from tests.support.workspace import Workspace, settings

ITEM = """\
import sys
item = sys.argv[1]
if item.startswith("bad-"):
    print("failing with", item, "token s3cr3t-value", file=sys.stderr)
    sys.exit(1)
"""

AFTER = f"""\
import json, os, sys
copy = {{"status": os.environ["{RUN_STATUS_ENV}"], "path": os.environ["{RUN_SUMMARY_ENV}"]}}
with open(copy["path"]) as handle:
    copy["summary"] = json.load(handle)
with open(sys.argv[1], "w") as out:
    json.dump(copy, out)
"""


def pipeline(ids: list[str], *, fail_step: bool = False) -> str:
    failing = '  - {run: ["false"], on_failure: error}\n' if fail_step else ""
    return settings(2, "  secrets: [TOKEN]\n") + (
        f"""
groups:
  g: {{members: {json.dumps(ids)}}}
definitions:
  d: {{command: ["./item.py", "{{{{ item.id }}}}"]}}
policies:
  p: {{max_retries: 0}}
tasks:
  t:
    definition: d
    group: g
    policy: p
    after:
{"    " + failing if failing else ""}      - {{run: ["./after.py", "first.json"]}}
      - {{run: ["./after.py", "second.json"]}}
"""
    )


def read(ws: Workspace, name: str) -> Any:
    return json.loads((ws.root / name).read_text())


def test_after_steps_read_status_and_summary(ws: Workspace) -> None:
    ws.script("item.py", ITEM)
    ws.script("after.py", AFTER)
    ids = ["ok-1", "bad-s3cr3t-value", "ok-2", "bad-2", "bad-3"]
    ws.write("pipeline.yaml", pipeline(ids))
    result = ws.runner("run", "pipeline.yaml", "--now", env={"TOKEN": "s3cr3t-value"})
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr

    seen = read(ws, "first.json")
    assert "completed-with-errors" == seen["status"]
    summary = seen["summary"]
    assert "completed-with-errors" == summary["status"]
    assert "t" == summary["task"]
    assert summary["run_id"].startswith("t@")
    assert 2 == summary["queues"]["successful"]
    assert 3 == summary["queues"]["awaiting-intervention"]
    assert 3 == summary["error_items_total"]
    assert {"bad-***", "bad-2", "bad-3"} == {e["id"] for e in summary["error_items"]}
    assert {("awaiting-intervention", "failed")} == {
        (e["queue"], e["status"]) for e in summary["error_items"]
    }
    path = Path(seen["path"])
    assert path.name == "after-0.summary.json"
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert b"s3cr3t-value" not in path.read_bytes()
    assert "completed-with-errors" == read(ws, "second.json")["status"]


def test_a_failed_finish_step_makes_the_next_see_failed(ws: Workspace) -> None:
    ws.script("item.py", ITEM)
    ws.script("after.py", AFTER)
    ws.write("pipeline.yaml", pipeline(["ok-1", "ok-2"], fail_step=True))
    result = ws.runner("run", "pipeline.yaml", "--now")
    assert exitcodes.RUN_FAILED == result.returncode, result.stderr
    seen = read(ws, "first.json")
    assert "failed" == seen["status"] == seen["summary"]["status"]
    assert 0 == seen["summary"]["error_items_total"]
    assert [] == seen["summary"]["error_items"]
    assert 2 == seen["summary"]["queues"]["successful"]


def test_an_all_good_run_is_ok(ws: Workspace) -> None:
    ws.script("item.py", ITEM)
    ws.script("after.py", AFTER)
    ws.write("pipeline.yaml", pipeline(["ok-1"]))
    result = ws.runner("run", "pipeline.yaml", "--now")
    assert exitcodes.OK == result.returncode, result.stderr
    assert "ok" == read(ws, "first.json")["status"]
    assert "ok" == read(ws, "second.json")["summary"]["status"]
