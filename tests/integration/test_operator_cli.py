"""The operators' verbs through the real CLI: status, items, move, history, explain, logs.

Each test runs `python -m runner` as a subprocess against a real state file made by a real
`runner run`; `--json` outputs are validated against tests/fixtures/schemas/*.schema.json.
"""

from __future__ import annotations

import json
import os
import select
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner import exitcodes
from tests.support.workspace import Workspace, members, settings

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"

ITEM = """\
import sys
item = sys.argv[1]
print("working on", item)
if item.startswith("exit-"):
    print("it went wrong with", item, file=sys.stderr)
    sys.exit(int(item.split("-")[1]))
"""

PIPELINE = """
groups:
  g: {members: [ok-1, ok-2, exit-3, exit-9, exit-7]}
  h: {members: [{id: has-server, server: s1}, {id: no-server}]}
definitions:
  d:
    command: ["./item.py", "{{ item.id }}"]
    outcomes:
      - {when: {exit_code: 0}, status: ok}
      - {when: {exit_code: 3}, status: "#001"}
      - {when: {exit_code: 9}, status: corrupt, queue: corrupt}
      - {when: {exit_code: 7}, status: garbled, queue: incorrect-format}
  needs-server:
    command: ["./item.py", "{{ item.id }}", "{{ item.server }}"]
    requires: [server]
policies:
  p: {max_retries: 1, retry_on: ["#001"], backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
  servers: {definition: needs-server, group: h}
  never: {definition: d, group: g}
"""


def validate(name: str, value: Any) -> None:
    """Fail unless `value` has the documented shape of `runner <name> --json`."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)


def cli_json(ws: Workspace, *args: str) -> Any:
    """Run a verb with --json; it must exit 0."""
    result = ws.runner(*args, "--json")
    assert exitcodes.OK == result.returncode, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def ran(ws: Workspace) -> Workspace:
    """A workspace whose task `t` ran once: 2 successful, 1 in each of awaiting-intervention,
    corrupt and incorrect-format; task `servers` ran with one item lacking its attribute."""
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(4, "  secrets: [OPS_SECRET]\n") + textwrap.dedent(PIPELINE))
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t", "--task", "servers")
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    return ws


class TestStatus:
    """`runner status`."""

    def test_json_shape_counts_and_totals(self, ran: Workspace) -> None:
        """--json has the documented shape; totals leave out trash, incorrect-format and disabled."""
        moved = ran.runner("move", "pipeline.yaml", "--task", "t", "--to", "trash", "ok-1")
        assert exitcodes.OK == moved.returncode, moved.stderr
        moved = ran.runner("move", "pipeline.yaml", "--task", "t", "--to", "disabled", "ok-2")
        assert exitcodes.OK == moved.returncode, moved.stderr
        report = cli_json(ran, "status", "pipeline.yaml")
        validate("status", report)
        tasks = {t["name"]: t for t in report["tasks"]}
        t = tasks["t"]
        nonzero = {queue: n for queue, n in t["queues"].items() if n}
        expected = {
            "awaiting-intervention": 1,
            "corrupt": 1,
            "incorrect-format": 1,
            "trash": 1,
            "disabled": 1,
        }
        assert expected == nonzero
        assert (2, {"in-progress": 0, "inactive": 0, "error": 2, "other": 3}) == (
            t["total"],
            t["categories"],
        )
        assert (2, "idle") == (t["sequence"], t["status"])

    def test_tasks_that_never_ran_show_zeros(self, ran: Workspace) -> None:
        """A task added to the pipeline since the last run is listed as new with zero counts."""
        with (ran.root / "pipeline.yaml").open("a") as pipeline:
            pipeline.write("  later: {definition: d, group: g}\n")
        (never,) = cli_json(ran, "status", "pipeline.yaml", "--task", "later")["tasks"]
        assert ("new", 0, None) == (never["status"], never["total"], never["created"])
        assert {0} == set(never["queues"].values())

    def test_worker_offline_after_the_runner_exits(self, ran: Workspace) -> None:
        """Once `runner run` has exited, its site's worker shows offline."""
        (worker,) = cli_json(ran, "status", "pipeline.yaml")["workers"]
        assert ("default", "offline") == (worker["site"], worker["state"])

    def test_readable_table(self, ran: Workspace) -> None:
        """Without --json, status prints workers and one block per task."""
        result = ran.runner("status", "pipeline.yaml", "--task", "t")
        assert exitcodes.OK == result.returncode, result.stderr
        assert "task t  [idle]  site default" in result.stdout
        assert "sequence 2   total 4   running 0" in result.stdout
        assert "error        2  corrupt 1, awaiting-intervention 1" in result.stdout
        assert "other        1  incorrect-format 1" in result.stdout


class TestItems:
    """`runner items`."""

    def test_json_lists_every_item_with_its_shape(self, ran: Workspace) -> None:
        """--json lists every item in listing order with the documented fields."""
        listed = cli_json(ran, "items", "pipeline.yaml", "--task", "t")
        validate("items", listed)
        expected = [
            ("ok-1", "successful"),
            ("ok-2", "successful"),
            ("exit-9", "corrupt"),
            ("exit-3", "awaiting-intervention"),
            ("exit-7", "incorrect-format"),
        ]
        assert sorted(expected) == sorted((i["id"], i["queue"]) for i in listed)
        assert [q for _, q in expected][2:] == [i["queue"] for i in listed][2:]

    def test_queue_filter_shows_attempts_status_and_error(self, ran: Workspace) -> None:
        """--queue awaiting-intervention shows the exhausted item with its last error."""
        (item,) = cli_json(
            ran, "items", "pipeline.yaml", "--task", "t", "--queue", "awaiting-intervention"
        )
        assert ("exit-3", 2, "#001") == (item["id"], item["attempts"], item["status"])
        assert "it went wrong with exit-3" in item["last_error"]

    def test_table_pages(self, ran: Workspace) -> None:
        """A table page says which items it shows and how to get the next page."""
        result = ran.runner("items", "pipeline.yaml", "--task", "t", "--limit", "2")
        assert exitcodes.OK == result.returncode, result.stderr
        assert "items 1-2 of 5; next: --offset 2 (or --limit 0 for all)" in result.stdout

    def test_unknown_queue_exits_2(self, ran: Workspace) -> None:
        """A misspelt queue exits 2 naming the nearest one."""
        result = ran.runner("items", "pipeline.yaml", "--task", "t", "--queue", "corupt")
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "did you mean 'corrupt'?" in result.stderr


class TestMove:
    """`runner move`."""

    def test_move_is_audited_logged_and_in_history(self, ran: Workspace) -> None:
        """A move is recorded with who and why, logged as item.moved and shown by history."""
        result = ran.runner(
            "move",
            "pipeline.yaml",
            "--task",
            "t",
            "--to",
            "run-now",
            "--reason",
            "server fixed",
            "--by",
            "alice",
            "exit-9",
            "--json",
        )
        assert exitcodes.OK == result.returncode, result.stderr
        outcome = json.loads(result.stdout)
        validate("move", outcome)
        assert (1, 0) == (outcome["moved"], outcome["pending"])
        entries = cli_json(ran, "history", "pipeline.yaml", "--task", "t", "exit-9")
        validate("history", entries)
        assert ["attempt", "move"] == [e["kind"] for e in entries]
        move = entries[-1]
        assert ("alice", "corrupt", "run-now", "server fixed", False) == (
            move["by"],
            move["from"],
            move["to"],
            move["reason"],
            move["pending"],
        )
        events = [json.loads(line) for line in ran.log_text().splitlines()]
        (logged,) = [e for e in events if e["event"] == "item.moved"]
        assert ("t", "exit-9", "corrupt", "run-now", "alice") == (
            logged["task"],
            logged["item"],
            logged["from_queue"],
            logged["to_queue"],
            logged["by"],
        )

    def test_refused_move_exits_2_and_moves_nothing(self, ran: Workspace) -> None:
        """One refused item refuses the whole move, exits 2, and says why and what to do."""
        result = ran.runner(
            "move", "pipeline.yaml", "--task", "t", "--to", "retry", "exit-9", "exit-3"
        )
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "nothing was moved: 2 of 2 items of task 't' cannot go to 'retry'" in (result.stderr)
        assert "move it to run-now or rescheduled to run it again" in result.stderr
        with ran.store() as store:
            assert [] == store.moves_of("t", "exit-9")

    def test_unknown_item_exits_2_naming_it(self, ran: Workspace) -> None:
        """An unknown id exits 2 naming it; the known items named with it stay put."""
        result = ran.runner(
            "move", "pipeline.yaml", "--task", "t", "--to", "paused", "exit-9", "nosuch"
        )
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "has no item 'nosuch'" in result.stderr
        with ran.store() as store:
            assert "corrupt" == store.item("t", "exit-9").queue  # type: ignore[union-attr]

    def test_missing_attributes_only_to_holding_queues(self, ran: Workspace) -> None:
        """An item lacking required attributes may not go to run-now."""
        result = ran.runner(
            "move", "pipeline.yaml", "--task", "servers", "--to", "run-now", "no-server"
        )
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "lacks attributes server" in result.stderr

    def test_path_may_come_first_or_be_left_out(self, ran: Workspace) -> None:
        """The first word is PATH only when it is an existing pipeline file or directory."""
        (ran.root / "pipelines").mkdir()
        (ran.root / "pipeline.yaml").rename(ran.root / "pipelines" / "pipeline.yaml")
        (ran.root / "item.py").rename(ran.root / "pipelines" / "item.py")
        (ran.root / ".runner").rename(ran.root / "pipelines" / ".runner")
        first = ran.runner("move", "pipelines", "--task", "t", "--to", "paused", "exit-9")
        assert exitcodes.OK == first.returncode, first.stderr
        second = ran.runner("move", "--task", "t", "--to", "trash", "exit-3", "exit-7")
        assert exitcodes.OK == second.returncode, second.stderr
        assert "moved 2 items of task t to trash" in second.stdout
        with Workspace(ran.root / "pipelines", ran.state).open_state(readonly=True) as store:
            assert {"paused": 1, "trash": 2, "successful": 2} == store.queue_counts("t")

    def test_from_queue_moves_the_whole_queue(self, ran: Workspace) -> None:
        """--from-queue moves every item of a queue at once."""
        result = ran.runner(
            "move", "pipeline.yaml", "--task", "t", "--from-queue", "successful", "--to", "paused"
        )
        assert exitcodes.OK == result.returncode, result.stderr
        with ran.store() as store:
            assert 2 == store.queue_counts("t")["paused"]

    def test_secret_in_reason_is_masked(self, ran: Workspace) -> None:
        """A secret value typed into --reason never reaches the state or the logs."""
        result = ran.runner(
            "move",
            "pipeline.yaml",
            "--task",
            "t",
            "--to",
            "paused",
            "--reason",
            "pw is s3cr3t-value",
            "exit-9",
            env={"OPS_SECRET": "s3cr3t-value"},
        )
        assert exitcodes.OK == result.returncode, result.stderr
        assert b"s3cr3t-value" not in ran.all_files_text()

    def test_secret_in_by_is_masked(self, ran: Workspace) -> None:
        """A secret value typed into --by never reaches the state or the logs."""
        result = ran.runner(
            "move",
            "pipeline.yaml",
            "--task",
            "t",
            "--to",
            "paused",
            "--by",
            "ops s3cr3t-value",
            "exit-9",
            env={"OPS_SECRET": "s3cr3t-value"},
        )
        assert exitcodes.OK == result.returncode, result.stderr
        everything = ran.all_files_text()
        assert b"s3cr3t-value" not in everything
        assert b"ops ***" in everything


SLOW = """\
import os, sys, time
item = sys.argv[1]
fd = os.open("started.fifo", os.O_WRONLY)
os.write(fd, (item + "\\n").encode())
os.close(fd)
while not os.path.exists("release-" + item):
    time.sleep(0.01)
print("done", item)
"""


class _Started:
    """Reads the ids the slow items announce on a FIFO, waiting with select (no sleeps)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.keep = os.open(path, os.O_WRONLY)  # a writer always open: no EOF between items
        self.buffer = b""
        self.seen: list[str] = []

    def next(self, timeout: float = 60) -> str:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.reader], [], [], timeout)
            assert ready, "no item started in time"
            self.buffer += os.read(self.reader, 4096)
        line, self.buffer = self.buffer.split(b"\n", 1)
        self.seen.append(line.decode())
        return self.seen[-1]

    def drain(self) -> list[str]:
        while select.select([self.reader], [], [], 0)[0]:
            chunk = os.read(self.reader, 4096)
            if not chunk:
                break
            self.buffer += chunk
        self.seen += [line.decode() for line in self.buffer.split(b"\n") if line]
        self.buffer = b""
        return self.seen

    def close(self) -> None:
        os.close(self.reader)
        os.close(self.keep)


class TestMoveWhileRunning:
    """Moves made while a runner works on the task."""

    @pytest.fixture
    def slow(self, ws: Workspace) -> Iterator[tuple[Workspace, _Started]]:
        ws.script("slow.py", SLOW)
        ids = [f"i{n:02d}" for n in range(1, 13)]
        ws.write(
            "pipeline.yaml",
            settings(1)
            + textwrap.dedent(
                f"""
                groups:
                  g: {{members: {members(ids)}}}
                definitions:
                  d: {{command: ["./slow.py", "{{{{ item.id }}}}"]}}
                tasks:
                  t: {{definition: d, group: g}}
                """
            ),
        )
        started = _Started(ws.root / "started.fifo")
        try:
            yield ws, started
        finally:
            for item_id in ids:
                (ws.root / f"release-{item_id}").touch()
            started.close()

    def test_running_and_waiting_items_are_moved_and_nothing_is_lost(
        self, slow: tuple[Workspace, _Started]
    ) -> None:
        """A running item's move applies when its attempt ends; a waiting item's at once."""
        ws, started = slow
        proc = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
        try:
            assert "i01" == started.next()
            with ws.store() as store:
                waiting = store.item("t", "i12")
                assert waiting is not None and waiting.running_attempt is None
            running = cli_json(ws, "explain", "pipeline.yaml", "--task", "t", "i01")
            validate("explain", running)
            assert "running" == running["reason"]
            assert running["summary"].startswith("Running: attempt 1 since ")
            first = ws.runner(
                "move", "pipeline.yaml", "--task", "t", "--to", "paused", "--reason", "hold", "i01"
            )
            assert exitcodes.OK == first.returncode, first.stderr
            assert "applies when its attempt ends" in first.stdout
            second = ws.runner("move", "pipeline.yaml", "--task", "t", "--to", "paused", "i12")
            assert exitcodes.OK == second.returncode, second.stderr
            held = cli_json(ws, "explain", "pipeline.yaml", "--task", "t", "i12")
            assert "held" == held["reason"]
            for n in range(1, 13):
                (ws.root / f"release-i{n:02d}").touch()
            _, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert exitcodes.OK == proc.returncode, stderr
        assert [f"i{n:02d}" for n in range(1, 12)] == started.drain()
        with ws.store() as store:
            assert {"paused": 2, "successful": 10} == store.queue_counts("t")
            assert [] == store.attempts_of("t", "i12")
            for n in range(1, 12):
                (attempt,) = store.attempts_of("t", f"i{n:02d}")
                assert "ok" == attempt.status
        entries = cli_json(ws, "history", "pipeline.yaml", "--task", "t", "i01")
        assert [("attempt", "ok"), ("move", "paused")] == [
            (e["kind"], e.get("status", e.get("to"))) for e in entries
        ]
        assert entries[1]["applied"] is not None and entries[1]["reason"] == "hold"


class TestHistory:
    """`runner history`."""

    def test_attempts_with_outcomes_and_output_files(self, ran: Workspace) -> None:
        """Every attempt is listed with status, exit code, definition hash and its output files."""
        entries = cli_json(ran, "history", "pipeline.yaml", "--task", "t", "exit-3")
        validate("history", entries)
        assert [(1, "#001", 3, "retry"), (2, "#001", 3, "awaiting-intervention")] == [
            (e["attempt"], e["status"], e["exit_code"], e["queue"]) for e in entries
        ]
        assert 1 == len({e["definition_hash"] for e in entries})
        assert "working on exit-3\n" == Path(entries[0]["stdout"]).read_text()

    def test_needs_exactly_one_item(self, ran: Workspace) -> None:
        """history without an item exits 2 saying what it needs."""
        result = ran.runner("history", "pipeline.yaml", "--task", "t")
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "takes exactly one ITEM" in result.stderr


class TestExplain:
    """`runner explain` through the CLI (every case is covered in tests/unit/test_operations.py)."""

    def test_error_queue(self, ran: Workspace) -> None:
        """An exhausted item is in its error queue with its retries used."""
        result = ran.runner("explain", "pipeline.yaml", "--task", "t", "exit-3")
        assert exitcodes.OK == result.returncode, result.stderr
        first = result.stdout.splitlines()[0]
        assert first.startswith(
            "Not running: it is in the error queue awaiting-intervention after status #001 "
            "(retries used 1 of 1)"
        )

    def test_missing_attributes(self, ran: Workspace) -> None:
        """An incomplete item names the attribute it lacks."""
        report = cli_json(ran, "explain", "pipeline.yaml", "--task", "servers", "no-server")
        validate("explain", report)
        assert ("missing-attributes", ["server"]) == (report["reason"], report["missing"])

    def test_paused_by_whom_and_why(self, ran: Workspace) -> None:
        """A paused item says who paused it and why."""
        ran.runner(
            "move", "pipeline.yaml", "--task", "t", "--to", "paused", "--by", "bob",
            "--reason", "owner on leave", "exit-9",
        )  # fmt: skip
        report = cli_json(ran, "explain", "pipeline.yaml", "--task", "t", "exit-9")
        assert "held" == report["reason"]
        assert "moved there by bob" in report["summary"]
        assert "owner on leave" in report["summary"]

    def test_no_schedule(self, ran: Workspace) -> None:
        """A run-now-less item of an unscheduled task says how to run it."""
        ran.runner("move", "pipeline.yaml", "--task", "t", "--to", "unattempted", "exit-9")
        report = cli_json(ran, "explain", "pipeline.yaml", "--task", "t", "exit-9")
        assert "no-schedule" == report["reason"]


class TestLogs:
    """`runner logs`."""

    def test_filters_and_raw_json(self, ran: Workspace) -> None:
        """--json passes the matching raw lines; --item and --event filter them."""
        result = ran.runner(
            "logs", "pipeline.yaml", "--item", "exit-3", "--event", "item.finished", "--json"
        )
        assert exitcodes.OK == result.returncode, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(1, "retry"), (2, "awaiting-intervention")] == [
            (e["attempt"], e["queue"]) for e in events
        ]

    def test_readable_lines_and_level(self, ran: Workspace) -> None:
        """Readable lines carry date, level and event; --level warning hides info events."""
        result = ran.runner("logs", "pipeline.yaml", "--task", "t", "--level", "warning")
        assert exitcodes.OK == result.returncode, result.stderr
        lines = result.stdout.splitlines()
        assert lines and all(" warning " in line for line in lines)
        assert any("item.finished" in line and "item=exit-9" in line for line in lines)

    def test_since_in_the_future_shows_nothing(self, ran: Workspace) -> None:
        """--since later than every event prints nothing and exits 0."""
        result = ran.runner("logs", "pipeline.yaml", "--since", "2999-01-01T00:00")
        assert (exitcodes.OK, "") == (result.returncode, result.stdout)

    def test_bad_level_exits_2(self, ran: Workspace) -> None:
        """An unknown level is a usage error."""
        result = ran.runner("logs", "pipeline.yaml", "--level", "loud")
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "unknown log level" in result.stderr
