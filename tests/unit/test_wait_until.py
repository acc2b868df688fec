"""The one polling helper: true returns, a timeout fails, an error in the predicate propagates."""

from __future__ import annotations

import itertools

import pytest

from tests.support.waiting import wait_until


def test_returns_once_the_predicate_holds() -> None:
    calls = itertools.count(1)
    wait_until(lambda: next(calls) >= 3, poll=0)
    assert 4 == next(calls)


def test_a_predicate_that_never_holds_fails_the_test_naming_it() -> None:
    with pytest.raises(AssertionError, match=r"not reached within 0\.05 s: the file"):
        wait_until(lambda: False, timeout=0.05, poll=0.01, what="the file")


def test_an_error_in_the_predicate_propagates_at_once() -> None:
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise KeyError("the state has no such row")

    with pytest.raises(KeyError, match="no such row"):
        wait_until(broken, timeout=60)
    assert [1] == calls
