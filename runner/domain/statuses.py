"""Built-in attempt statuses and task modes (SPEC §2), persisted and printed: stable forever."""

from __future__ import annotations

from typing import Final

OK: Final = "ok"
FAILED: Final = "failed"
TIMEOUT: Final = "timeout"
HUNG: Final = "hung"
START_FAILED: Final = "start-failed"
INTERRUPTED: Final = "interrupted"

BUILTIN_STATUSES: tuple[str, ...] = (OK, FAILED, TIMEOUT, HUNG, START_FAILED, INTERRUPTED)
"""Statuses the runner itself gives an attempt; outcome rules may add others (`#001`, `locked`)."""

MODE_RECURRING: Final = "recurring"
"""Every run processes every item again."""

MODE_ONCE: Final = "once"
"""State carries over between runs: an item that reached `successful` stays done."""

MODES: tuple[str, ...] = (MODE_RECURRING, MODE_ONCE)
