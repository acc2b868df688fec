"""Fixtures for every test package: a workspace, and logging reset after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from runner.logging import close_logging
from tests.support.workspace import Workspace


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Whatever logging a test set up is closed, and structlog is back to its defaults."""
    yield
    close_logging()
    structlog.reset_defaults()


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A pipeline directory in tmp_path with helpers to run the CLI on it."""
    yield Workspace(tmp_path)
