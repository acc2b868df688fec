"""Fixtures for every test package: a workspace, logging reset after each test, and the
Hypothesis profile of mutation runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, settings

from runner.logs.setup import close_logging
from tests.support.spawning import kill_left_in
from tests.support.workspace import Workspace

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


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A pipeline directory in tmp_path with helpers to run the CLI on it. Whatever process is
    still working in it when the test ends (a test that failed before its runner finished)
    is killed, so no test leaves processes behind."""
    yield Workspace(tmp_path)
    kill_left_in(tmp_path)
