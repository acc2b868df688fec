"""A run resumed after kill -9 re-reads its group only when the group's sources changed."""

from __future__ import annotations

import json
import os
import signal
import time

from runner import exitcodes
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace

TASK = """\
definitions:
  d: {command: [sh, -c, "if [ -e block ]; then sleep 30; fi"]}
policies:
  p: {backoff: {initial: 0s}}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
"""
FILE_GROUP = "groups:\n  g: {file: items.txt}\n" + TASK
COMMAND_GROUP = "groups:\n  g: {command: [cat, items.txt]}\n" + TASK


def _events(ws: Workspace, name: str) -> list[dict[str, object]]:
    lines = ws.log_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == name]


def _write_items(ws: Workspace, ids: str, age_s: float = 3600) -> None:
    """The group file, last modified `age_s` ago (a file written just now is never trusted)."""
    path = ws.write("items.txt", ids)
    past = time.time() - age_s
    os.utime(path, (past, past))


def _killed_run(ws: Workspace, group: str) -> None:
    """A run of a, b, c killed with SIGKILL while its attempts run."""
    ws.pipeline(group)
    _write_items(ws, "a\nb\nc\n")
    ws.write("block", "")
    first = ws.spawn("run", "pipeline.yaml", "--now")
    try:
        wait_until(lambda: len(_events(ws, "item.started")) >= 3, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    (ws.root / "block").unlink()


def _resume(ws: Workspace) -> None:
    resumed = ws.runner("run", "pipeline.yaml")
    assert resumed.returncode == exitcodes.OK, resumed.stderr
    assert len(_events(ws, "run.resumed")) == 1


def test_an_unchanged_group_file_is_not_read_again(ws: Workspace) -> None:
    _killed_run(ws, FILE_GROUP)
    _resume(ws)
    assert len(_events(ws, "group.resolved")) == 1  # the first run's only
    (unchanged,) = _events(ws, "group.unchanged")
    assert unchanged["task"] == "t"
    assert unchanged["group"] == "g"
    with ws.store() as store:
        assert store.queue_counts("t") == {"successful": 3}


def test_a_changed_group_file_is_read_and_synced(ws: Workspace) -> None:
    _killed_run(ws, FILE_GROUP)
    _write_items(ws, "a\nb\nc\nd\n")
    _resume(ws)
    assert _events(ws, "group.unchanged") == []
    resolved = _events(ws, "group.resolved")
    assert [e["added"] for e in resolved] == [3, 1]
    with ws.store() as store:
        assert store.queue_counts("t") == {"successful": 4}


def test_a_group_file_touched_with_the_same_size_is_read_again(ws: Workspace) -> None:
    _killed_run(ws, FILE_GROUP)
    _write_items(ws, "a\nb\ne\n", age_s=1800)
    _resume(ws)
    assert _events(ws, "group.unchanged") == []
    assert [e["left"] for e in _events(ws, "group.resolved")] == [0, 1]


def test_a_group_file_modified_too_recently_to_trust_is_read_again(ws: Workspace) -> None:
    ws.pipeline(FILE_GROUP)
    _write_items(ws, "a\n", age_s=-3600)  # "modified" after the sync: never fingerprinted
    ws.write("block", "")
    first = ws.spawn("run", "pipeline.yaml", "--now")
    try:
        wait_until(lambda: len(_events(ws, "item.started")) >= 1, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    (ws.root / "block").unlink()
    _resume(ws)
    assert _events(ws, "group.unchanged") == []
    assert len(_events(ws, "group.resolved")) == 2


def test_a_resolver_command_always_runs_again(ws: Workspace) -> None:
    _killed_run(ws, COMMAND_GROUP)
    _resume(ws)
    assert _events(ws, "group.unchanged") == []
    assert len(_events(ws, "group.resolved")) == 2
