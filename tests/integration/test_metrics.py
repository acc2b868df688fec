"""`runner metrics`: the Prometheus exposition of a state made by a real run.

The text must parse with prometheus_client's own parser and its numbers must equal what
`runner status --json` and `runner history --json` say of the same state.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner import exitcodes
from runner.domain import queues as q
from runner.metrics import DURATION_BUCKETS
from runner.state import open_existing
from tests.support.workspace import Workspace, settings

ITEM = """\
import sys, time
item = sys.argv[1]
if item.startswith("slow-"):
    time.sleep(1.2)
if item.startswith("exit-"):
    sys.exit(int(item.split("-")[1]))
"""

PIPELINE = """
groups:
  g: {members: [ok-1, ok-2, slow-3, exit-3, exit-9, exit-4]}
  h: {members: [ok-a]}
definitions:
  d:
    command: ["./item.py", "{{ item.id }}"]
    outcomes:
      - {when: {exit_code: 0}, status: ok}
      - {when: {exit_code: 3}, status: "#001"}
      - {when: {exit_code: 9}, status: corrupt, queue: corrupt}
policies:
  p: {max_retries: 1, retry_on: ["#001"], backoff: {initial: 0s, factor: 1, max: 0s}}
tasks:
  t: {definition: d, group: g, policy: p, mode: once}
  u: {definition: d, group: h, mode: once}
  never: {definition: d, group: h}
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by (sample name, sorted labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def pick(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def cli_json(ws: Workspace, *args: str) -> Any:
    result = ws.runner(*args, "--json")
    assert exitcodes.OK == result.returncode, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def ran(ws: Workspace) -> Workspace:
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(4) + textwrap.dedent(PIPELINE))
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "t")
    assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr
    result = ws.runner("run", "pipeline.yaml", "--now", "--task", "u")
    assert exitcodes.OK == result.returncode, result.stderr
    return ws


def test_metrics_parse_and_equal_status(ran: Workspace) -> None:
    paused = ran.runner(
        "pause", "pipeline.yaml", "--task", "u", "--reason", "patching", "--by", "ops"
    )
    assert exitcodes.OK == paused.returncode, paused.stderr
    result = ran.runner("metrics", "pipeline.yaml")
    assert exitcodes.OK == result.returncode, result.stderr
    found = samples(result.stdout)
    report = cli_json(ran, "status", "pipeline.yaml")

    for task in report["tasks"]:
        for queue, count in task["queues"].items():
            labels = {"task": task["name"], "queue": queue, "category": q.CATEGORY[queue]}
            assert count == pick(found, "runner_items", **labels)
        assert task["running"] == pick(found, "runner_items_running", task=task["name"])
        assert 1 == pick(found, "runner_task_status", task=task["name"], status=task["status"])
        held = task["halted"]
        by = held["by"] if held else ""
        assert (1 if held else 0) == pick(found, "runner_task_halted", task=task["name"], by=by)
    assert 1 == pick(found, "runner_task_halted", task="u", by="ops")
    assert 0 == pick(found, "runner_task_halted", task="t", by="")
    t = next(task for task in report["tasks"] if task["name"] == "t")
    assert 3 == t["queues"]["successful"]
    assert 3 == pick(found, "runner_items", task="t", queue="successful", category="inactive")
    assert 2 == pick(
        found, "runner_items", task="t", queue="awaiting-intervention", category="error"
    )
    assert 1 == pick(found, "runner_items", task="t", queue="corrupt", category="error")

    # attempts by status: what every item's history holds
    statuses: Counter[tuple[str, str]] = Counter()
    durations: list[float] = []
    for task, ids in {
        "t": ["ok-1", "ok-2", "slow-3", "exit-3", "exit-9", "exit-4"],
        "u": ["ok-a"],
    }.items():
        for item in ids:
            entries = cli_json(ran, "history", "pipeline.yaml", "--task", task, item)
            for entry in entries:
                if entry["kind"] == "attempt":
                    statuses[(task, entry["status"])] += 1
                    if task == "t":
                        durations.append(entry["duration_s"])
    exposed = {
        (dict(labels)["task"], dict(labels)["status"]): value
        for (name, labels), value in found.items()
        if name == "runner_attempts_total"
    }
    assert dict(statuses) == exposed
    assert 2 == exposed[("t", "#001")]  # exit-3 ran twice: once retried

    # the duration histogram holds every attempt's duration (7: exit-3 ran twice)
    assert 7 == len(durations) == pick(found, "runner_attempt_duration_seconds_count", task="t")
    assert 7 == pick(found, "runner_attempt_duration_seconds_bucket", task="t", le="+Inf")
    for bound in DURATION_BUCKETS:
        within = sum(1 for d in durations if d <= bound)
        le = repr(float(bound))
        assert within == pick(found, "runner_attempt_duration_seconds_bucket", task="t", le=le)
    assert max(durations) >= 1.2  # slow-3 slept: the first bucket does not hold every attempt
    assert sum(durations) == pytest.approx(
        pick(found, "runner_attempt_duration_seconds_sum", task="t"), abs=0.01
    )

    # runs by outcome, as each task's last run says
    assert t["last_run"]["status"] == "completed-with-errors"
    assert 1 == pick(found, "runner_runs_total", task="t", status="completed-with-errors")
    assert 1 == pick(found, "runner_runs_total", task="u", status="ok")

    # the runner: it exited, so offline; its heartbeat age and throughput as status says
    (worker,) = report["workers"]
    key = {"site": worker["site"], "host": worker["host"], "instance": worker["instance"]}
    assert 0 == pick(found, "runner_worker_up", **key)
    assert worker["throughput"] / 60 == pytest.approx(
        pick(found, "runner_worker_throughput_items_per_second", **key)
    )
    assert 0 <= pick(found, "runner_worker_heartbeat_age_seconds", **key) < 120


def test_textfile_is_written_at_once_with_the_file_mode(ran: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "collector" / "runner.prom"
    target.parent.mkdir()
    target.write_text("old\n")
    result = ran.runner("metrics", "pipeline.yaml", "--textfile", str(target))
    assert exitcodes.OK == result.returncode, result.stderr
    assert "" == result.stdout
    found = samples(target.read_text())
    assert 3 == pick(found, "runner_items", task="t", queue="successful", category="inactive")
    assert 0o600 == stat.S_IMODE(target.stat().st_mode)
    assert ["runner.prom"] == os.listdir(target.parent)  # no temporary file left


def test_textfile_refuses_a_symlink_and_a_missing_directory(ran: Workspace, tmp_path: Path) -> None:
    real = tmp_path / "real.prom"
    real.write_text("keep\n")
    link = tmp_path / "link.prom"
    link.symlink_to(real)
    result = ran.runner("metrics", "pipeline.yaml", "--textfile", str(link))
    assert exitcodes.OK != result.returncode
    assert "symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert "keep\n" == real.read_text()
    result = ran.runner("metrics", "pipeline.yaml", "--textfile", str(tmp_path / "no" / "m.prom"))
    assert exitcodes.OK != result.returncode
    assert "cannot open" in result.stderr and "Traceback" not in result.stderr


def test_metrics_before_any_run(ws: Workspace) -> None:
    ws.script("item.py", ITEM)
    ws.write("pipeline.yaml", settings(4) + textwrap.dedent(PIPELINE))
    result = ws.runner("metrics", "pipeline.yaml")
    assert exitcodes.OK == result.returncode, result.stderr
    found = samples(result.stdout)
    assert 0 == pick(found, "runner_items", task="t", queue="unattempted", category="in-progress")
    assert 1 == pick(found, "runner_task_status", task="t", status="new")
    assert open_existing(ws.state_location) is None  # nothing was created
