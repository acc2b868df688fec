"""Skipping for a missing system component: allowed locally, a failure under CI.

A missing module or file of the project is never a reason to skip (it is breakage); a
missing piece of the machine (a mount permission, a kernel call) may be, but CI must have
every component, so with the `CI` environment variable set the same call fails the test.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """True when the `CI` environment variable is set (to anything but an empty string)."""
    return bool(os.environ.get("CI"))


def require_system(name: str, reason: str) -> NoReturn:
    """Skip the test for want of system component `name`; fail it instead under CI."""
    message = f"missing system component {name}: {reason}"
    if under_ci():
        pytest.fail(message + " (CI must provide it)", pytrace=False)
    pytest.skip(message)
