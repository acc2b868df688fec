"""Several runners of one site on one PostgreSQL state (SPEC §8): one run shared, its steps
once, a task's concurrency over all of them, a dead runner taken over, a late one fenced.

Each simulated host is its own pipeline directory (its own logs and side files) pointing at
the same database, as separate hosts would; their runners are real processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner import exitcodes
from runner.state import open_store
from tests.support.fakeclock import CLOCK_FILE, SERVE_AT, at, set_clock
from tests.support.postgres import PostgresServer
from tests.support.spawning import kill_left_in
from tests.support.workspace import Workspace

LEDGER_SCRIPT = """
import os, sys, time
item, ledger, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
def note(what):
    with open(ledger, "a") as f:
        f.write(f"{what} {item} {os.environ['SIM_HOST']} {time.time():.6f}\\n")
note("start")
time.sleep(pause)
note("end")
"""


def _pipeline(
    hosts: Callable[[str], Workspace], ledger: Path, *, items: int, pause: float, extra: str = ""
) -> str:
    """The hosts' pipeline: `items` items each running the ledger script (written beside
    `ledger`) for `pause` seconds, then `extra` (tasks, policies, schedules)."""
    (ledger.parent / "ledger.py").write_text(LEDGER_SCRIPT)
    url = hosts.url  # type: ignore[attr-defined]
    ids = ", ".join(f'"i{n:03d}"' for n in range(items))
    argv = [sys.executable, str(ledger.parent / "ledger.py"), "{{ item.id }}", str(ledger), pause]
    return textwrap.dedent(
        f"""
        version: 1
        settings:
          state: "{url}"
          concurrency: 4
          lease: 2s
          grace: 1s
        groups: {{g: {{members: [{ids}]}}}}
        definitions:
          d: {{command: {json.dumps([str(a) for a in argv])}}}
        """
    ) + textwrap.dedent(extra)


@pytest.fixture
def hosts(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Callable[[str], Workspace]]:
    """Simulated hosts sharing one fresh PostgreSQL state: `hosts(name)` is that host's
    pipeline directory. Every runner a test spawned is killed at its end."""
    url = postgres_server.new_state()
    made: dict[str, Workspace] = {}

    def host(name: str) -> Workspace:
        if name not in made:
            made[name] = Workspace(tmp_path / name, state=url)
            (tmp_path / name).mkdir()
        return made[name]

    host.url = url  # type: ignore[attr-defined]
    try:
        yield host
    finally:
        kill_left_in(tmp_path)
        postgres_server.drop_state(url)


def _env(name: str) -> dict[str, str]:
    return {"SIM_HOST": name}


def _wait_for(what: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _runners(ws: Workspace) -> set[str]:
    with ws.open_state() as store:
        return {w.name for w in store.workers() if w.state != "offline"}


def _ledger(path: Path) -> list[tuple[str, str, str, float]]:
    rows = []
    for line in path.read_text().splitlines():
        what, item, host, at = line.split()
        rows.append((what, item, host, float(at)))
    return rows


def _most_at_once(rows: list[tuple[str, str, str, float]]) -> int:
    running = most = 0
    for what, *_ in sorted(rows, key=lambda r: (r[3], r[0] == "start")):
        running += 1 if what == "start" else -1
        most = max(most, running)
    return most


def _events(ws: Workspace, name: str) -> list[dict[str, object]]:
    return [e for e in map(json.loads, ws.log_text().splitlines()) if e["event"] == name]


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return _ended(process)


def _ended(process: subprocess.Popen[str]) -> int:
    """The exit code of a spawned runner once it ended (its pipes read and closed)."""
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
    return process.returncode


def test_runners_share_one_run_its_steps_once_and_the_task_concurrency(
    hosts: Callable[[str], Workspace], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    steps = tmp_path / "steps.txt"
    body = _pipeline(
        hosts,
        ledger,
        items=90,
        pause=0.1,
        extra=f"""
        tasks:
          t:
            definition: d
            group: g
            concurrency: 6
            before: [{{run: ["sh", "-c", "echo before $SIM_HOST >> {steps}"]}}]
            after: [{{run: ["sh", "-c", "echo after $SIM_HOST >> {steps}"]}}]
        """,
    )
    for name in ("h1", "h2", "h3"):
        hosts(name).write("pipeline.yaml", body)
    serving = [
        hosts(name).spawn("serve", "pipeline.yaml", "--instance", name, env=_env(name))
        for name in ("h2", "h3")
    ]
    _wait_for(lambda: {"h2", "h3"} <= _runners(hosts("h1")))
    ran = hosts("h1").runner(
        "run", "pipeline.yaml", "--task", "t", "--now", "--instance", "h1", env=_env("h1")
    )
    assert exitcodes.OK == ran.returncode, ran.stderr
    for process in serving:
        assert exitcodes.OK == _stop(process)

    rows = _ledger(ledger)
    with open_store(hosts("h1").state_location, readonly=True) as store:
        assert {"successful": 90} == store.queue_counts("t")
        assert 1 == store.count_runs("t")
        attempts = [a for n in range(90) for a in store.attempts_of("t", f"i{n:03d}")]
    assert 90 == len(attempts)  # nothing ran twice
    by_runner = {a.runner for a in attempts}
    assert len(by_runner) >= 2, by_runner  # the serving runners joined the run
    assert by_runner == {host for _, _, host, _ in rows}
    # the task's concurrency holds over every runner; more than one runner's 4 ran at once
    assert 4 < _most_at_once(rows) <= 6
    assert ["before h1", "after h1"] == steps.read_text().splitlines()  # once, on the owner
    joined = [e for name in ("h2", "h3") for e in _events(hosts(name), "run.joined")]
    assert joined and {"h1"} == {e["owner"] for e in joined}


def test_a_stopped_runner_is_taken_over_and_its_late_outcomes_are_refused(
    hosts: Callable[[str], Workspace], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    body = _pipeline(
        hosts,
        ledger,
        items=40,
        pause=0.3,
        extra="""
        policies: {p: {retry_on: [interrupted], max_retries: 3, backoff: {initial: 0s}}}
        tasks: {t: {definition: d, group: g, policy: p}}
        """,
    )
    for name in ("h1", "h2"):
        hosts(name).write("pipeline.yaml", body)
    helper = hosts("h2").spawn("serve", "pipeline.yaml", "--instance", "h2", env=_env("h2"))
    _wait_for(lambda: "h2" in _runners(hosts("h1")))
    owner = hosts("h1").spawn(
        "run", "pipeline.yaml", "--task", "t", "--now", "--instance", "h1", env=_env("h1")
    )
    _wait_for(lambda: ledger.exists() and "h1" in ledger.read_text() and "h2" in ledger.read_text())
    owner.send_signal(signal.SIGSTOP)  # the runner alone: its children run on and end
    try:
        _wait_for(lambda: bool(_events(hosts("h2"), "runner.taken_over")), timeout=30)
    finally:
        owner.send_signal(signal.SIGCONT)
    assert exitcodes.RUN_FAILED == _ended(owner)
    _wait_for(lambda: _done(hosts("h1")), timeout=60)
    assert exitcodes.OK == _stop(helper)

    taken = _events(hosts("h2"), "runner.taken_over")
    assert 1 == len(taken) and "h1" == taken[0]["instance"]
    # it finds it at its next write; or, stopped inside a transaction (which held the write
    # lock), the server ended its session and its next statement fails: nothing is written
    # either way
    lost = _events(hosts("h1"), "runner.lease_lost") or _events(hosts("h1"), "state.unreachable")
    assert 1 == len(lost), hosts("h1").log_text()
    with open_store(hosts("h1").state_location, readonly=True) as store:
        assert {"successful": 40} == store.queue_counts("t")
        (run,) = store.runs_of("t", limit=None)
        assert "h2" == run.owner and run.ended_at is not None
        for n in range(40):
            attempts = store.attempts_of("t", f"i{n:03d}")
            assert 1 == sum(a.status == "ok" for a in attempts)
            assert all(a.ended_at is not None for a in attempts)
            interrupted = [a for a in attempts if a.status == "interrupted"]
            assert all(a.runner == "h1" for a in interrupted)


def _done(ws: Workspace) -> bool:
    with ws.open_state(readonly=True) as store:
        return store.open_run("t") is None and store.count_runs("t") == 1


def test_a_fire_seen_by_every_runner_opens_one_run(
    hosts: Callable[[str], Workspace], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    body = _pipeline(
        hosts,
        ledger,
        items=20,
        pause=0.05,
        extra="""
        schedules: {s: {cron: "0 * * * *"}}
        tasks: {t: {definition: d, group: g, schedule: s}}
        """,
    )
    serving = []
    for name in ("h1", "h2"):
        ws = hosts(name)
        ws.write("pipeline.yaml", body)
        set_clock(ws.root, at("2026-12-03T09:59:58"))
        serving.append(
            subprocess.Popen(
                [sys.executable, "-c", SERVE_AT, "pipeline.yaml", CLOCK_FILE, name],
                cwd=ws.root,
                env={**os.environ, **_env(name)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for name in ("h1", "h2"):
        _wait_for(lambda name=name: (hosts(name).root / "serve-ready").exists())
    for name in ("h1", "h2"):
        set_clock(hosts(name).root, at("2026-12-03T10:00:01"))  # both see the 10:00 fire
    _wait_for(lambda: _done(hosts("h1")), timeout=60)
    for process in serving:
        assert exitcodes.OK == _stop(process)

    with open_store(hosts("h1").state_location, readonly=True) as store:
        (run,) = store.runs_of("t", limit=None)
        assert at("2026-12-03T10:00:00") == run.fire_time
        logs = hosts("h1").log_text() + hosts("h2").log_text()
        assert {"successful": 20} == store.queue_counts("t"), logs
    started = [n for n in ("h1", "h2") if _events(hosts(n), "run.started")]
    assert [run.owner] == started
    # the other runner joined the run, or found it opened (ended) and skipped the fire, or
    # found the fire recorded as handled before it looked


def test_a_killed_owner_is_taken_over_and_its_run_ends_on_the_taker(
    hosts: Callable[[str], Workspace], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    steps = tmp_path / "steps.txt"
    body = _pipeline(
        hosts,
        ledger,
        items=30,
        pause=0.3,
        extra=f"""
        policies: {{p: {{retry_on: [interrupted], max_retries: 3, backoff: {{initial: 0s}}}}}}
        tasks:
          t:
            definition: d
            group: g
            policy: p
            after: [{{run: ["sh", "-c", "echo after $SIM_HOST >> {steps}"]}}]
        """,
    )
    for name in ("h1", "h2"):
        hosts(name).write("pipeline.yaml", body)
    helper = hosts("h2").spawn("serve", "pipeline.yaml", "--instance", "h2", env=_env("h2"))
    _wait_for(lambda: "h2" in _runners(hosts("h1")))
    owner = hosts("h1").spawn(
        "run", "pipeline.yaml", "--task", "t", "--now", "--instance", "h1", env=_env("h1")
    )
    _wait_for(lambda: ledger.exists() and "h2" in ledger.read_text())
    owner.kill()
    owner.communicate(timeout=60)
    _wait_for(lambda: _done(hosts("h2")), timeout=60)
    assert exitcodes.OK == _stop(helper)

    (taken,) = _events(hosts("h2"), "runner.taken_over")
    assert "h1" == taken["instance"] and 1 == len(taken["runs"])  # type: ignore[arg-type]
    with open_store(hosts("h1").state_location, readonly=True) as store:
        assert {"successful": 30} == store.queue_counts("t")
        (run,) = store.runs_of("t", limit=None)
        assert ("h2", "ok") == (run.owner, run.status)
    assert ["after h2"] == steps.read_text().splitlines()  # once, on the new owner
