"""Output rules over real runs: an unmodified tool's lines become progress, metrics, details and
checkpoints, recorded like RUNNER_EVENTS lines; a retry gets the sub-ids in RUNNER_PROCESSED."""

from __future__ import annotations

import json
import textwrap

from runner import exitcodes
from tests.integration.test_operator_cli import validate
from tests.support.workspace import Workspace, settings

TOOL = """\
import os, sys
attempt = os.environ["RUNNER_ATTEMPT"]
with open(os.environ["RUNNER_PROCESSED"]) as done:
    skip = {line.strip() for line in done if line.strip()}
print("attempt", attempt, "skips", ",".join(sorted(skip)) or "nothing", flush=True)
with open(os.environ["RUNNER_EVENTS"], "a") as events:
    events.write(json.dumps({"metric": {"files": 1}}) + "\\n")
for n in range(1, 5):
    msg = f"msg-{n}"
    if msg in skip:
        continue
    if attempt == "1" and n == 3:
        print("ERROR: connection lost", file=sys.stderr)
        sys.exit(1)
    print(f"copied {msg}", flush=True)
    sys.stdout.write(f"Transferred: {n}/4 messages\\r")
    sys.stdout.flush()
    print(f"size={n * 100} bytes, {n}.5 s", file=sys.stderr, flush=True)
print("Mailbox secret-value-1234 done")
"""

PIPELINE = r"""
groups:
  g: {members: [box]}
definitions:
  d:
    command: ["./tool.py"]
    output_events:
      - {match: '^copied (?P<id>\S+)', event: processed, stream: stdout}
      - {match: '^Transferred: (?P<done>\d+)/(?P<total>\d+) messages', event: progress}
      - {match: '^size=(?P<bytes>\d+) bytes, (?P<seconds>[\d.]+) s', event: metric, stream: stderr}
      - {match: '^ERROR: (?P<detail>.*)', event: detail}
      - {match: '^Mailbox (?P<detail>.*)', event: detail}
policies:
  p: {max_retries: 1, backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t: {definition: d, group: g, policy: p}
"""


def test_rules_make_events_and_a_retry_skips_what_was_processed(ws: Workspace) -> None:
    ws.script("tool.py", "import json\n" + TOOL)
    extra = "  secrets: [BOX_SECRET]\n"
    ws.write("pipeline.yaml", settings(1, extra) + textwrap.dedent(PIPELINE))
    result = ws.runner("run", "pipeline.yaml", "--now", env={"BOX_SECRET": "secret-value-1234"})
    assert exitcodes.OK == result.returncode, result.stderr
    out = ws.runner("output", "pipeline.yaml", "--task", "t", "box", "--stream", "stdout").stdout
    assert out.startswith("attempt 2 skips msg-1,msg-2\n")
    with ws.store() as store:
        first, second = store.attempts_of("t", "box")
        assert ["msg-1", "msg-2", "msg-3", "msg-4"] == list(store.processed_subids("t", "box"))
        by_attempt = store.processed_by_attempt("t", "box")
        assert {first.id: 2, second.id: 2} == by_attempt
        # each events-file line is counted as read; the rule events are not lines of that file
        assert (1, 1) == (first.events_read, second.events_read)
        # attempt 1: 2 processed, 1 or 2 progress and metrics (of lines read at once only the
        # last match of such a rule counts), 1 detail, and its events file's line
        assert 6 <= first.checkpoints <= 8
        metrics = store.metrics_of_attempts([first.id, second.id])
        assert {"bytes": 200.0, "seconds": 2.5, "files": 1.0} == metrics[first.id]
        assert {"bytes": 400.0, "seconds": 4.5, "files": 1.0} == metrics[second.id]
        assert {"bytes": 600.0, "seconds": 7.0, "files": 2.0} == store.metrics_of_task("t")
        task = store.task("t")
        assert task is not None and "*** done" == task.latest_detail
    logged = [json.loads(line) for line in ws.log_text().splitlines()]
    assert not [e for e in logged if e["event"] == "attempt.events_invalid"]
    shown = json.loads(ws.runner("history", "pipeline.yaml", "--task", "t", "box", "--json").stdout)
    validate("history", shown)
    assert [
        {"bytes": 200, "files": 1, "seconds": 2.5},
        {"bytes": 400, "files": 1, "seconds": 4.5},
    ] == [e["metrics"] for e in shown if e["kind"] == "attempt"]
    text = ws.runner("history", "pipeline.yaml", "--task", "t", "box").stdout
    assert "    metrics: bytes=400 files=1 seconds=4.5" in text.splitlines()
    (item,) = json.loads(ws.runner("items", "pipeline.yaml", "--task", "t", "--json").stdout)
    validate("items", [item])
    assert {"bytes": 600, "files": 2, "seconds": 7} == item["metrics"]
    table = ws.runner("items", "pipeline.yaml", "--task", "t").stdout
    assert "METRICS" in table and "bytes=600 files=2 seconds=7" in table
    status = json.loads(ws.runner("status", "pipeline.yaml", "--json").stdout)
    validate("status", status)
    assert {"bytes": 600, "files": 2, "seconds": 7} == status["tasks"][0]["metrics"]
    text = ws.runner("status", "pipeline.yaml").stdout
    assert "  metrics (sums): bytes=600 files=2 seconds=7" in text.splitlines()


CRASHING_TOOL = """\
import os, sys, time
with open(os.environ["RUNNER_PROCESSED"]) as done:
    skip = sorted(line.strip() for line in done if line.strip())
print("skips", ",".join(skip) or "nothing", flush=True)
if os.environ["RUNNER_ATTEMPT"] == "1":
    sys.stdout.write("copied msg-1\\ncopied msg-2\\n")
    sys.stdout.flush()
    time.sleep(60)  # killed by the next runner's sweep of the dead runner's attempts
"""

CRASH_PIPELINE = r"""
groups:
  g: {members: [box]}
definitions:
  d:
    command: ["./tool.py"]
    output_events:
      - {match: '^copied (?P<id>\S+)', event: processed}
policies:
  p: {max_retries: 1, retry_on: [interrupted], backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t: {definition: d, group: g, policy: p}
"""


def test_a_runner_killed_before_recording_them_loses_no_processed_sub_id(ws: Workspace) -> None:
    """The runner dies inside the transaction that records the rule's two sub-ids; the next
    runner finds them in the output file and the retry skips them."""
    ws.script("tool.py", CRASHING_TOOL)
    ws.write("pipeline.yaml", settings(1) + textwrap.dedent(CRASH_PIPELINE))
    crashed = ws.runner(
        "run", "pipeline.yaml", "--now", env={"RUNNER_FAILPOINT": "during-checkpoint-write"}
    )
    assert -9 == crashed.returncode, crashed.stderr
    with ws.store() as store:
        assert [] == list(store.processed_subids("t", "box"))
    result = ws.runner("run", "pipeline.yaml")
    assert exitcodes.OK == result.returncode, result.stderr
    with ws.store() as store:
        assert ["msg-1", "msg-2"] == list(store.processed_subids("t", "box"))
        first, _ = store.attempts_of("t", "box")
        assert ("interrupted", 2, 0) == (first.status, first.checkpoints, first.events_read)
    out = ws.runner("output", "pipeline.yaml", "--task", "t", "box", "--stream", "stdout")
    assert "skips msg-1,msg-2\n" == out.stdout
    logged = [json.loads(line) for line in ws.log_text().splitlines()]
    (interrupted,) = [e for e in logged if e["event"] == "attempt.interrupted"]
    assert 2 == interrupted["checkpoints_merged"]
