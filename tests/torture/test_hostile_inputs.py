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

    def test_endless_output_fails_the_run_at_the_limit(self, once_ws: Workspace) -> None:
        """A resolver printing without end is stopped at 16 MiB (its timeout is 10 minutes):
        the run fails saying so, and no member is lost."""
        ws = once_ws
        publish(ws, "".join(f"{i}\n" for i in IDS).encode())
        run_now(ws)
        ws.script(
            "resolve.py", "import sys\nwhile True:\n    sys.stdout.write('x' * 4095 + '\\n')\n"
        )
        ws.write(
            "pipeline.yaml",
            (ws.root / "pipeline.yaml")
            .read_text()
            .replace('{command: ["./resolve.py"]}', '{command: ["./resolve.py"], timeout: 10m}'),
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json", timeout=300)
        assert exitcodes.RUN_FAILED == result.returncode, result.stderr[-3000:]
        assert "printed more than 16 MiB and was stopped" in result.stderr
        with ws.store() as store:
            assert set(IDS) == store.group_members("t")

    def test_unclosed_quote_in_a_member_file(self, ws: Workspace) -> None:
        """A CSV whose last line opens a quote it never closes fails the run with the place,
        instead of adding an id holding the rest of the file."""
        ws.write("members.csv", 'id,server\nalice,ex01\n"bob,ex02\n')
        ws.write(
            "pipeline.yaml",
            settings(2)
            + textwrap.dedent(
                """
                groups:
                  g: {file: members.csv}
                definitions:
                  d: {command: ["true"]}
                tasks:
                  t: {definition: d, group: g}
                """
            ),
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert exitcodes.RUN_FAILED == result.returncode, result.stderr[-3000:]
        assert "members.csv:" in result.stderr and "not valid CSV" in result.stderr
        with ws.store() as store:
            assert frozenset() == store.group_members("t")

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


SLOW_RESOLVER = """\
import os, time
with open("resolver.pid", "w") as out:
    out.write(str(os.getpid()))
time.sleep(600)
print("alice")
"""

LONG_ITEM = """\
import os, time
with open("item.pid", "w") as out:
    out.write(str(os.getpid()))
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def signal_ws(ws: Workspace, group: str, command: str) -> None:
    ws.write(
        "pipeline.yaml",
        settings(2)
        + textwrap.dedent(
            f"""
            groups:
              g: {group}
            definitions:
              d: {{command: [{command}]}}
            tasks:
              t: {{definition: d, group: g, mode: once}}
            """
        ),
    )


class TestSignals:
    def test_sigterm_during_a_slow_resolver(self, ws: Workspace) -> None:
        """SIGTERM while the group resolves: the resolver's tree is killed at once (not after its
        10-minute timeout), no run is opened only to be abandoned, and the exit is 1."""
        ws.script("resolve.py", SLOW_RESOLVER)
        signal_ws(ws, '{command: ["./resolve.py"], timeout: 10m}', '"true"')
        runner = spawn_runner(ws, "run", "pipeline.yaml", "--now", "--log-format", "json")
        with reaped(runner):
            wait_until(
                lambda: (
                    (ws.root / "resolver.pid").exists() and (ws.root / "resolver.pid").read_text()
                )
            )
            resolver = int((ws.root / "resolver.pid").read_text())
            runner.proc.send_signal(signal.SIGTERM)
            assert exitcodes.RUN_FAILED == runner.proc.wait(timeout=60)
        wait_until(lambda: not alive(resolver), timeout=10)
        with ws.store() as store:
            assert store.last_run("t") is None
            assert [] == store.open_runs("default")
        assert 1 == len(events(ws, "run.skipped"))
        assert [] == events(ws, "group.failed")

    def test_sighup_stops_run_like_sigterm(self, ws: Workspace) -> None:
        """SIGHUP (the terminal closed) stops `runner run` gracefully: exit 1, not death by
        signal 129; the item's process is killed and its attempt recorded `interrupted`, and the
        next run finishes the item."""
        ws.script("item.py", LONG_ITEM)
        signal_ws(ws, '{members: "alice"}', '"./item.py"')
        runner = spawn_runner(ws, "run", "pipeline.yaml", "--now", "--log-format", "json")
        with reaped(runner):
            wait_until(
                lambda: (ws.root / "item.pid").exists() and (ws.root / "item.pid").read_text()
            )
            item = int((ws.root / "item.pid").read_text())
            runner.proc.send_signal(signal.SIGHUP)
            assert exitcodes.RUN_FAILED == runner.proc.wait(timeout=60)
        assert not alive(item)
        assert 1 == len(events(ws, "run.stopped"))
        with ws.store() as store:
            (attempt,) = store.attempts_of("t", "alice")
            assert "interrupted" == attempt.status
            assert [] == store.open_attempts("default")


FAILING_RESOLVER = """\
import os, sys
print("bind failed for password " + os.environ["LDAP_PASSWORD"], file=sys.stderr)
sys.exit(4)
"""


class TestFailingResolver:
    @pytest.fixture
    def failing_ws(self, ws: Workspace) -> Workspace:
        ws.script("resolve.py", FAILING_RESOLVER)
        ws.write(
            "pipeline.yaml",
            settings(2, "  secrets: [LDAP_PASSWORD]\n")
            + textwrap.dedent(
                """
                groups:
                  g: {command: ["./resolve.py"]}
                definitions:
                  d: {command: ["true"]}
                tasks:
                  t: {definition: d, group: g}
                """
            ),
        )
        return ws

    def test_stderr_is_masked_in_the_run_message(self, failing_ws: Workspace) -> None:
        """The run's stored message quotes the resolver's stderr with the secret masked."""
        ws = failing_ws
        secret = {"LDAP_PASSWORD": "s3cr3t-hunter2"}
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json", env=secret)
        assert exitcodes.RUN_FAILED == result.returncode, result.stderr[-3000:]
        with ws.store() as store:
            run = store.last_run("t")
        assert run is not None
        assert "bind failed for password ***" in run.message
        assert b"s3cr3t-hunter2" not in (ws.root / ".runner" / "state.db").read_bytes()
        status = ws.runner("status", "pipeline.yaml", env=secret)
        assert "s3cr3t-hunter2" not in status.stdout + status.stderr

    def test_plan_exits_1_when_a_group_cannot_be_resolved(self, failing_ws: Workspace) -> None:
        result = failing_ws.runner("plan", "pipeline.yaml", env={"LDAP_PASSWORD": "x"})
        assert exitcodes.RUN_FAILED == result.returncode
        assert "exited with code 4" in result.stdout
        assert traceback_free(result.stdout, result.stderr)


SLOW_TEMPLATE = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ item.id }}"
)


def template_ws(ws: Workspace, template: str) -> None:
    ws.write(
        "pipeline.yaml",
        settings(2)
        + textwrap.dedent(
            f"""
            groups:
              g: {{members: "a;b;c;d;e;f"}}
            definitions:
              d: {{command: ["echo", {json.dumps(template)}]}}
            policies:
              p: {{max_retries: 0}}
            tasks:
              t: {{definition: d, group: g, policy: p}}
            """
        ),
    )


class TestHostileTemplates:
    def test_validate_refuses_the_format_bomb(self, ws: Workspace) -> None:
        """`'%0999999999d' | format(1)` is a located config error (exit 2), not a 3 GB
        allocation ending in MemoryError (exit 70)."""
        template_ws(ws, "{{ '%0999999999d' | format(1) }}")
        result = ws.runner("validate", "pipeline.yaml")
        assert exitcodes.BAD_CONFIG == result.returncode, result.stderr[-2000:]
        assert "the format width 999999999 is over the bound of 4096" in result.stderr
        assert "pipeline.yaml:" in result.stderr
        assert traceback_free(result.stdout, result.stderr)

    def test_a_slow_template_fails_its_items_instead_of_hanging(self, ws: Workspace) -> None:
        """Each render stops at the time budget; the item is recorded start-failed with why."""
        template_ws(ws, SLOW_TEMPLATE)
        ws.write(
            "pipeline.yaml", (ws.root / "pipeline.yaml").read_text().replace("a;b;c;d;e;f", "a")
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr[-3000:]
        assert "rendering took longer than 2s" in result.stderr
        assert traceback_free(result.stdout, result.stderr)

    def test_sigterm_is_honoured_while_a_template_renders(self, ws: Workspace) -> None:
        """SIGTERM during a slow render stops the runner at once: no item is blamed (none is
        recorded start-failed), the runner exits 1 and keeps its heartbeat until then."""
        template_ws(ws, SLOW_TEMPLATE)
        runner = spawn_runner(ws, "run", "pipeline.yaml", "--now", "--log-format", "json")
        with reaped(runner):
            wait_until(lambda: "run.started" in ws.log_text())
            runner.proc.send_signal(signal.SIGTERM)
            assert exitcodes.RUN_FAILED == runner.proc.wait(timeout=30)
        with ws.store() as store:
            counts = store.queue_counts("t")
        assert {q.UNATTEMPTED: 6} == counts
        assert [] == events(ws, "item.started")


class TestHostileDisplay:
    def test_direction_override_in_an_id_is_escaped_by_items(self, ws: Workspace) -> None:
        """An id holding a right-to-left override would reverse the rest of the line on a
        terminal: `items` prints the control escaped."""
        ws.write(
            "pipeline.yaml",
            settings(2)
            + textwrap.dedent(
                """
                groups:
                  g: {members: ["\\u202eevil.exe", "plain"]}
                definitions:
                  d: {command: ["true"]}
                tasks:
                  t: {definition: d, group: g}
                """
            ),
        )
        run_now(ws)
        result = ws.runner("items", "pipeline.yaml", "--task", "t")
        assert exitcodes.OK == result.returncode, result.stderr
        assert "\\u202eevil.exe" in result.stdout
        assert "\u202e" not in result.stdout
