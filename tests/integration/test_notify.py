"""Notifications through Apprise to a webhook receiver started by the test on 127.0.0.1.

A real `runner run` with failing items sends exactly one message per run listing them; a
receiver that is down or too slow never changes the run's outcome, and the runner finishes
its work before it gives up on the message.
"""

from __future__ import annotations

import json
import signal
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runner import exitcodes
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

TOKEN = "hook-t0ken-5ecret"

ITEM = """\
import sys, time
item = sys.argv[1]
if item == "sleepy":
    time.sleep(60)
if item.startswith("bad-"):
    sys.exit(1)
"""


class Receiver:
    """An HTTP server on 127.0.0.1 recording each POST's path and JSON body."""

    def __init__(self, delay: float = 0.0) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        received, pause = self.received, delay

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if pause:
                    time.sleep(pause)
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pipeline(ws: Workspace, port: int, ids: list[str], *, query: str = "") -> None:
    url = f"json://127.0.0.1:{port}/hook/{{{{ env.HOOK_TOKEN }}}}{query}"
    ws.script("item.py", ITEM)
    ws.write(
        "pipeline.yaml",
        settings(4, "  secrets: [HOOK_TOKEN]\n")
        + f"  notify:\n    - urls: ['{url}']\n      events: [error-items, run-failed, runner-offline]\n"
        + textwrap.dedent(
            f"""
            groups:
              g: {{members: {json.dumps(ids)}}}
            definitions:
              d: {{command: ["./item.py", "{{{{ item.id }}}}"]}}
            policies:
              p: {{max_retries: 0}}
            tasks:
              t: {{definition: d, group: g, policy: p}}
            """
        ),
    )


def events(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, ws.log_text().splitlines()) if e["event"] == name]


def test_one_message_per_run_lists_the_error_items(ws: Workspace, receiver: Receiver) -> None:
    bad = [f"bad-{n:02d}" for n in range(25)]
    pipeline(ws, receiver.port, ["ok-1", *bad, "ok-2"])
    env = {"HOOK_TOKEN": TOKEN}
    for _ in range(2):
        result = ws.runner("run", "pipeline.yaml", "--now", env=env)
        assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
        moved = ws.runner(
            "move",
            "pipeline.yaml",
            "--task",
            "t",
            "--to",
            "rescheduled",
            "--from-queue",
            "awaiting-intervention",
        )
        assert exitcodes.OK == moved.returncode, moved.stderr

    assert 2 == len(receiver.received)  # one per run, not one per item
    path, first = receiver.received[0]
    assert f"/hook/{TOKEN}" == path
    assert "runner: 25 items of t ended in error queues" == first["title"]
    listed = [line for line in first["message"].splitlines() if line.startswith("- ")]
    assert 20 == len(listed)  # capped, with the count of the others
    assert "- bad-00: awaiting-intervention (failed)" in listed
    assert "... and 5 more" in first["message"]
    assert "runner items --task t --category error" in first["message"]
    (sent, _) = events(ws, "notify.sent")
    assert {"rule": 0, "kind": "error-items", "services": 1} == {
        k: sent[k] for k in ("rule", "kind", "services")
    }
    assert 25 == events(ws, "run.finished")[0]["error_items"]
    assert TOKEN not in ws.log_text()


def test_no_message_for_a_run_without_errors(ws: Workspace, receiver: Receiver) -> None:
    pipeline(ws, receiver.port, ["ok-1", "ok-2"])
    result = ws.runner("run", "pipeline.yaml", "--now", env={"HOOK_TOKEN": TOKEN})
    assert exitcodes.OK == result.returncode, result.stderr
    assert [] == receiver.received
    assert [] == events(ws, "notify.sent") == events(ws, "notify.failed")


def test_a_receiver_that_is_down_fails_nothing(ws: Workspace) -> None:
    pipeline(ws, free_port(), ["ok-1", "bad-1"])
    result = ws.runner("run", "pipeline.yaml", "--now", env={"HOOK_TOKEN": TOKEN})
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    (failed,) = events(ws, "notify.failed")
    assert ("warning", 0, "error-items") == (failed["level"], failed["rule"], failed["kind"])
    assert failed["error"]
    assert TOKEN not in ws.log_text() and TOKEN not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_slow_receiver_does_not_hold_the_run(ws: Workspace) -> None:
    slow = Receiver(delay=8.0)
    try:
        pipeline(ws, slow.port, ["ok-1", "bad-1"], query="?rto=1&cto=1")
        result = ws.runner("run", "pipeline.yaml", "--now", env={"HOOK_TOKEN": TOKEN})
    finally:
        slow.close()
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    names = [e["event"] for e in map(json.loads, ws.log_text().splitlines())]
    # the runner finished its runs and said so before the send gave up
    assert (
        names.index("run.finished") < names.index("runner.stopped") < names.index("notify.failed")
    )
    assert [] == events(ws, "notify.sent")


def test_a_runner_that_died_is_reported_by_the_next(ws: Workspace, receiver: Receiver) -> None:
    pipeline(ws, receiver.port, ["sleepy"])
    env = {"HOOK_TOKEN": TOKEN}
    dying = ws.spawn("run", "pipeline.yaml", "--now", env=env)
    try:
        wait_until(lambda: events(ws, "item.started") != [], timeout=60)
    finally:
        dying.send_signal(signal.SIGKILL)
        dying.communicate()
    follower = ws.spawn("run", "pipeline.yaml", env=env)
    try:
        wait_until(lambda: events(ws, "runner.offline") != [], timeout=60)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.communicate(timeout=60)
    (offline,) = events(ws, "runner.offline")
    assert dying.pid == offline["pid"]
    assert "default" == offline["offline_site"]
    wait_until(lambda: any(b["title"].endswith("is offline") for _, b in receiver.received))
