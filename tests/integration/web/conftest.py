"""Workspaces whose state a real `runner run` made, for the console's tests."""

from __future__ import annotations

import json
import textwrap

import pytest

from runner import exitcodes
from tests.support.workspace import Workspace, settings

ITEM = """\
import sys
item = sys.argv[1]
print("working on", item)
if item.startswith("fail-"):
    print("it went wrong with", item, file=sys.stderr)
    sys.exit(4)
"""

PIPELINE = """
groups:
  g: {file: items.jsonl}
definitions:
  d:
    command: ["./item.py", "{{ item.id }}"]
policies:
  p: {max_retries: 0}
tasks:
  t: {definition: d, group: g, policy: p}
"""

FAILED = ["fail-1", "fail-2", "fail-3"]
HOSTILE = [
    "<script>alert('id')</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    'quote\'s "double"',
    "\u202eRTL-override",
    "&amp; entity",
]
"""Ids from the project's hostile corpus that a group accepts (newline and NUL it refuses)."""


def make_state(ws: Workspace, ids: list[str]) -> Workspace:
    """A workspace whose task `t` ran once over `ids`; ids starting with fail- failed."""
    ws.script("item.py", ITEM)
    ws.write("items.jsonl", "".join(json.dumps({"id": i}) + "\n" for i in ids))
    ws.write("pipeline.yaml", settings(4) + textwrap.dedent(PIPELINE))
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
    expected = exitcodes.ITEMS_IN_ERROR if any(i.startswith("fail-") for i in ids) else 0
    assert expected == result.returncode, result.stderr
    return ws


@pytest.fixture
def ran(ws: Workspace) -> Workspace:
    """Task `t` ran once: four items successful, three failed (awaiting intervention)."""
    return make_state(ws, ["ok-1", "ok-2", "ok-3", "ok-4", *FAILED])


@pytest.fixture
def hostile(ws: Workspace) -> Workspace:
    """Task `t` ran once over the hostile ids (and one failure, so a move has a candidate)."""
    return make_state(ws, [*HOSTILE, "fail-1"])
