"""Shell completion for `runner`, generated from its argument parser with shtab.

`runner completion SHELL` prints the script. Verbs and options come from the parser; pipeline
paths complete as files, queue names from the fixed list, and task names by running
`runner completion --tasks`, which reads the pipeline in the current directory (pipelines/) and
prints its task names. That load checks the YAML only: no group is resolved, nothing runs.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.domain.queues import ALL_QUEUES

SHELLS = ("bash", "zsh", "fish")
"""The shells `runner completion` writes a script for."""


def _completers() -> dict[str, Any]:
    """What each option or positional completes to, by its argparse `dest` (shtab is imported
    here: every `runner` start builds the parser, only `runner completion` needs shtab)."""
    import shtab

    tasks = shtab.cmd("runner completion --tasks 2>/dev/null")
    queues = shtab.cmd("printf '%s\\n' " + " ".join(shlex.quote(q) for q in ALL_QUEUES))
    return {
        "path": shtab.FILE,
        "directory": shtab.DIRECTORY,
        "task": tasks,
        "queue": queues,
        "to": queues,
        "from_queue": queues,
    }


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of `parser` for `shell` (one of SHELLS)."""
    import shtab

    completers = _completers()
    for action in _actions(parser):
        completer = completers.get(action.dest)
        if completer is not None:
            action.complete = completer  # type: ignore[attr-defined]
    return shtab.complete(parser, shell=shell)


def task_names(path: str | Path) -> list[str]:
    """The task names of the pipeline at `path`, for completion (sorted)."""
    from runner.config import load_pipeline

    return sorted(load_pipeline(path).tasks)
