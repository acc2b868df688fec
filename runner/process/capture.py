"""Running a short command for its stdout (group resolvers, owner lookups): `run_capture`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.process.spec import LaunchSpec, ProcessResult
from runner.process.supervise import Attempt

_CAPTURE_GRACE_S = 2.0


def run_capture(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    limit: int = 16 * 2**20,
    cancel: threading.Event | None = None,
) -> ProcessResult:
    """Run a short command and capture its stdout (the first `limit` bytes) in `result.stdout`.

    For group resolvers: no output files; `stdout_truncated` tells that more
    than `limit` bytes came. The child gets its own marker so a timeout kills
    its whole tree; so does `cancel` being set (outcome `interrupted`), and more than `limit`
    bytes (outcome `overflowed`).
    """
    spec = LaunchSpec(
        argv=argv,
        cwd=cwd,
        env=env,
        timeout=timeout,
        output_limit=limit,
        grace=_CAPTURE_GRACE_S,
        marker=f"capture-{uuid.uuid4().hex}",
    )
    return Attempt(spec, cancel, capture_limit=limit).run()
