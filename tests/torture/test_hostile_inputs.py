"""Hostile inputs through the real CLI: resolver output that lies (a byte-order mark, nothing at
all, a sudden loss of most members). A `mode: once` task never runs a finished item again and a
directory hiccup never looks like "everyone left"."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

from runner import exitcodes
from runner.domain import queues as q
from tests.support.spawning import reaped, spawn_runner, traceback_free
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

IDS = ["alice", "bob", "carol", "dave"]

RESOLVER = """\
import sys
sys.stdout.buffer.write(open("directory.out", "rb").read())
"""

RECORD = """\
import os
with open("ledger.txt", "a", encoding="utf-8") as out:
    out.write(os.environ["RUNNER_ITEM"] + "\\n")
"""


@pytest.fixture
def once_ws(ws: Workspace) -> Workspace:
    """A `mode: once` task over a group resolved by a command printing `directory.out`."""
    ws.script("resolve.py", RESOLVER)
    ws.script("record.py", RECORD)
    ws.write(
        "pipeline.yaml",
        settings(2)
        + textwrap.dedent(
            """
            groups:
              g: {command: ["./resolve.py"]}
            definitions:
              d: {command: ["./record.py"]}
            tasks:
              t: {definition: d, group: g, mode: once}
            """
        ),
    )
    return ws


def publish(ws: Workspace, data: bytes) -> None:
    """What the directory answers next."""
    (ws.root / "directory.out").write_bytes(data)


def run_now(ws: Workspace) -> None:
    result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
    assert exitcodes.OK == result.returncode, result.stderr[-3000:]
    assert traceback_free(result.stdout, result.stderr)


def ledger(ws: Workspace) -> list[str]:
    return (ws.root / "ledger.txt").read_text(encoding="utf-8").splitlines()


def events(ws: Workspace, name: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in ws.log_text().splitlines())
    return [line for line in lines if line.get("event") == name]


class TestResolverOutput:
    def test_byte_order_mark_does_not_rerun_a_finished_item(self, once_ws: Workspace) -> None:
        """The directory starts answering with a byte-order mark: `alice` stays `alice`."""
        ws = once_ws
        publish(ws, "".join(f"{i}\n" for i in IDS).encode())
        run_now(ws)
        publish(ws, b"\xef\xbb\xbf" + "".join(f"{i}\n" for i in IDS).encode())
        run_now(ws)
        assert sorted(IDS) == sorted(ledger(ws))  # each ran once
        with ws.store() as store:
            assert set(IDS) == store.group_members("t")

    def test_empty_output_keeps_the_members(self, once_ws: Workspace) -> None:
        """A resolver exiting 0 with no output is refused: nobody leaves, nothing runs again,
        and the refusal is a warning naming the counts."""
        ws = once_ws
        publish(ws, "".join(f"{i}\n" for i in IDS).encode())
        run_now(ws)
        publish(ws, b"")
        run_now(ws)
        refused = events(ws, "group.shrink_refused")
        assert 1 == len(refused)
        assert refused[0]["level"] == "warning"
        assert (4, 0, 4) == (refused[0]["current"], refused[0]["resolved"], refused[0]["dropped"])
        with ws.store() as store:
            assert set(IDS) == store.group_members("t")
            assert {q.SUCCESSFUL: 4} == store.queue_counts("t")
        assert sorted(IDS) == sorted(ledger(ws))

    def test_large_drop_refused_small_drop_applied(self, once_ws: Workspace) -> None:
        """Losing 3 of 4 members at once is refused (over the default 50%); losing 1 is applied,
        and a new member joining then runs once."""
        ws = once_ws
        publish(ws, "".join(f"{i}\n" for i in IDS).encode())
        run_now(ws)
        publish(ws, b"alice\n")
        run_now(ws)
        with ws.store() as store:
            assert set(IDS) == store.group_members("t")
        publish(ws, b"alice\nbob\ncarol\nerin\n")
        run_now(ws)
        with ws.store() as store:
            assert {"alice", "bob", "carol", "erin"} == store.group_members("t")
        assert sorted([*IDS, "erin"]) == sorted(ledger(ws))
        assert 1 == len(events(ws, "group.shrink_refused"))

    def test_min_members_refuses_a_first_short_answer(self, once_ws: Workspace) -> None:
        """`min_members` guards even the first resolution: nothing runs on a short answer."""
        ws = once_ws
        text = (ws.root / "pipeline.yaml").read_text()
        ws.write(
            "pipeline.yaml",
            text.replace(
                '{command: ["./resolve.py"]}', '{command: ["./resolve.py"], min_members: 3}'
            ),
        )
        publish(ws, b"alice\n")
        run_now(ws)
        assert not (ws.root / "ledger.txt").exists()
        (refused,) = events(ws, "group.shrink_refused")
        assert "fewer than min_members (3)" in str(refused["reason"])


SERVED = """\
version: 1
settings:
  state: .runner/state.db
  logs: .runner/logs
schedules:
  hourly: {cron: "0 * * * *"}
groups:
  g: {members: "a"}
definitions:
  d: {command: ["true"]}
tasks:
  t: {definition: d, group: g, schedule: hourly}
"""


class TestHostilePipelineFiles:
    @pytest.mark.parametrize("kind", ["fifo", "dangling", "loop", "directory"])
    def test_validate_names_the_entry(self, ws: Workspace, kind: str) -> None:
        """`validate` exits 2 naming the entry; it never says "valid" with a task gone."""
        ws.write("main.yaml", SERVED)
        make_hostile(ws.root, kind)
        result = ws.runner("validate", ".")
        assert exitcodes.BAD_CONFIG == result.returncode, result.stdout + result.stderr
        assert "extra.yaml" in result.stderr
        assert traceback_free(result.stdout, result.stderr)

    def test_serve_reload_keeps_the_old_config(self, ws: Workspace) -> None:
        """A FIFO appearing in a served directory: the reload is refused and logged, the runner
        keeps serving its task (and never blocks opening the FIFO)."""
        ws.write("main.yaml", SERVED)
        server = spawn_runner(ws, "serve", ".", "--log-format", "json")
        with reaped(server):
            wait_until(lambda: "runner.started" in ws.log_text())
            make_hostile(ws.root, "fifo")
            server.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "config.invalid" in ws.log_text())
            (invalid,) = [
                json.loads(line)
                for line in ws.log_text().splitlines()
                if '"config.invalid"' in line
            ]
            assert any("a FIFO (named pipe), not a file" in e for e in invalid["errors"])
            assert server.proc.poll() is None
            server.proc.send_signal(signal.SIGTERM)
            assert exitcodes.OK == server.proc.wait(timeout=60)


def make_hostile(directory: Path, kind: str) -> None:
    """Put an `extra.yaml` entry into `directory` that is no readable file."""
    entry = directory / "extra.yaml"
    if kind == "fifo":
        os.mkfifo(entry)
    elif kind == "dangling":
        entry.symlink_to(directory / "gone.yaml")
    elif kind == "loop":
        entry.symlink_to(directory / "extra.yml.loop")
        (directory / "extra.yml.loop").symlink_to(entry)
    else:
        entry.mkdir()
