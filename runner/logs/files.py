"""The daily log files: their names, listing them, and the error when they cannot be used.

The log directory holds one ``runner-YYYY-MM-DD.jsonl`` file per UTC day.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Final

from runner.errors import RunnerError

_FILE_NAME: Final = re.compile(r"runner-(\d{4}-\d{2}-\d{2})\.jsonl")


class LogSetupError(RunnerError):
    """Raised when the log directory or a log file cannot be created, opened or read."""


def log_file_name(date: str) -> str:
    """Return the log file name for a UTC date written ``YYYY-MM-DD``."""
    return f"runner-{date}.jsonl"


def log_file_date(path: Path) -> dt.date | None:
    """The UTC day a log file holds, from its name; None for any other file name."""
    found = _FILE_NAME.fullmatch(path.name)
    if found is None:
        return None
    try:
        return dt.date.fromisoformat(found.group(1))
    except ValueError:
        return None


def iter_log_files(log_dir: Path) -> list[Path]:
    """The ``runner-YYYY-MM-DD.jsonl`` files of `log_dir`, oldest day first.

    A missing directory has no files. Raises `LogSetupError` when the
    directory exists but cannot be read.
    """
    try:
        names = os.listdir(log_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise LogSetupError(
            f"cannot read the log directory {log_dir}: {exc.strerror}; "
            "run this as the user the runner runs as"
        ) from exc
    paths = [log_dir / name for name in names if _FILE_NAME.fullmatch(name)]
    return sorted((p for p in paths if log_file_date(p) is not None), key=lambda p: p.name)
