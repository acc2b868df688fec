"""`runner prune` and `settings.retention` on state and files made by real `runner run`s.

Runs are real processes; the prune itself runs through the CLI (dry run, --yes, --json) or
in-process with a `now` days ahead, so that nothing waits for retention periods to pass.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest

from runner import exitcodes, operations
from runner.config import load_pipeline
from runner.operations import _prune
from runner.state import open_store
from runner.state.sqlite.migrations import MIGRATIONS
from tests.support.workspace import Workspace, settings

DAY = 86_400.0

ITEM = """\
import json, os, sys
item = sys.argv[1]
print("working on", item)
with open(os.environ["RUNNER_EVENTS"], "a") as events:
    events.write(json.dumps({"processed": item + "-part-" + os.environ["RUNNER_ATTEMPT"]}) + "\\n")
with open(item + ".seen", "a") as seen:
    seen.write(open(os.environ["RUNNER_PROCESSED"]).read().replace("\\n", " ") + "|")
"""


def pipeline_text(members: str, retention: str = "") -> str:
    extra = f"  retention: {{{retention}}}\n" if retention else ""
    return settings(4, extra) + textwrap.dedent(
        f"""
        groups:
          g: {{members: [{members}]}}
        definitions:
          d:
            command: ["./item.py", "{{{{ item.id }}}}"]
        tasks:
          t:
            definition: d
            group: g
            before: [{{run: ["sh", "-c", "echo starting"]}}]
        """
    )


def run_now(ws: Workspace) -> None:
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
    assert result.returncode == exitcodes.OK, result.stderr


@pytest.fixture
def three_runs(ws: Workspace) -> Workspace:
    """Task t ran three times: a and b each time; c only in the first (then left the group)."""
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", pipeline_text("a, b, c"))
    run_now(ws)
    ws.write("pipeline.yaml", pipeline_text("a, b"))
    run_now(ws)
    run_now(ws)
    return ws


def retain(ws: Workspace, retention: str) -> None:
    members = "a, b" if (ws.root / "c.seen").exists() else "a, b, c"
    ws.write("pipeline.yaml", pipeline_text(members, retention))


def attempts(ws: Workspace) -> dict[tuple[str, int], Path]:
    """(item, attempt number) -> its stdout path, for every attempt row."""
    with ws.store() as store:
        return {
            (a.item_id, a.number): Path(f"{a.output_dir}.{a.number}.stdout")
            for item in ("a", "b", "c")
            for a in store.attempts_of("t", item)
        }


def prune_later(ws: Workspace, days: float, *, apply: bool = True) -> operations.PruneReport:
    pipeline = load_pipeline(ws.root / "pipeline.yaml")
    return operations.prune(pipeline, apply=apply, now=time.time() + days * DAY)


class TestAttemptOutput:
    def test_old_output_goes_and_each_items_latest_attempt_keeps_its_own(
        self, three_runs: Workspace
    ) -> None:
        ws = three_runs
        retain(ws, "attempt_output: 1d")
        before = attempts(ws)
        assert all(path.is_file() for path in before.values())

        dry = prune_later(ws, 2, apply=False)
        assert dry.counts["attempt_output"].count == 4  # a and b: attempts 1 and 2
        assert all(path.is_file() for path in before.values())

        done = prune_later(ws, 2)
        assert done.counts["attempt_output"].count == 4
        assert done.counts["attempt_output"].bytes > 0
        gone = {key for key, path in before.items() if not path.exists()}
        assert gone == {("a", 1), ("a", 2), ("b", 1), ("b", 2)}
        # c's only attempt, and a's and b's latest, keep their output; the rows all stay
        assert attempts(ws).keys() == before.keys()
        assert prune_later(ws, 2).counts["attempt_output"].count == 0

    def test_history_says_pruned(self, three_runs: Workspace) -> None:
        ws = three_runs
        retain(ws, "attempt_output: 1d")
        prune_later(ws, 2)
        entries = json.loads(
            ws.runner("history", "pipeline.yaml", "--task", "t", "a", "--json").stdout
        )
        first, last = entries[0], entries[-1]
        assert first["stdout"] is None and first["output_pruned"] is not None
        assert last["stdout"] is not None and last["output_pruned"] is None
        text = ws.runner("history", "pipeline.yaml", "--task", "t", "a").stdout
        assert "output: pruned" in text

    def test_nothing_is_pruned_before_its_time(self, three_runs: Workspace) -> None:
        ws = three_runs
        retain(ws, "attempt_output: 30d, runs: 30d, logs: 30d")
        report = prune_later(ws, 2)
        assert all(count.count == 0 for count in report.counts.values())

    def test_a_file_already_gone_does_not_trip_history_or_prune(
        self, three_runs: Workspace
    ) -> None:
        """A crash between removing the files and recording it leaves rows without files."""
        ws = three_runs
        retain(ws, "attempt_output: 1d")
        attempts(ws)[("a", 1)].unlink()
        result = ws.runner("history", "pipeline.yaml", "--task", "t", "a")
        assert result.returncode == exitcodes.OK, result.stderr
        prune_later(ws, 2)
        with ws.store() as store:
            assert store.attempts_of("t", "a")[0].id in store.outputs_pruned("t", "a")


class TestRuns:
    def test_old_runs_go_but_latest_attempts_their_runs_and_checkpoints_stay(
        self, three_runs: Workspace
    ) -> None:
        ws = three_runs
        retain(ws, "runs: 1d")
        with ws.store() as store:
            runs = [store.attempts_of("t", "a")[n].run_id for n in range(3)]
            processed_before = {i: list(store.processed_subids("t", i)) for i in "abc"}
        steps = ws.root / ".runner" / "logs" / "steps"
        assert len(list(steps.glob("*/*"))) == 3

        report = prune_later(ws, 2)
        assert report.counts["attempts"].count == 4  # a and b: attempts 1 and 2
        assert report.counts["runs"].count == 1  # the second run; the first still holds c's
        with ws.store() as store:
            assert [a.number for a in store.attempts_of("t", "a")] == [3]
            assert [a.number for a in store.attempts_of("t", "c")] == [1]
            assert store.run(runs[0]) is not None  # c's latest attempt belongs to it
            assert store.run(runs[1]) is None
            assert store.run(runs[2]) is not None  # the task's most recent run
            assert store.last_run("t") == store.run(runs[2])
            # processed sub-ids belong to the item: a later attempt still gets every one
            assert {i: list(store.processed_subids("t", i)) for i in "abc"} == processed_before
        assert len(list(steps.glob("*/*"))) == 2

        run_now(ws)  # the runner goes on from the pruned state
        seen = (ws.root / "a.seen").read_text().split("|")[-2]
        assert set(seen.split()) == {"a-part-1", "a-part-2", "a-part-3"}
        with ws.store() as store:
            assert [a.number for a in store.attempts_of("t", "a")] == [3, 4]

    def test_batches_cover_every_row(
        self, three_runs: Workspace, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws = three_runs
        retain(ws, "runs: 1d, attempt_output: 1d")
        monkeypatch.setattr(_prune, "BATCH", 1)
        report = prune_later(ws, 2)
        assert report.counts["attempts"].count == 4
        assert report.counts["runs"].count == 1

    def test_nothing_of_an_open_run_is_pruned(self, three_runs: Workspace) -> None:
        ws = three_runs
        retain(ws, "runs: 1s, attempt_output: 1s, logs: 1s")
        ws.script("item.py", "import time; time.sleep(60)\n")
        runner = ws.spawn("run", "pipeline.yaml", "--now", "--task", "t")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with ws.store() as store:
                    if (
                        len(store.attempts_of("t", "a")) == 4
                        and len(store.attempts_of("t", "b")) == 4
                    ):
                        break
                time.sleep(0.1)
            with ws.store() as store:
                open_run = store.open_run("t")
            assert open_run is not None
            today = (
                ws.root / ".runner" / "logs" / f"runner-{dt.datetime.now(dt.UTC):%Y-%m-%d}.jsonl"
            )

            result = ws.runner("prune", "pipeline.yaml", "--yes", "--json")
            assert result.returncode == exitcodes.OK, result.stderr
            report = json.loads(result.stdout)
            # attempts 1 and 2 went; 3 (the latest finished) and 4 (running) stayed
            assert report["attempts"]["count"] == 4
            with ws.store() as store:
                assert [a.number for a in store.attempts_of("t", "a")] == [3, 4]
                assert store.run(open_run.id) is not None
            assert attempts(ws)[("a", 3)].is_file()
            assert today.is_file()
        finally:
            runner.terminate()  # SIGTERM: the runner stops its attempts' processes, then exits
            runner.communicate(timeout=60)


class TestLogs:
    def test_old_daily_files_go_and_todays_stays(self, three_runs: Workspace) -> None:
        ws = three_runs
        logs = ws.root / ".runner" / "logs"
        old = logs / "runner-2020-01-01.jsonl"
        old.write_text('{"event": "x"}\n')
        retain(ws, "logs: 7d")
        report = prune_later(ws, 0)
        assert report.counts["logs"].count == 1
        assert not old.exists()
        assert list(logs.glob("runner-*.jsonl"))


class TestCli:
    def test_dry_run_by_default_then_yes(self, three_runs: Workspace) -> None:
        ws = three_runs
        retain(ws, "attempt_output: 1s")
        before = attempts(ws)
        time.sleep(1.1)

        dry = ws.runner("prune", "pipeline.yaml")
        assert dry.returncode == exitcodes.OK, dry.stderr
        assert "would remove 4 attempts' output files" in dry.stdout
        assert "dry run: nothing was removed" in dry.stdout
        assert "kept forever (settings.retention.logs is not set)" in dry.stdout
        assert all(path.is_file() for path in before.values())

        done = ws.runner("prune", "pipeline.yaml", "--yes", "--json")
        assert done.returncode == exitcodes.OK, done.stderr
        report = json.loads(done.stdout)
        assert report["applied"] is True
        assert report["attempt_output"]["count"] == 4
        assert report["attempt_output"]["retention"] == "1s"
        assert report["runs"]["retention"] is None
        assert sum(path.exists() for path in before.values()) == 2 + 1
        events = [json.loads(line) for line in ws.log_text().splitlines()]
        done_events = [e for e in events if e["event"] == "prune.done"]
        assert done_events and done_events[-1]["attempt_output"] == 4

    def test_without_a_state_file_nothing_to_prune(self, ws: Workspace) -> None:
        ws.write("pipeline.yaml", pipeline_text("a", "runs: 1d"))
        result = ws.runner("prune", "pipeline.yaml", "--json")
        assert result.returncode == exitcodes.OK, result.stderr
        assert json.loads(result.stdout)["runs"]["count"] == 0
        text = ws.runner("prune", "pipeline.yaml").stdout
        assert "runs:           nothing older than 1d" in text
        assert "dry run: nothing to remove" in text


class TestSettings:
    @pytest.mark.parametrize(
        ("retention", "expected"),
        [
            ("runs: 0s", "runs"),
            ("logs: soon", "logs"),
            ("outputs: 1d", "outputs"),
        ],
    )
    def test_bad_retention_is_a_located_error(
        self, ws: Workspace, retention: str, expected: str
    ) -> None:
        ws.write("pipeline.yaml", pipeline_text("a", retention))
        result = ws.runner("validate", "pipeline.yaml")
        assert result.returncode == exitcodes.BAD_CONFIG
        assert "pipeline.yaml:" in result.stderr + result.stdout
        assert expected in result.stderr + result.stdout


def test_a_state_file_of_the_previous_schema_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with open_store(path, readonly=True) as store:  # the reading verbs do not migrate
        assert store.outputs_pruned("t", "a") == {}
        assert store.prunable_outputs(ended_before=time.time(), after_id=0, limit=10) == []
    with open_store(path) as store:
        assert store.outputs_pruned("t", "a") == {}
        assert store.prunable_outputs(ended_before=time.time(), after_id=0, limit=10) == []
