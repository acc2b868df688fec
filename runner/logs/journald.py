"""Syslog priority prefixes for lines written to the journal (`journalctl -p err` filters)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO


def journald_priority(stream: TextIO) -> Callable[[int, str], str] | None:
    """When `stream` is the journal's (JOURNAL_STREAM names its device and inode), a function
    putting the syslog priority of a level before each line of a text (`<3>` for error), so
    `journalctl -p err` filters; None for any other stream."""
    try:
        device, inode = (int(n) for n in os.environ["JOURNAL_STREAM"].split(":"))
        status = os.fstat(stream.fileno())
    except (KeyError, ValueError, OSError, AttributeError):
        return None
    if (status.st_dev, status.st_ino) != (device, inode):
        return None

    def prefix(level_no: int, text: str) -> str:
        priority = 7 if level_no < 20 else 6 if level_no < 30 else 4 if level_no < 40 else 3
        return "\n".join(f"<{priority}>{line}" for line in text.split("\n"))

    return prefix
