"""Engine behaviour in-process: a fake launcher and a fake clock, no child process, no sleeping.

The same behaviours through real processes are in tests/integration/test_engine.py.
"""

from __future__ import annotations

import itertools
import textwrap
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.config import load_pipeline
from runner.domain.runs import RUN_FAILED, RUN_INTERRUPTED, RUN_OK, RUN_WITH_ERRORS, TRIGGER_NOW
from runner.engine import Engine, RunReport, RunRequest
from runner.process import LaunchSpec, ProcessResult
from runner.state import StateStore, open_store
from runner.testing import FakeClock, FakeLauncher, LogCapture, Script, key_of

SETTINGS = """\
version: 1
settings:
  state: state.db
  logs: logs
  concurrency: {concurrency}
"""


@dataclass
class Bench:
    """A pipeline in tmp_path, its state, a fake clock, a fake launcher and captured logs."""

    root: Path
    clock: FakeClock
    launcher: FakeLauncher
    log: LogCapture
    cancel: threading.Event

    def pipeline(self, body: str, concurrency: int = 1) -> None:
        text = SETTINGS.format(concurrency=concurrency) + textwrap.dedent(body)
        (self.root / "pipeline.yaml").write_text(text)

    def engine(self, store: StateStore) -> Engine:
        return Engine(
            load_pipeline(self.root / "pipeline.yaml"),
            store,
            site="main",
            log=self.log,
            cancel=self.cancel,
            now=self.clock,
            env={},
            launcher=self.launcher,
            idle=self.clock.advance,
        )

    def run(self, *tasks: str, resume: bool = False) -> list[RunReport]:
        """Run the tasks now (or resume the open runs) with a fresh engine; its reports."""
        with open_store(self.root / "state.db") as store:
            engine = self.engine(store)
            try:
                requests = [
                    RunRequest(r.task, r.trigger, r.fire_time, r.window_end, resume=r)
                    for r in store.open_runs("main")
                ]
                if not resume:
                    requests += [RunRequest(name, TRIGGER_NOW) for name in tasks]
                return engine.execute(requests)
            finally:
                engine.close()

    def store(self) -> StateStore:
        return open_store(self.root / "state.db", readonly=True)

    def keys(self) -> list[str]:
        """The keys (item id, step label) of every launch, in order."""
        return [key_of(spec) for spec in self.launcher.specs]


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    clock = FakeClock()
    yield Bench(tmp_path, clock, FakeLauncher(clock), LogCapture(), threading.Event())


def items(ids: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in ids) + "]"


class TestDispatch:
    def test_items_start_in_group_order_one_at_a_time(self, bench: Bench) -> None:
        """With concurrency 1 the unattempted items start in their group's order."""
        bench.pipeline(
            f"""
            groups: {{g: {{members: {items(["c", "a", "b", "d"])}}}}}
            definitions: {{d: {{command: ["x", "{{{{ item.id }}}}"]}}}}
            tasks: {{t: {{definition: d, group: g}}}}
            """
        )
        [report] = bench.run("t")
        assert report.status == RUN_OK
        assert bench.keys() == ["c", "a", "b", "d"]
        assert bench.launcher.most_running == 1

    def test_run_now_items_go_first(self, bench: Bench) -> None:
        """An item an operator put in run-now starts before the unattempted ones."""
        bench.pipeline(
            f"""
            groups: {{g: {{members: {items(["a", "b", "c"])}}}}}
            definitions: {{d: {{command: ["x", "{{{{ item.id }}}}"]}}}}
            tasks: {{t: {{definition: d, group: g}}}}
            """
        )
        bench.run("t")
        with open_store(bench.root / "state.db") as store:
            store.move_item(
                "t", "c", to_queue="run-now", by="tester", reason="urgent", now=bench.clock()
            )
        bench.launcher.specs.clear()
        bench.clock.advance(60)
        bench.run("t")
        assert bench.keys()[0] == "c"

    def test_task_cap_holds_within_the_runners(self, bench: Bench) -> None:
        """A task with concurrency 2 never has more than 2 items running, though the runner has 4."""
        bench.launcher.default = Script(duration=2)
        bench.pipeline(
            f"""
            groups: {{g: {{members: {items([f"i{n}" for n in range(6)])}}}}}
            definitions: {{d: {{command: ["x"]}}}}
            tasks: {{t: {{definition: d, group: g, concurrency: 2}}}}
            """,
            concurrency=4,
        )
        [report] = bench.run("t")
        assert report.status == RUN_OK
        assert bench.launcher.most_running == 2
        assert len(bench.launcher.specs) == 6


class TestPolicy:
    def test_failures_are_retried_after_the_backoff(self, bench: Bench) -> None:
        """Two failures then a success: three attempts, 60 s then 120 s apart (fake time)."""
        bench.launcher.script("x", Script(exit_code=1), Script(exit_code=1), Script(exit_code=0))
        bench.pipeline(
            """
            groups: {g: {members: "x"}}
            definitions: {d: {command: ["run"]}}
            policies: {p: {max_retries: 3, backoff: {initial: 60, factor: 2}}}
            tasks: {t: {definition: d, group: g, policy: p}}
            """
        )
        [report] = bench.run("t")
        assert report.status == RUN_OK
        with bench.store() as store:
            attempts = store.attempts_of("t", "x")
            assert [a.status for a in attempts] == ["failed", "failed", "ok"]
            gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(attempts)]
            assert 60 <= gaps[0] < 62
            assert 120 <= gaps[1] < 122
            assert store.queue_counts("t") == {"successful": 1}

    def test_exhausted_retries_go_to_the_policys_queue(self, bench: Bench) -> None:
        """No retries left: the failed item lands in the exhausted queue; the run has errors."""
        bench.launcher.script("x", Script(exit_code=1))
        bench.pipeline(
            """
            groups: {g: {members: "x; y"}}
            definitions: {d: {command: ["run"]}}
            policies: {p: {max_retries: 1, backoff: {initial: 5}}}
            tasks: {t: {definition: d, group: g, policy: p}}
            """
        )
        [report] = bench.run("t")
        assert report.status == RUN_WITH_ERRORS
        assert bench.launcher.launched("x") == 2
        with bench.store() as store:
            assert store.queue_counts("t") == {"awaiting-intervention": 1, "successful": 1}

    def test_outcome_rules_choose_status_and_queue(self, bench: Bench) -> None:
        """Exit 3 -> corrupt, a stderr match -> password-protected, no rule -> successful."""
        bench.launcher.script("bad", Script(exit_code=3))
        bench.launcher.script("locked", Script(exit_code=1, stderr="it is password protected"))
        bench.pipeline(
            """
            groups: {g: {members: "bad; locked; fine"}}
            definitions:
              d:
                command: ["run"]
                outcomes:
                  - {when: {exit_code: 3}, status: "#003", queue: corrupt}
                  - {when: {stderr: "password"}, status: locked, queue: password-protected}
            policies: {p: {max_retries: 5, retry_on: [failed]}}
            tasks: {t: {definition: d, group: g, policy: p}}
            """
        )
        [report] = bench.run("t")
        assert report.status == RUN_WITH_ERRORS
        with bench.store() as store:
            assert store.queue_counts("t") == {
                "corrupt": 1,
                "password-protected": 1,
                "successful": 1,
            }
            assert [a.status for a in store.attempts_of("t", "bad")] == ["#003"]
        assert len(bench.launcher.specs) == 3


class TestSteps:
    PIPELINE = """
        groups: {{g: {{members: "a; b"}}}}
        definitions: {{d: {{command: ["run"]}}}}
        tasks:
          t:
            definition: d
            group: g
            before: [{{run: ["prepare"], on_failure: {on_failure}}}]
            after:
              - {{run: ["on-success"], when: success}}
              - {{run: ["on-failure"], when: failure}}
        """

    def test_a_failed_error_step_fails_the_run_and_skips_the_items(self, bench: Bench) -> None:
        bench.launcher.script("before[0]", Script(exit_code=1))
        bench.pipeline(self.PIPELINE.format(on_failure="error"))
        [report] = bench.run("t")
        assert report.status == RUN_FAILED
        assert bench.keys() == ["before[0]", "after[1]"]
        [finished] = bench.log.named("step.finished")[:1]
        assert finished["log_level"] == "error"

    def test_steps_skipped_after_a_failed_error_step_are_logged(self, bench: Bench) -> None:
        """The start steps after a failed `on_failure: error` one leave a `step.skipped` each."""
        bench.launcher.script("before[0]", Script(exit_code=1))
        bench.pipeline(
            """
            groups: {g: {members: "a"}}
            definitions: {d: {command: ["x", "{{ item.id }}"]}}
            tasks:
              t:
                definition: d
                group: g
                before:
                  - {run: ["prepare"], on_failure: error}
                  - {run: ["second"]}
                  - {run: ["third"]}
            """
        )
        [report] = bench.run("t")
        assert report.status == RUN_FAILED
        assert bench.keys() == ["before[0]"]
        skipped = bench.log.named("step.skipped")
        assert [(e["step"], e["log_level"]) for e in skipped] == [
            ("before[1]", "warning"),
            ("before[2]", "warning"),
        ]
        assert skipped[0]["reason"] == "before[0] failed (on_failure: error)"
        assert skipped[0]["task"] == "t"

    def test_a_failed_warn_step_is_logged_and_the_run_goes_on(self, bench: Bench) -> None:
        bench.launcher.script("before[0]", Script(exit_code=1))
        bench.pipeline(self.PIPELINE.format(on_failure="warn"))
        [report] = bench.run("t")
        assert report.status == RUN_OK
        assert bench.keys() == ["before[0]", "a", "b", "after[0]"]
        assert bench.log.named("step.finished")[0]["log_level"] == "warning"


class TestResume:
    def test_a_stopped_run_resumes_where_it_stopped(self, bench: Bench) -> None:
        """A stop after the first item leaves the run open; the next start runs only the rest."""
        fake = bench.launcher

        def stop_after_a(spec: LaunchSpec, cancel: threading.Event | None = None) -> ProcessResult:
            result = fake(spec, cancel)
            if key_of(spec) == "a":
                bench.cancel.set()
            return result

        bench.pipeline(
            """
            groups: {g: {members: "a; b; c"}}
            definitions: {d: {command: ["run"]}}
            tasks: {t: {definition: d, group: g}}
            """
        )
        with open_store(bench.root / "state.db") as store:
            engine = Engine(
                load_pipeline(bench.root / "pipeline.yaml"),
                store,
                site="main",
                log=bench.log,
                cancel=bench.cancel,
                now=bench.clock,
                env={},
                launcher=stop_after_a,
                idle=bench.clock.advance,
            )
            [stopped] = engine.execute([RunRequest("t", TRIGGER_NOW)])
            engine.close()
        assert stopped.status == RUN_INTERRUPTED
        assert bench.keys() == ["a"]
        bench.cancel.clear()
        [resumed] = bench.run(resume=True)
        assert resumed.run_id == stopped.run_id
        assert resumed.status == RUN_OK
        assert bench.keys() == ["a", "b", "c"]
        with bench.store() as store:
            assert store.queue_counts("t") == {"successful": 3}


class TestDefects:
    def test_steps_take_a_slot_of_the_runners_concurrency(self, bench: Bench) -> None:
        """With concurrency 1, one task's before step and another task's item never run at once."""
        bench.launcher.default = Script(duration=3)
        bench.pipeline(
            """
            groups: {g: {members: "a; b"}}
            definitions: {d: {command: ["run"]}}
            tasks:
              items_only: {definition: d, group: g}
              with_step: {definition: d, group: g, before: [{run: ["prepare"]}]}
            """
        )
        reports = bench.run("items_only", "with_step")
        assert {r.status for r in reports} == {RUN_OK}
        assert bench.launcher.launched("before[0]") == 1
        assert bench.launcher.most_running == 1

    def test_finished_runs_leave_the_rotation(self, bench: Bench) -> None:
        """Once a run ends, the launch slots no longer keep it (each take() would scan it)."""
        bench.pipeline(
            """
            groups: {g: {members: "a; b; c"}}
            definitions: {d: {command: ["run"]}}
            tasks:
              t1: {definition: d, group: g}
              t2: {definition: d, group: g}
            """,
            concurrency=2,
        )
        with open_store(bench.root / "state.db") as store:
            engine = bench.engine(store)
            try:
                reports = engine.execute(
                    [RunRequest("t1", TRIGGER_NOW), RunRequest("t2", TRIGGER_NOW)]
                )
                assert [r.status for r in reports] == [RUN_OK, RUN_OK]
                assert engine.runs_in_rotation() == 0
            finally:
                engine.close()


class TestEvents:
    PIPELINE = """
        groups: {g: {members: "a; b"}}
        definitions: {d: {command: ["x", "{{ item.id }}"]}}
        tasks: {t: {definition: d, group: g}}
    """

    def test_malformed_event_lines_are_counted_and_logged(self, bench: Bench) -> None:
        """Lines that are not events are not dropped silently: one warning per attempt."""
        bench.launcher.script(
            "a",
            Script(
                events=[
                    '{"processed": "one"}',
                    "not json at all",
                    '{"processed": ""}',
                    '{"processed": "two\\nlines"}',
                    '{"progress": 0.5}',
                ]
            ),
        )
        bench.pipeline(self.PIPELINE)
        [report] = bench.run("t")
        assert report.status == RUN_OK
        [logged] = bench.log.named("attempt.events_invalid")
        assert logged["log_level"] == "warning"
        assert (logged["item"], logged["attempt"], logged["count"]) == ("a", 1, 3)
        assert logged["first_line"] == "not json at all"
        with bench.store() as store:
            assert list(store.processed_subids("t", "a")) == ["one"]

    def test_no_warning_without_malformed_lines(self, bench: Bench) -> None:
        bench.launcher.script("a", Script(events=['{"processed": "one"}']))
        bench.pipeline(self.PIPELINE)
        bench.run("t")
        assert bench.log.named("attempt.events_invalid") == []
