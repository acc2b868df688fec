"""Fixtures of the torture suites: a process tag cleaned up after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.tagging import kill_tagged, new_tag


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique TORTURE_TAG; whatever still carries it when the test ends is killed."""
    value = new_tag()
    yield value
    kill_tagged(value)
