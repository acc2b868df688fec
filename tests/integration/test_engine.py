"""The engine through the real CLI: items, queues, policies, steps, safety, locks, signals."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest

from runner import exitcodes
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

ECHO = """\
import os, sys
print("args:", sys.argv[1:])
"""

FAIL_BY_ID = """\
import os, sys
item = sys.argv[1]
code = int(item.split("-")[1]) if item.startswith("exit-") else 0
if item.startswith("stderr-"):
    print("the archive is password protected", file=sys.stderr)
    sys.exit(1)
sys.exit(code)
"""


class TestItems:
    def test_every_item_runs_once_and_succeeds(self, ws: Workspace) -> None:
        """A --now run starts each item once and moves it to successful."""
        ws.script("echo.py", ECHO)
        ws.pipeline(
            """
            groups:
              g: {members: "a; b; c"}
            definitions:
              d: {command: ["./echo.py", "{{ item.id }}"]}
            tasks:
              t: {definition: d, group: g}
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert result.returncode == exitcodes.OK, result.stderr
        with ws.store() as store:
            assert {"successful": 3} == store.queue_counts("t")
            assert [1] == [a.number for a in store.attempts_of("t", "b")]

    def test_hostile_ids_are_single_arguments(self, ws: Workspace) -> None:
        """Ids with shell syntax are passed literally as one argument: nothing is executed."""
        ws.script(
            "record.py",
            """\
            import sys, pathlib
            pathlib.Path("seen.txt").open("a").write(sys.argv[1] + "\\n")
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: ["x; touch CANARY", "$(touch CANARY2)", "`touch CANARY3`", "{{7*7}}"]}
            definitions:
              d: {command: ["./record.py", "{{ item.id }}"]}
            tasks:
              t: {definition: d, group: g}
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert result.returncode == exitcodes.OK, result.stderr
        assert not list(ws.root.glob("CANARY*"))
        seen = sorted((ws.root / "seen.txt").read_text().splitlines())
        assert sorted(["x; touch CANARY", "$(touch CANARY2)", "`touch CANARY3`", "{{7*7}}"]) == seen

    def test_protocol_variables_are_given(self, ws: Workspace) -> None:
        """Each attempt gets RUNNER_TASK, RUNNER_ITEM, RUNNER_ATTEMPT, RUNNER_PREVIOUS_STATUS and the files."""
        ws.script(
            "env.py",
            """\
            import os, json
            keys = ["RUNNER_TASK", "RUNNER_ITEM", "RUNNER_ATTEMPT", "RUNNER_PREVIOUS_STATUS"]
            print(json.dumps({k: os.environ[k] for k in keys}))
            assert os.path.exists(os.environ["RUNNER_PROCESSED"])
            assert os.environ["RUNNER_EVENTS"].endswith(".events.jsonl")
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: [alpha]}
            definitions:
              d: {command: ["./env.py"]}
            tasks:
              t: {definition: d, group: g}
        """,
        )
        assert ws.runner("run", "pipeline.yaml", "--now").returncode == exitcodes.OK
        outputs = list((ws.root / ".runner" / "logs" / "attempts").rglob("*.1.stdout"))
        assert 1 == len(outputs)
        expected = {
            "RUNNER_TASK": "t",
            "RUNNER_ITEM": "alpha",
            "RUNNER_ATTEMPT": "1",
            "RUNNER_PREVIOUS_STATUS": "",
        }
        assert expected == json.loads(outputs[0].read_text())

    def test_missing_required_attributes_go_to_incomplete(self, ws: Workspace) -> None:
        """Members lacking `requires` attributes enter incomplete and are not run."""
        ws.script("echo.py", ECHO)
        ws.pipeline(
            """
            groups:
              g: {members: [{id: a, server: s1}, b]}
            definitions:
              d: {command: ["./echo.py", "{{ item.server }}"], requires: [server]}
            tasks:
              t: {definition: d, group: g}
        """,
        )
        assert ws.runner("run", "pipeline.yaml", "--now").returncode == exitcodes.OK
        with ws.store() as store:
            assert {"successful": 1, "incomplete": 1} == store.queue_counts("t")
            assert [] == store.attempts_of("t", "b")

    def test_start_failed_for_a_missing_program(self, ws: Workspace) -> None:
        """A program that cannot start gives start-failed with the OS message."""
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./does-not-exist"]}
            policies:
              p: {max_retries: 0}
            tasks:
              t: {definition: d, group: g, policy: p}
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert result.returncode == exitcodes.ITEMS_IN_ERROR
        with ws.store() as store:
            item = store.item("t", "a")
            assert item is not None
            assert ("start-failed", "awaiting-intervention") == (item.last_status, item.queue)
            assert "No such file" in (item.last_error or "")


class TestOutcomesAndPolicies:
    def test_outcome_rules_route_to_error_queues(self, ws: Workspace) -> None:
        """Exit codes and stderr patterns map to statuses and queues; the run exits 3."""
        ws.script("fail.py", FAIL_BY_ID)
        ws.pipeline(
            """
            groups:
              g: {members: [exit-0, exit-9, stderr-x, exit-5]}
            definitions:
              d:
                command: ["./fail.py", "{{ item.id }}"]
                outcomes:
                  - {when: {exit_code: 0}, status: ok}
                  - {when: {exit_code: 9}, status: corrupt, queue: corrupt}
                  - {when: {stderr: "(?i)password protected"}, status: locked, queue: password-protected}
            policies:
              p: {max_retries: 0}
            tasks:
              t: {definition: d, group: g, policy: p}
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert result.returncode == exitcodes.ITEMS_IN_ERROR
        with ws.store() as store:
            queues = {
                i: store.item("t", i).queue for i in ("exit-0", "exit-9", "stderr-x", "exit-5")
            }  # type: ignore[union-attr]
        expected = {
            "exit-0": "successful",
            "exit-9": "corrupt",
            "stderr-x": "password-protected",
            "exit-5": "awaiting-intervention",
        }
        assert expected == queues

    def test_retries_then_exhausted(self, ws: Workspace) -> None:
        """A failing item is retried max_retries times after the first attempt, then exhausted."""
        ws.script("fail.py", FAIL_BY_ID)
        ws.pipeline(
            """
            groups:
              g: {members: [exit-3]}
            definitions:
              d: {command: ["./fail.py", "{{ item.id }}"]}
            policies:
              p: {max_retries: 2, backoff: {initial: 0s, factor: 1, max: 0s}, exhausted_queue: corrupt}
            tasks:
              t: {definition: d, group: g, policy: p}
        """,
        )
        assert ws.runner("run", "pipeline.yaml", "--now").returncode == exitcodes.ITEMS_IN_ERROR
        with ws.store() as store:
            assert 3 == len(store.attempts_of("t", "exit-3"))
            assert "corrupt" == store.item("t", "exit-3").queue  # type: ignore[union-attr]

    def test_zero_and_negative_max_retries_disable_retries(self, ws: Workspace) -> None:
        """max_retries 0 or negative: one attempt, then the exhausted queue."""
        ws.script("fail.py", FAIL_BY_ID)
        ws.pipeline(
            """
            groups:
              g: {members: [exit-3]}
            definitions:
              d: {command: ["./fail.py", "{{ item.id }}"]}
            policies:
              zero: {max_retries: 0, backoff: {initial: 0s}}
              negative: {max_retries: -1, backoff: {initial: 0s}}
            tasks:
              t0: {definition: d, group: g, policy: zero}
              tn: {definition: d, group: g, policy: negative}
        """,
        )
        assert ws.runner("run", "pipeline.yaml", "--now").returncode == exitcodes.ITEMS_IN_ERROR
        with ws.store() as store:
            assert 1 == len(store.attempts_of("t0", "exit-3"))
            assert 1 == len(store.attempts_of("tn", "exit-3"))

    def test_retry_on_subset_retries_only_listed_statuses(self, ws: Workspace) -> None:
        """Only statuses in retry_on are retried; others go straight to their queue."""
        ws.script("fail.py", FAIL_BY_ID)
        ws.pipeline(
            """
            groups:
              g: {members: [exit-3, exit-4]}
            definitions:
              d:
                command: ["./fail.py", "{{ item.id }}"]
                outcomes:
                  - {when: {exit_code: 3}, status: "#001"}
                  - {when: {exit_code: 4}, status: "#002"}
            policies:
              p: {max_retries: 2, retry_on: ["#001"], backoff: {initial: 0s}}
            tasks:
              t: {definition: d, group: g, policy: p}
        """,
        )
        assert ws.runner("run", "pipeline.yaml", "--now").returncode == exitcodes.ITEMS_IN_ERROR
        with ws.store() as store:
            assert 3 == len(store.attempts_of("t", "exit-3"))
            assert 1 == len(store.attempts_of("t", "exit-4"))
            assert "#002" == store.item("t", "exit-4").last_status  # type: ignore[union-attr]


class TestSteps:
    def test_before_error_stops_items_and_fails_the_run(self, ws: Workspace) -> None:
        """on_failure: error in a start step: no item runs, failure after-steps run, exit 1."""
        ws.script("echo.py", ECHO)
        ws.script("mark.py", "import sys, pathlib; pathlib.Path(sys.argv[1]).touch()\n")
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./echo.py"]}
            tasks:
              t:
                definition: d
                group: g
                before:
                  - {run: ["false"], on_failure: error}
                  - {run: ["./mark.py", "second-before"]}
                after:
                  - {run: ["./mark.py", "after-success"], when: success}
                  - {run: ["./mark.py", "after-failure"], when: failure}
                  - {run: ["./mark.py", "after-always"], when: always}
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert result.returncode == exitcodes.RUN_FAILED
        made = sorted(p.name for p in ws.root.glob("*-*") if p.is_file() and "." not in p.name)
        assert ["after-always", "after-failure"] == made
        with ws.store() as store:
            assert [] == store.attempts_of("t", "a")

    def test_warn_failure_goes_on(self, ws: Workspace) -> None:
        """on_failure: warn (the default) logs a warning and the run goes on."""
        ws.script("echo.py", ECHO)
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./echo.py"]}
            tasks:
              t:
                definition: d
                group: g
                before: [{run: ["false"]}]
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert result.returncode == exitcodes.OK
        warnings = [json.loads(x) for x in result.stderr.splitlines() if '"step.finished"' in x]
        assert ["warning"] == [w["level"] for w in warnings]

    def test_wait_timeout_waits_the_whole_timeout(self, ws: Workspace) -> None:
        """wait: timeout keeps the step going for its whole timeout even though the process exits at once."""
        ws.script("echo.py", ECHO)
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./echo.py"]}
            tasks:
              t:
                definition: d
                group: g
                before: [{run: ["true"], timeout: 2s, wait: timeout}]
        """,
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert result.returncode == exitcodes.OK, result.stderr
        finished = [json.loads(x) for x in result.stderr.splitlines() if '"step.finished"' in x]
        assert finished[0]["duration_s"] >= 2.0


class TestSafety:
    def test_secret_never_written(self, ws: Workspace) -> None:
        """A secret's value appears in no log, output file or state file."""
        secret = "s3cr3t-Value-42"
        ws.script(
            "leak.py",
            """\
            import os, sys, json
            print("token is", os.environ["API_TOKEN"])
            print("err", os.environ["API_TOKEN"], file=sys.stderr)
            with open(os.environ["RUNNER_EVENTS"], "a") as f:
                f.write(json.dumps({"detail": "using " + os.environ["API_TOKEN"]}) + "\\n")
            sys.exit(1)
        """,
        )
        ws.write(
            "pipeline.yaml",
            settings(2, "  secrets: [API_TOKEN]\n")
            + """
groups:
  g: {members: [a]}
definitions:
  d: {command: ["./leak.py", "{{ env.API_TOKEN }}"]}
policies:
  p: {max_retries: 0}
tasks:
  t: {definition: d, group: g, policy: p}
""",
        )
        result = ws.runner(
            "run", "pipeline.yaml", "--now", "--log-format", "json", env={"API_TOKEN": secret}
        )
        assert result.returncode == exitcodes.ITEMS_IN_ERROR, result.stderr
        assert secret not in result.stderr
        everything = ws.all_files_text()
        assert secret.encode() not in everything
        assert b"***" in everything

    def test_second_runner_exits_75(self, ws: Workspace) -> None:
        """While one runner holds the lock, a second one exits 75 naming the holder's pid."""
        ws.script(
            "slow.py", "import pathlib, time; pathlib.Path('started').touch(); time.sleep(30)\n"
        )
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./slow.py"]}
            tasks:
              t: {definition: d, group: g}
        """,
        )
        first = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
        try:
            wait_until(lambda: (ws.root / "started").exists())
            second = ws.runner("run", "pipeline.yaml", "--now")
            assert exitcodes.LOCKED == second.returncode
            assert str(first.pid) in second.stderr
        finally:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=60)

    def test_sigterm_interrupts_and_resume_finishes(self, ws: Workspace) -> None:
        """SIGTERM: running attempts are interrupted and recorded; the next run resumes the open run."""
        ws.script(
            "slow.py",
            """\
            import os, pathlib, time
            if os.environ["RUNNER_ATTEMPT"] == "1":
                pathlib.Path("started").touch()
                time.sleep(60)
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./slow.py"]}
            policies:
              p: {backoff: {initial: 0s}}
            tasks:
              t: {definition: d, group: g, policy: p}
        """,
        )
        runner = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
        wait_until(lambda: (ws.root / "started").exists())
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=60)
        assert exitcodes.RUN_FAILED == runner.returncode, stderr
        with ws.store() as store:
            attempts = store.attempts_of("t", "a")
            assert ["interrupted"] == [a.status for a in attempts]
            assert 1 == len(store.open_runs("default"))
        resumed = ws.runner("run", "pipeline.yaml")
        assert exitcodes.OK == resumed.returncode, resumed.stderr
        with ws.store() as store:
            assert ["interrupted", "ok"] == [a.status for a in store.attempts_of("t", "a")]
            assert [] == store.open_runs("default")


class TestCheckpoints:
    def test_resume_after_kill_processes_each_subid_once(self, ws: Workspace) -> None:
        """After SIGKILL of the runner mid-item, the next attempt skips every sub-id already processed."""
        ws.script(
            "work.py",
            """\
            import json, os, sys, time, pathlib
            done = set()
            processed = pathlib.Path(os.environ["RUNNER_PROCESSED"])
            if processed.exists():
                done = set(processed.read_text().split())
            ledger = open("ledger.txt", "a")
            events = open(os.environ["RUNNER_EVENTS"], "a")
            for n in range(20):
                sub = f"sub-{n}"
                if sub in done:
                    continue
                events.write(json.dumps({"processed": sub}) + "\\n"); events.flush()
                ledger.write(sub + "\\n"); ledger.flush()
                time.sleep(0.1)
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: [a]}
            definitions:
              d: {command: ["./work.py"]}
            policies:
              p: {backoff: {initial: 0s}}
            tasks:
              t: {definition: d, group: g, policy: p, mode: once}
        """,
        )
        runner = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
        ledger = ws.root / "ledger.txt"
        wait_until(lambda: ledger.exists() and len(ledger.read_text().split()) >= 5)
        os.kill(runner.pid, signal.SIGKILL)
        runner.communicate(timeout=30)
        result = ws.runner("run", "pipeline.yaml")
        assert exitcodes.OK == result.returncode, result.stderr
        lines = ledger.read_text().split()
        assert sorted(lines) == sorted(set(lines)), "a sub-id was processed twice"
        assert {f"sub-{n}" for n in range(20)} == set(lines)
        with ws.store() as store:
            statuses = [a.status for a in store.attempts_of("t", "a")]
            assert ["interrupted", "ok"] == statuses


class TestAttemptsRecordedAhead:
    @pytest.mark.parametrize("journal_lost", [False, True], ids=["journal", "journal-lost"])
    def test_after_kill_9_the_unlaunched_are_withdrawn_not_interrupted(
        self, ws: Workspace, journal_lost: bool
    ) -> None:
        """Attempts recorded ahead of the only slot never ran: the next start undoes them.

        With the launch journal gone (as after a power loss), the running attempt is still
        known to have run by its output file.
        """
        ws.script(
            "work.py",
            """\
            import os, sys, time, pathlib
            LEAVES_OUTPUT = "--output" in sys.argv
            if sys.argv[1] == "a" and LEAVES_OUTPUT:
                print("working", flush=True)
            pathlib.Path(f"ran-{sys.argv[1]}-{os.environ['RUNNER_ATTEMPT']}").touch()
            if sys.argv[1] == "a":
                time.sleep(60)
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: [a, b, c, d, e, f]}
            definitions:
              d: {command: ["./work.py", "{{ item.id }}", "%s"]}
            policies:
              p: {max_retries: 0}
            tasks:
              t: {definition: d, group: g, policy: p, mode: once}
        """
            % ("--output" if journal_lost else "--quiet"),
            concurrency=1,
        )
        runner = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
        wait_until(lambda: (ws.root / "ran-a-1").exists())
        os.kill(runner.pid, signal.SIGKILL)
        runner.communicate(timeout=30)
        with ws.store() as store:
            recorded = {a.item_id for a in store.open_attempts("default")}
        assert {"a", "b"} <= recorded  # b waits behind a, recorded ahead of the slot
        assert [] == sorted(p.name for p in ws.root.glob("ran-*") if p.name != "ran-a-1")
        if journal_lost:
            for journal in ws.side_files("launches"):
                journal.write_bytes(b"")

        resumed = ws.runner("run", "pipeline.yaml", "--log-format", "json")
        assert exitcodes.ITEMS_IN_ERROR == resumed.returncode, resumed.stderr
        events = [json.loads(line) for line in resumed.stderr.splitlines()]
        withdrawn = {e["item"] for e in events if e["event"] == "attempt.withdrawn"}
        interrupted = {e["item"] for e in events if e["event"] == "attempt.interrupted"}
        assert recorded - {"a"} == withdrawn
        assert {"a"} == interrupted
        with ws.store() as store:
            assert ["interrupted"] == [x.status for x in store.attempts_of("t", "a")]
            assert "awaiting-intervention" == store.item("t", "a").queue  # type: ignore[union-attr]
            for item in "bcdef":
                assert [(1, "ok")] == [(x.number, x.status) for x in store.attempts_of("t", item)]
                assert (ws.root / f"ran-{item}-1").exists()
        journals = ws.side_files("launches")
        assert 1 == len(journals) and 0 == journals[0].stat().st_size

    def test_an_attempt_that_exited_unrecorded_is_interrupted_not_withdrawn(
        self, ws: Workspace
    ) -> None:
        """Killed after a quiet process exited but before its outcome was written: the journal
        alone tells it ran, so it is `interrupted`; every process that ran has its attempt.

        The items take a millisecond or two, so the run records many attempts ahead of its
        one slot once the first have ended; the kill comes at the third batch of outcomes.
        """
        ids = [f"item-{n:02d}" for n in range(24)]
        ws.write("items.txt", "".join(f"{i}\n" for i in ids))
        ws.write("work.sh", '#!/bin/sh\necho "$1" >> ledger.txt\n').chmod(0o755)
        ws.pipeline(
            """
            groups:
              g: {file: items.txt}
            definitions:
              d: {command: ["./work.sh", "{{ item.id }}"]}
            policies:
              p: {backoff: {initial: 0s}}
            tasks:
              t: {definition: d, group: g, policy: p, mode: once}
        """,
            concurrency=1,
        )
        killed = ws.runner(
            "run", "pipeline.yaml", "--now", env={"RUNNER_FAILPOINT": "after-exit-before-outcome:3"}
        )
        assert -signal.SIGKILL == killed.returncode, killed.stderr
        ran_before = set((ws.root / "ledger.txt").read_text().split())
        with ws.store() as store:
            open_at_kill = {a.item_id for a in store.open_attempts("default")}
        resumed = ws.runner("run", "pipeline.yaml", "--log-format", "json")
        assert exitcodes.OK == resumed.returncode, resumed.stderr
        events = [json.loads(line) for line in resumed.stderr.splitlines()]
        interrupted = {e["item"] for e in events if e["event"] == "attempt.interrupted"}
        withdrawn = {e["item"] for e in events if e["event"] == "attempt.withdrawn"}
        # ran, outcome unrecorded (at least the one whose exit hit the fault point): interrupted;
        # the journal may also list one killed before it started
        assert ran_before & open_at_kill and ran_before & open_at_kill <= interrupted
        assert not withdrawn & (interrupted | ran_before)
        runs = Counter((ws.root / "ledger.txt").read_text().split())
        with ws.store() as store:
            for item in ids:
                attempts = store.attempts_of("t", item)
                assert runs[item] <= len(attempts), item  # no process ran unrecorded
                assert "ok" == attempts[-1].status
            for item in withdrawn:
                assert 1 == runs[item] == len(store.attempts_of("t", item))

    def test_an_attempt_recorded_ahead_keeps_its_launch_time(self, ws: Workspace) -> None:
        """b is recorded while a runs (one slot); its history shows when it was launched."""
        ws.script(
            "work.py",
            """\
            import sys, time
            if sys.argv[1] == "a":
                time.sleep(1.0)
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: [a, b]}
            definitions:
              d: {command: ["./work.py", "{{ item.id }}"]}
            tasks:
              t: {definition: d, group: g, mode: once}
        """,
            concurrency=1,
        )
        result = ws.runner("run", "pipeline.yaml", "--now")
        assert exitcodes.OK == result.returncode, result.stderr
        with ws.store() as store:
            (a,) = store.attempts_of("t", "a")
            (b,) = store.attempts_of("t", "b")
        # b could only start once a's process (sleeping a second) had ended
        assert b.started_at >= a.started_at + 1.0


class TestMovesOfQueuedAttempts:
    def test_move_of_an_attempt_not_yet_launched_withdraws_it(self, ws: Workspace) -> None:
        """An item recorded ahead of a free slot but not launched, moved to paused, never runs.

        Before any attempt ended the run records one attempt ahead: b, while a runs. a runs
        until the test releases it, once the runner has withdrawn b's attempt.
        """
        ws.script(
            "slow.py",
            """\
            import sys, time, pathlib
            pathlib.Path("ran-" + sys.argv[1]).touch()
            while sys.argv[1] == "a" and not pathlib.Path("release-a").exists():
                time.sleep(0.02)
        """,
        )
        ws.pipeline(
            """
            groups:
              g: {members: [a, b, c, d]}
            definitions:
              d: {command: ["./slow.py", "{{ item.id }}"]}
            tasks:
              t: {definition: d, group: g, concurrency: 1}
        """,
            concurrency=1,
        )
        runner = ws.spawn("run", "pipeline.yaml", "--now", "--log-format", "json")
        try:
            wait_until(lambda: (ws.root / "ran-a").exists())
            wait_until(lambda: _running_attempt(ws, "b") is not None)
            moved = ws.runner(
                "move", "pipeline.yaml", "--task", "t", "--to", "paused", "b", "--reason", "hold"
            )
            assert exitcodes.OK == moved.returncode, moved.stderr
            wait_until(lambda: _running_attempt(ws, "b") is None, what="b's attempt withdrawn")
        finally:
            (ws.root / "release-a").touch()
            _, stderr = runner.communicate(timeout=60)
        assert exitcodes.OK == runner.returncode, stderr
        assert not (ws.root / "ran-b").exists()
        with ws.store() as store:
            assert [] == store.attempts_of("t", "b")
            assert "paused" == store.item("t", "b").queue  # type: ignore[union-attr]
            assert [m.applied_at is not None for m in store.moves_of("t", "b")] == [True]
            assert {"successful": 3, "paused": 1} == store.queue_counts("t")


def _running_attempt(ws: Workspace, item: str) -> int | None:
    """The attempt the state records as running for `item` of task t (None if none)."""
    with ws.store() as store:
        row = store.item("t", item)
    assert row is not None
    return row.running_attempt
