"""`runner output` and its library function over the files of real attempts and steps."""

from __future__ import annotations

import json
import socket
import textwrap
from dataclasses import replace

import pytest

from runner import exitcodes, operations
from runner.config import Pipeline, load_pipeline
from runner.errors import UsageError
from runner.state import WorkerRow, open_store
from tests.support.workspace import Workspace, settings

ITEM = """\
import os, sys
item = sys.argv[1]
attempt = os.environ["RUNNER_ATTEMPT"]
print(f"out {item} attempt {attempt} secret={os.environ.get('OUT_SECRET', '')}")
print(f"err {item} attempt {attempt} caf\\u00e9", file=sys.stderr)
if item == "big":
    sys.stdout.write("x" * 3000 + "\\nlast line\\n")
if item == "quiet":
    sys.exit(0)
sys.exit(1 if attempt == "1" and item == "twice" else 0)
"""

PIPELINE = """
groups:
  g: {members: [one, twice, big]}
  q: {members: [quiet]}
definitions:
  d: {command: ["./item.py", "{{ item.id }}"]}
  silent: {command: ["/bin/true"]}
policies:
  p: {max_retries: 1, backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t:
    definition: d
    group: g
    policy: p
    before:
      - run: ["/bin/sh", "-c", "echo preparing {{ run.id }}; echo warned >&2"]
    after:
      - run: ["/bin/echo", "finished"]
  s: {definition: silent, group: q}
"""


@pytest.fixture
def ran(ws: Workspace) -> Pipeline:
    """Task `t` ran: `twice` failed once then succeeded, `big` overflowed output_limit."""
    ws.script("item.py", ITEM)
    extra = "  secrets: [OUT_SECRET]\n  output_limit: 1024\n"
    ws.write("pipeline.yaml", settings(2, extra) + textwrap.dedent(PIPELINE))
    env = {"OUT_SECRET": "hunter2-very-secret"}
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t", env=env)
    assert exitcodes.OK == result.returncode, result.stderr
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t", env=env)
    assert exitcodes.OK == result.returncode, result.stderr
    return load_pipeline(ws.root / "pipeline.yaml")


def test_latest_attempt_streams_apart_and_masked(ran: Pipeline) -> None:
    """Without --attempt: the latest attempt; stdout and stderr as stored, the secret masked."""
    found = operations.output(ran, "t", "twice")
    assert (3, None, "ok") == (found.attempt, found.step, found.status)
    assert "out twice attempt 3 secret=***\n" == found.stdout.text
    assert "err twice attempt 3 caf\u00e9\n" == found.stderr.text
    assert found.stdout.path.endswith(".3.stdout")
    assert not found.truncated
    assert socket.gethostname() == found.host


def test_chosen_attempt_and_unknown_attempt(ran: Pipeline) -> None:
    """--attempt N picks an earlier attempt; a number the item never had is refused, listing them."""
    first = operations.output(ran, "t", "twice", attempt=1)
    assert ("failed", "out twice attempt 1 secret=***\n") == (first.status, first.stdout.text)
    with pytest.raises(UsageError, match=r"has no attempt 7; its attempts: 1, 2, 3"):
        operations.output(ran, "t", "twice", attempt=7)


def test_unknown_item_and_task(ran: Pipeline) -> None:
    with pytest.raises(UsageError, match="has no item 'nope'"):
        operations.output(ran, "t", "nope")
    with pytest.raises(UsageError, match=r"no task named 'tt'.*did you mean 't'"):
        operations.output(ran, "tt", "one")


def test_truncated_and_tail(ran: Pipeline) -> None:
    """The file the runner truncated says how much it dropped; a tail cuts more, counted too."""
    whole = operations.output(ran, "t", "big")
    assert whole.truncated and whole.stdout.text.endswith("x\nlast line\n")
    assert len(whole.stdout.text) == 1024
    printed = len("out big attempt 2 secret=***\n") + 3000 + len("\nlast line\n")
    assert printed - 1024 == whole.stdout.dropped
    tail = operations.output(ran, "t", "big", tail_bytes=10)
    assert "last line\n" == tail.stdout.text
    assert whole.stdout.dropped + 1014 == tail.stdout.dropped
    json_form = tail.to_json()
    assert json_form["truncated"] is True
    assert "last line\n" == json_form["streams"]["stdout"]["text"]


def test_steps_of_the_items_run_and_of_a_chosen_run(ran: Pipeline) -> None:
    """A step's output: of the run of the item's attempt by default; of the task's latest run
    without an item; of any run named with `run`."""
    with open_store(ran.state_location, readonly=True) as store:
        first_run = store.attempts_of("t", "twice")[0].run_id
        latest = store.last_run("t")
    assert latest is not None and latest.id != first_run
    of_item = operations.output(ran, "t", "twice", attempt=1, step="before[0]")
    assert (f"preparing {first_run}\n", "warned\n") == (of_item.stdout.text, of_item.stderr.text)
    assert ("before[0]", None, "ok") == (of_item.step, of_item.attempt, of_item.status)
    of_task = operations.output(ran, "t", None, step="after")
    assert ("after[0]", latest.id, "finished\n") == (
        of_task.step,
        of_task.run_id,
        of_task.stdout.text,
    )
    named = operations.output(ran, "t", None, step="before-0", run=first_run)
    assert f"preparing {first_run}\n" == named.stdout.text


def test_unknown_step_and_run(ran: Pipeline) -> None:
    with pytest.raises(
        UsageError, match=r"ran no step after\[3\]; its steps: before\[0\], after\[0\]"
    ):
        operations.output(ran, "t", None, step="after[3]")
    with pytest.raises(UsageError, match="unknown step 'middle'"):
        operations.output(ran, "t", None, step="middle")
    with pytest.raises(UsageError, match="has no run 'r-x'"):
        operations.output(ran, "t", None, step="before", run="r-x")
    with pytest.raises(UsageError, match="use it with --step"):
        operations.output(ran, "t", "one", run="r-x")


def test_no_output_file_is_explained(ws: Workspace, ran: Pipeline) -> None:
    """An attempt that printed nothing, or whose files were removed, is explained, not shown empty."""
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "s")
    assert exitcodes.OK == result.returncode, result.stderr
    with pytest.raises(operations.OutputUnavailableError, match="printed nothing, or its files"):
        operations.output(ran, "s", "quiet")
    for stream in operations.output(ran, "t", "one").streams:
        ws.root.joinpath(stream.path).unlink()
    with pytest.raises(operations.OutputUnavailableError, match="runner prune"):
        operations.output(ran, "t", "one")


def test_files_on_another_host_name_the_host(ws: Workspace, ran: Pipeline) -> None:
    """When the runner that ran the attempt is on another host, the message names that host."""
    for stream in operations.output(ran, "t", "one").streams:
        ws.root.joinpath(stream.path).unlink()
    with open_store(ran.state_location) as store:
        latest = store.attempts_of("t", "one")[-1]
        (worker,) = [w for w in store.workers() if w.name == latest.runner]
        store.heartbeat(replace(worker, host="far-away"))
        store.heartbeat(WorkerRow("default", "running", 2, "near", 1.0, 2.0, 0, 0.0, "other"))
    with pytest.raises(operations.OutputUnavailableError, match="ran it on host 'far-away'"):
        operations.output(ran, "t", "one")


def test_json_is_serialisable(ran: Pipeline) -> None:
    shown = json.loads(json.dumps(operations.output(ran, "t", "one").to_json()))
    assert {"task", "item", "attempt", "step", "run_id", "site", "host", "streams"} <= set(shown)
    assert {"stdout", "stderr"} == set(shown["streams"])


class TestCommand:
    """`runner output` through the real CLI."""

    def test_text_shows_each_stream_under_its_header(self, ws: Workspace, ran: Pipeline) -> None:
        result = ws.runner("output", "pipeline.yaml", "--task", "t", "twice", "--attempt", "1")
        assert exitcodes.OK == result.returncode, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("attempt 1 of item twice (run t@") and "failed" in lines[0]
        assert lines[1].startswith("--- stdout: ") and lines[1].endswith(".1.stdout")
        assert "out twice attempt 1 secret=***" == lines[2]
        assert lines[3].startswith("--- stderr: ")
        assert "err twice attempt 1 caf\u00e9" == lines[4]
        assert 5 == len(lines)

    def test_one_stream_as_is_and_the_dropped_bytes(self, ws: Workspace, ran: Pipeline) -> None:
        result = ws.runner("output", "pipeline.yaml", "--task", "t", "big", "--stream", "stdout")
        assert exitcodes.OK == result.returncode, result.stderr
        assert result.stdout.endswith("x\nlast line\n") and 1024 == len(result.stdout)
        result = ws.runner("output", "pipeline.yaml", "--task", "t", "big", "--tail", "10")
        assert "bytes before this left out" in result.stdout.splitlines()[1]

    def test_json_has_the_documented_shape(self, ws: Workspace, ran: Pipeline) -> None:
        from tests.integration.test_operator_cli import validate

        for extra in (["one"], ["--step", "after[0]"], ["big", "--tail", "5"]):
            result = ws.runner("output", "pipeline.yaml", "--task", "t", *extra, "--json")
            assert exitcodes.OK == result.returncode, result.stderr
            validate("output", json.loads(result.stdout))

    def test_step_without_an_item(self, ws: Workspace, ran: Pipeline) -> None:
        result = ws.runner(
            "output", "pipeline.yaml", "--task", "t", "--step", "before[0]", "--stream", "stderr"
        )
        assert (exitcodes.OK, "warned\n") == (result.returncode, result.stdout), result.stderr

    def test_errors_exit_with_a_message(self, ws: Workspace, ran: Pipeline) -> None:
        """Bad usage exits 2; output files that are gone exit 1; never a traceback."""
        cases = [
            (["--task", "t"], exitcodes.BAD_CONFIG, "takes one ITEM"),
            (["--task", "t", "one", "two"], exitcodes.BAD_CONFIG, "got 2 items"),
            (["--task", "t", "one", "--attempt", "4"], exitcodes.BAD_CONFIG, "no attempt 4"),
            (["--task", "t", "one", "--tail", "-1"], exitcodes.BAD_CONFIG, "0 or more"),
            (["--task", "t", "--step", "during"], exitcodes.BAD_CONFIG, "unknown step"),
        ]
        for stream in operations.output(ran, "t", "one").streams:
            ws.root.joinpath(stream.path).unlink()
        cases.append((["--task", "t", "one"], exitcodes.RUN_FAILED, "left no output file"))
        for args, code, message in cases:
            result = ws.runner("output", "pipeline.yaml", *args)
            assert code == result.returncode, (args, result.stderr)
            assert message in result.stderr and "Traceback" not in result.stderr
