"""Fixtures for every test package: a workspace, logging reset after each test, and the
Hypothesis profile of mutation runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, settings

from runner.logs.setup import close_logging
from tests.support.postgres import PostgresServer, postgres_bin
from tests.support.spawning import kill_left_in
from tests.support.system import require_system
from tests.support.workspace import SQLITE_STATE, Workspace, use_state

settings.register_profile(
    "mutation",
    suppress_health_check=[HealthCheck.differing_executors],
    database=None,
    derandomize=True,
)
"""For `mutmut run` (pyproject.toml passes --hypothesis-profile=mutation): the mutation tool
runs each test several times in one process, and a mutant must meet the same examples as
the clean run, so the examples are derived from the test, not drawn at random."""


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Whatever logging a test set up is closed, and structlog is back to its defaults."""
    yield
    close_logging()
    structlog.reset_defaults()


STORES = ("sqlite", "postgresql")
"""The state stores the behaviour suite runs on (the test id names the store)."""
BEHAVIOUR_SUITE = ("tests/integration/", "tests/torture/test_crash_torture.py")
"""Where every test using `ws` runs once per store, unless marked `sqlite_only`."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each behaviour test that uses a workspace on every store."""
    if "ws" not in metafunc.fixturenames:
        return
    where = Path(metafunc.definition.path).relative_to(Path(__file__).parent.parent).as_posix()
    if not where.startswith(BEHAVIOUR_SUITE):
        return
    only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    metafunc.parametrize("state_store", ("sqlite",) if only_sqlite else STORES, indirect=True)


@pytest.fixture
def state_store(request: pytest.FixtureRequest) -> str:
    """The store a workspace's runner keeps its state in (`sqlite` unless parametrised)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session (Debian's `postgresql` package)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        require_system("postgresql", "initdb and pg_ctl are not installed")
    server = PostgresServer.start(bin_dir)
    try:
        server.prepare()
        yield server
    finally:
        server.stop()


@pytest.fixture
def ws(tmp_path: Path, state_store: str, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """A pipeline directory in tmp_path with helpers to run the CLI on it. Whatever process is
    still working in it when the test ends (a test that failed before its runner finished)
    is killed, so no test leaves processes behind. On `postgresql` its pipelines keep their
    state in a fresh database schema of the session's server."""
    if state_store != "postgresql":
        yield Workspace(tmp_path)
        kill_left_in(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_state()
    use_state(url)
    try:
        yield Workspace(tmp_path, state=url)
    finally:
        use_state(SQLITE_STATE)
        kill_left_in(tmp_path)
        server.drop_state(url)
