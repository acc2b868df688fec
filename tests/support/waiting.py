"""Waiting for a state, not for the machine: the one polling helper of the test suites."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 60.0,
    poll: float = 0.02,
    what: str = "",
) -> None:
    """Poll `predicate` until it returns something true; fail the test after `timeout` seconds.

    An exception raised by the predicate is not a "not yet": it propagates at once and fails
    the test with its own traceback. A predicate that may legitimately find nothing yet (a
    file not written, a database not created) says so by returning False.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {timeout:g} s: {what or repr(predicate)}")
        time.sleep(poll)
