"""Process exit codes of the `runner` command (SPEC §5). Stable forever."""

from typing import Final

OK: Final = 0
"""Done; also a run that had nothing due."""

RUN_FAILED: Final = 1
"""A run failed: an `on_failure: error` step failed, or a group could not be resolved."""

BAD_CONFIG: Final = 2
"""Bad configuration or bad usage."""

ITEMS_IN_ERROR: Final = 3
"""The run completed, but items ended in error queues."""

HALTED: Final = 4
"""A task asked for is halted (its brake) or paused (`runner pause`): none of its items started."""

LOCKED: Final = 75
"""Another runner holds the lock on this state file and site (EX_TEMPFAIL)."""

INTERNAL_ERROR: Final = 70
"""A bug of ours stopped the command (EX_SOFTWARE)."""

INTERRUPTED: Final = 130
"""Ctrl-C stopped a command that does not handle it itself (128 + SIGINT)."""
