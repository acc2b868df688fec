"""Fixtures of the torture suites: a workspace and a process tag cleaned up after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Workspace
from tests.torture.support import kill_tagged, new_tag


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A pipeline directory in tmp_path with helpers to run the CLI on it."""
    yield Workspace(tmp_path)


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique TORTURE_TAG; whatever still carries it when the test ends is killed."""
    value = new_tag()
    yield value
    kill_tagged(value)
