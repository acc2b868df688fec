"""Log level names, their ranks and aliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from runner.errors import UsageError

LEVELS: Final[Mapping[str, int]] = {
    "debug": 10,
    "info": 20,
    "warning": 30,
    "error": 40,
    "critical": 50,
}
"""Level names and their rank; an event is kept when its rank is at least the threshold's."""

LEVEL_ALIASES: Final[Mapping[str, str]] = {
    "warn": "warning",
    "exception": "error",
    "fatal": "critical",
    "msg": "info",
}
"""Other names structlog's methods and operators use for a level."""


def level_number(name: str) -> int:
    """Return the rank of a level name (case-insensitive; ``warn`` means ``warning``).

    Raises `UsageError` for an unknown name.
    """
    key = name.strip().lower()
    key = LEVEL_ALIASES.get(key, key)
    try:
        return LEVELS[key]
    except KeyError:
        choices = ", ".join(LEVELS)
        raise UsageError(f"unknown log level {name!r}; use one of {choices}") from None
