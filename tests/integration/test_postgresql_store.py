"""What is particular to a PostgreSQL state: the URL rule, the schema's version, runners of
one site side by side, the change counter, concurrent creation (the behaviour suite covers
the rest)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from runner import exitcodes
from runner.errors import LeaseLostError, LockHeldError, StateError
from runner.state import DatabaseUrl, WorkerRow, open_store
from tests.support.postgres import DATABASE, PostgresServer
from tests.support.workspace import Workspace, settings

TASK = """
groups: {g: {members: [a]}}
definitions: {d: {command: ["true"]}}
tasks: {t: {definition: d, group: g}}
"""


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    made = postgres_server.new_state()
    yield made
    postgres_server.drop_state(made)


def _location(url: str, tmp_path: Path) -> DatabaseUrl:
    return DatabaseUrl(url, tmp_path / "side")


@pytest.mark.parametrize(
    "state",
    [
        "postgresql://runner:hunter2@db.example.com/runner",
        "postgres://runner:hunter2@/runner?host=/run/postgresql",
        "postgresql://runner@db.example.com/runner?password=hunter2",
    ],
)
def test_validate_refuses_a_url_with_a_password_without_printing_it(
    tmp_path: Path, state: str
) -> None:
    ws = Workspace(tmp_path)
    ws.write("pipeline.yaml", settings().replace(".runner/state.db", state) + TASK)
    result = ws.runner("validate", "pipeline.yaml")
    assert exitcodes.BAD_CONFIG == result.returncode
    assert "pipeline.yaml:3:" in result.stderr  # the file:line of `state`
    assert "password" in result.stderr and "PGPASSWORD" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_validate_accepts_a_url_without_one_and_connects_to_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    state = "postgresql://runner@db.invalid:5433/runner?sslmode=require"
    ws.write("pipeline.yaml", settings().replace(".runner/state.db", state) + TASK)
    result = ws.runner("validate", "pipeline.yaml")
    assert exitcodes.OK == result.returncode, result.stderr


def test_a_schema_newer_than_the_runner_is_refused_with_exit_2(url: str, tmp_path: Path) -> None:
    open_store(_location(url, tmp_path)).close()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("UPDATE runner_meta SET value = 999 WHERE key = 'schema_version'")
    ws = Workspace(tmp_path, state=url)
    ws.write("pipeline.yaml", settings().replace(".runner/state.db", url) + TASK)
    for verb in ("status", "run"):
        result = ws.runner(verb, "pipeline.yaml")
        assert exitcodes.BAD_CONFIG == result.returncode, result.stderr
        assert "newer version of the runner (schema 999" in result.stderr
        assert "Traceback" not in result.stderr


def test_runners_of_one_site_share_it_and_a_copy_waits_for_their_leases(
    url: str, tmp_path: Path
) -> None:
    live = WorkerRow("default", "running", 4242, "db-host-7", 1.0, 2.0, 0, 0.0, "db-host-7")
    with open_store(_location(url, tmp_path)) as other_host:
        other_host.register_runner(live, lease=60)
        ws = Workspace(tmp_path, state=url)
        ws.write("pipeline.yaml", settings().replace(".runner/state.db", url) + TASK)
        ran = ws.runner("run", "pipeline.yaml", "--now")  # a second runner of the site
        assert exitcodes.OK == ran.returncode, ran.stderr
        assert "runner.taken_over" not in ran.stderr  # the other one's lease is live
        with open_store(_location(url, tmp_path)) as copier:
            with pytest.raises(LockHeldError, match="process 4242 on host db-host-7"):
                copier.hold_site("default")
            copier.hold_site("elsewhere")  # another site is free
        other_host.heartbeat(replace(live, state="offline"))
    with open_store(_location(url, tmp_path)) as copier:
        copier.hold_site("default")  # every runner of the site stopped


def test_the_change_counter_moves_for_other_connections_writes_only(
    url: str, tmp_path: Path
) -> None:
    with (
        open_store(_location(url, tmp_path)) as mine,
        open_store(_location(url, tmp_path)) as theirs,
    ):
        start = mine.change_counter()
        mine.upsert_task("t", site="default", config_hash="h", modified_by="me", now=1.0)
        assert start == mine.change_counter()
        theirs.set_task_status("t", "running")
        assert start != mine.change_counter()


def test_runners_creating_the_schema_at_once_both_get_it(url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def create() -> None:
        try:
            with open_store(_location(url, tmp_path)) as store:
                store.upsert_task(
                    f"t{threading.get_ident()}",
                    site="s",
                    config_hash="h",
                    modified_by="me",
                    now=1.0,
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [] == errors
    with open_store(_location(url, tmp_path), readonly=True) as store:
        assert 4 == len(store.tasks())


def test_a_read_only_verb_on_an_empty_database_says_nothing_ran(url: str, tmp_path: Path) -> None:
    ws = Workspace(tmp_path, state=url)
    ws.write("pipeline.yaml", settings().replace(".runner/state.db", url) + TASK)
    result = ws.runner("status", "pipeline.yaml", "--json")
    assert exitcodes.OK == result.returncode, result.stderr
    checked = ws.runner("state", "check", "pipeline.yaml")
    assert exitcodes.RUN_FAILED == checked.returncode
    assert "holds no runner state yet" in checked.stderr
    ws.runner("run", "pipeline.yaml", "--now")
    checked = ws.runner("state", "check", "pipeline.yaml")
    assert exitcodes.OK == checked.returncode, checked.stderr
    assert "sound (schema version: ok)" in checked.stdout
    backup = ws.runner("state", "backup", "pipeline.yaml", str(tmp_path / "b.db"))
    assert exitcodes.RUN_FAILED == backup.returncode
    assert "pg_dump" in backup.stderr
    assert os.environ.get("PGPASSWORD") is None or "PGPASSWORD" not in backup.stderr


def test_a_lost_connection_is_a_state_error_not_a_traceback(
    url: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    with open_store(_location(url, tmp_path)) as store:
        store.upsert_task("t", site="default", config_hash="h", modified_by="me", now=1.0)
        postgres_server.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'runner'",
            DATABASE,
        )
        with pytest.raises(StateError, match=r"the state database .* failed"):
            store.tasks()
        with pytest.raises(StateError, match=r"the state database .* failed"):
            store.set_task_status("t", "running")


def test_a_runner_taken_over_or_started_again_elsewhere_can_write_nothing(
    url: str, tmp_path: Path
) -> None:
    me = WorkerRow("default", "running", 1, "h1", 1.0, 2.0, 0, 0.0, "h1")
    with open_store(_location(url, tmp_path)) as mine, open_store(_location(url, tmp_path)) as live:
        epoch = mine.register_runner(me, lease=60)
        mine.fence("default", "h1", epoch)
        mine.set_task_status("t", "idle")  # its lease is its own: writes pass
        assert [] == live.expired_runners("default")
        assert not live.mark_lost(replace(me, epoch=epoch), now=3.0, expired_only=True)
        assert live.mark_lost(replace(me, epoch=epoch), now=3.0, expired_only=False)
        with pytest.raises(LeaseLostError, match="a live runner took it over"):
            mine.set_task_status("t", "idle")
        # started again (a later start of the identity): the earlier one stays fenced
        again = live.register_runner(me, lease=60)
        assert epoch + 1 == again
        mine.fence("default", "h1", epoch)
        with pytest.raises(LeaseLostError, match=f"started again elsewhere \\(start {again}\\)"):
            mine.heartbeat(me, lease=60)
        assert (again, None) == live.lease_holder("default", "h1")


def test_a_lease_expires_on_the_database_clock(url: str, tmp_path: Path) -> None:
    short = WorkerRow("default", "running", 1, "h1", 1.0, 2.0, 0, 0.0, "h1")
    with open_store(_location(url, tmp_path)) as store:
        store.register_runner(short, lease=0.2)
        store.heartbeat(short, lease=0.2)
        assert [] == store.expired_runners("default")
        time.sleep(0.3)
        assert ["h1"] == [w.name for w in store.expired_runners("default")]
        store.heartbeat(replace(short, state="offline"), lease=0.2)
        assert [] == store.expired_runners("default")  # a clean exit that left nothing open
