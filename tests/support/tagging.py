"""Processes a test starts carry a unique TORTURE_TAG in their environment.

The tag is inherited by the runner's children, grandchildren and `setsid` escapees, so a
scan finds exactly this test's leftovers even when other tests run at the same time.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping

import psutil

TAG_ENV = "TORTURE_TAG"
MARKER_ENV = "RUNNER_ATTEMPT_MARKER"


def new_tag() -> str:
    """A fresh value for TORTURE_TAG."""
    return f"torture-{uuid.uuid4().hex}"


def tagged(tag: str, *, with_marker: bool = False) -> list[psutil.Process]:
    """Live (non-zombie) processes whose environment carries TORTURE_TAG=tag (optionally also a runner marker)."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["environ", "status"]):
        environ = proc.info.get("environ") or {}
        if environ.get(TAG_ENV) != tag or proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if with_marker and MARKER_ENV not in environ:
            continue
        found.append(proc)
    return found


def kill_tagged(tag: str) -> int:
    """SIGKILL whatever still carries the tag (test clean-up); how many were found."""
    procs = tagged(tag)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return len(procs)


def runner_env(tag: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment additions for a runner started by a torture test."""
    return {TAG_ENV: tag, **(extra or {})}
