"""Hand moves to `successful` (with a reason, marked manual) and `incorrect-format`, and the
default reason of a move made without one, over real runs of a real script."""

from __future__ import annotations

import json
import textwrap

import pytest

from runner import exitcodes
from runner.domain.queues import done_by_hand
from tests.integration.test_operator_cli import validate
from tests.support.workspace import Workspace, settings

ITEM = """\
import sys
print("tried", sys.argv[1])
sys.exit(0 if sys.argv[1].startswith("ok") else 1)
"""

PIPELINE = """
groups:
  g: {members: [ok-1, bad-1, bad-2]}
definitions:
  d: {command: ["./item.py", "{{ item.id }}"]}
policies:
  p: {max_retries: 0}
tasks:
  once: {definition: d, group: g, policy: p, mode: once}
  again: {definition: d, group: g, policy: p}
"""


@pytest.fixture
def ran(ws: Workspace) -> Workspace:
    """Both tasks ran once: ok-1 successful, bad-1 and bad-2 awaiting intervention."""
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(2) + textwrap.dedent(PIPELINE))
    result = ws.runner("run", "pipeline.yaml", "--now")
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    return ws


def move(ws: Workspace, *args: str) -> tuple[int, str]:
    result = ws.runner("move", "pipeline.yaml", *args)
    return result.returncode, result.stderr


def history(ws: Workspace, task: str, item: str) -> list[dict[str, object]]:
    result = ws.runner("history", "pipeline.yaml", "--task", task, item, "--json")
    assert exitcodes.OK == result.returncode, result.stderr
    shown: list[dict[str, object]] = json.loads(result.stdout)
    validate("history", shown)
    return shown


def test_successful_needs_a_reason(ran: Workspace) -> None:
    """Without --reason (or with a blank one) nothing moves and the message says what to add."""
    for reason in ([], ["--reason", "  "]):
        code, err = move(ran, "--task", "once", "--to", "successful", "bad-1", *reason)
        assert exitcodes.BAD_CONFIG == code
        assert "nothing was moved: a move to 'successful' marks the item done by hand" in err
        assert "--reason TEXT" in err
    with ran.store() as store:
        assert [] == store.moves_of("once", "bad-1")


def test_moved_to_successful_is_manual_and_never_runs_again_once(ran: Workspace) -> None:
    """mode: once: an item moved to successful by hand is done: later runs never start it."""
    code, err = move(
        ran, "--task", "once", "--to", "successful", "--reason", "copied by hand", "bad-1"
    )
    assert exitcodes.OK == code, err
    shown = history(ran, "once", "bad-1")
    (moved,) = [e for e in shown if e["kind"] == "move"]
    assert (True, "copied by hand", "successful") == (moved["manual"], moved["reason"], moved["to"])
    text = ran.runner("history", "pipeline.yaml", "--task", "once", "bad-1").stdout
    assert "now in successful (moved there by hand)" in text.splitlines()[0]
    assert "awaiting-intervention -> successful manual by" in text
    for _ in range(2):
        result = ran.runner("run", "pipeline.yaml", "--now", "--task", "once")
        assert result.returncode in (exitcodes.OK, exitcodes.ITEMS_IN_ERROR), result.stderr
    with ran.store() as store:
        assert 1 == len(store.attempts_of("once", "bad-1"))
        row = store.item("once", "bad-1")
        assert row is not None and "successful" == row.queue


def test_recurring_item_that_ran_since_is_no_longer_manual(ran: Workspace) -> None:
    """A recurring task runs the item again; once an attempt ended after the move, the success
    is no longer the operator's."""
    code, err = move(ran, "--task", "again", "--to", "successful", "--reason", "fixed", "ok-1")
    assert exitcodes.BAD_CONFIG == code and "already in 'successful'" in err
    code, err = move(ran, "--task", "again", "--to", "successful", "--reason", "fixed", "bad-2")
    assert exitcodes.OK == code, err
    text = ran.runner("history", "pipeline.yaml", "--task", "again", "bad-2").stdout
    assert "(moved there by hand)" in text
    ran.write("item.py", "#!/bin/sh\nexit 0\n")
    result = ran.runner("run", "pipeline.yaml", "--now", "--task", "again")
    assert exitcodes.OK == result.returncode, result.stderr
    text = ran.runner("history", "pipeline.yaml", "--task", "again", "bad-2").stdout
    assert "now in successful;" in text.splitlines()[0]


def test_incorrect_format_with_the_default_reason(ran: Workspace) -> None:
    """incorrect-format is an operator target; a move without --reason records who and how."""
    code, err = move(ran, "--task", "once", "--to", "incorrect-format", "--by", "alice", "bad-2")
    assert exitcodes.OK == code, err
    (moved,) = [e for e in history(ran, "once", "bad-2") if e["kind"] == "move"]
    assert ("moved by alice with runner move", False) == (moved["reason"], moved["manual"])
    status = ran.runner("status", "pipeline.yaml", "--task", "once", "--json")
    (task,) = json.loads(status.stdout)["tasks"]
    assert 1 == task["queues"]["incorrect-format"]


class TestDoneByHand:
    """queues.done_by_hand: the manual flag of an item."""

    def test_cases(self) -> None:
        assert done_by_hand("successful", "successful", 10.0, None)
        assert done_by_hand("successful", "successful", 10.0, 9.0)
        assert done_by_hand("successful", "successful", 10.0, 10.0)  # applied as it ended
        assert not done_by_hand("successful", "successful", 10.0, 11.0)
        assert not done_by_hand("successful", "run-now", 10.0, 9.0)
        assert not done_by_hand("successful", None, None, 9.0)
        assert not done_by_hand("paused", "successful", 10.0, None)
