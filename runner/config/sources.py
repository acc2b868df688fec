"""What a group's sources name outside the YAML: a CSV file's header, a resolver's program.

`runner validate` reads a CSV member file's header (not its rows) and looks for a resolver
command's program, so a group that could never resolve is a config error with its place, not
a failure of every run. The group resolver (runner/groups.py) applies the same header rule.
"""

from __future__ import annotations

import csv
import difflib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = ["csv_file_problem", "csv_header_problem", "program_problem"]


def csv_header_problem(columns: Sequence[str]) -> str | None:
    """What is wrong with a CSV member file's header (an ``id`` column, unique names), or None."""
    if "id" not in columns:
        lowered = {column.lower(): column for column in reversed(columns)}
        close = difflib.get_close_matches("id", list(lowered), n=1, cutoff=0.5)
        hint = f" (is '{lowered[close[0]]}' meant to be 'id'?)" if close else ""
        return (
            f"the header has no 'id' column{hint}; "
            f"columns found: {', '.join(columns)}; name the id column 'id'"
        )
    seen: set[str] = set()
    for position, name in enumerate(columns, 1):
        if not name:
            return f"column {position} of the header has no name; name it or remove the column"
        if name in seen:
            return f"column '{name}' is named twice in the header; rename one of them"
        seen.add(name)
    return None


def csv_file_problem(path: Path) -> str | None:
    """What is wrong with the header of the CSV member file at `path`, or None.

    Only the first record is read. A file that cannot be read or decoded is left to the
    resolver, which reports it with the line.
    """
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if header is None:
        return f"{path} is empty; its first line must name the columns, one of them 'id'"
    problem = csv_header_problem([name.strip() for name in header])
    return None if problem is None else f"{path}:1: {problem}"


def program_problem(root: Path, program: str, path_variable: str | None) -> str | None:
    """Why a resolver's program (its argv[0]) cannot be started from `root`, or None.

    A program with a '/' is a path (relative to the pipeline directory, where the resolver
    runs); a bare name is looked up in `path_variable` (the runner's PATH).
    """
    if "/" in program:
        target = root / program
        if not target.is_file():
            return f"the resolver program {program!r} does not exist ({target}); fix the path"
        if not os.access(target, os.X_OK):
            return f"the resolver program {program!r} is not executable ({target}); chmod +x it"
        return None
    if shutil.which(program, path=path_variable) is None:
        return f"the resolver program {program!r} is not found on PATH; install it or give its path"
    return None
