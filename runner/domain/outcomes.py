"""Outcome-rule matching: how one attempt's exit code and output become a status and a queue.

Pure: no I/O. The first rule whose every given condition matches wins (SPEC §2,
definitions); with no matching rule, exit code 0 is ``ok`` and anything else ``failed``.
Attempts that did not exit by themselves (timeout, hung, start-failed, interrupted) get
that built-in status without consulting the rules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runner.domain.statuses import FAILED, HUNG, INTERRUPTED, OK, START_FAILED, TIMEOUT


class OutcomeWhen(Protocol):
    """The conditions of a rule (`runner.config.definitions.OutcomeWhen`); None: not given."""

    @property
    def exit_code(self) -> int | Sequence[int] | None: ...

    @property
    def stdout(self) -> str | None: ...

    @property
    def stderr(self) -> str | None: ...


class OutcomeRule(Protocol):
    """One outcome rule (`runner.config.definitions.OutcomeRule`)."""

    @property
    def when(self) -> OutcomeWhen: ...

    @property
    def status(self) -> str: ...

    @property
    def queue(self) -> str | None: ...


#: Process outcomes that map straight to a built-in status.
DIRECT_OUTCOMES: frozenset[str] = frozenset({TIMEOUT, HUNG, START_FAILED, INTERRUPTED})

EXITED = "exited"


@dataclass(frozen=True)
class Classification:
    """An attempt's status, the queue its rule names (if any) and which rule matched (0-based)."""

    status: str
    queue: str | None
    rule_index: int | None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compile an outcome regex once (the models already rejected invalid ones)."""
    return re.compile(pattern)


def _matches(when: OutcomeWhen, exit_code: int | None, stdout: str, stderr: str) -> bool:
    """Whether every condition given in ``when`` holds."""
    expected = when.exit_code
    if expected is not None:
        if exit_code is None:
            return False
        if isinstance(expected, int):
            if exit_code != expected:
                return False
        elif exit_code not in expected:
            return False
    if when.stdout is not None and _compiled(when.stdout).search(stdout) is None:
        return False
    return not (when.stderr is not None and _compiled(when.stderr).search(stderr) is None)


def classify(
    rules: Sequence[OutcomeRule],
    *,
    process_outcome: str,
    exit_code: int | None,
    stdout: str,
    stderr: str,
) -> Classification:
    """Classify one attempt.

    ``process_outcome`` is the process result's outcome ("exited", "timeout", "hung",
    "start-failed", "interrupted"); ``stdout``/``stderr`` are the kept tails of the output.
    Only an "exited" attempt is matched against ``rules``. A process killed by a signal
    (``exit_code`` None) matches no ``exit_code`` condition and defaults to ``failed``; an
    unknown outcome counts as ``failed``.
    """
    if process_outcome in DIRECT_OUTCOMES:
        return Classification(process_outcome, None, None)
    if process_outcome != EXITED:
        return Classification(FAILED, None, None)
    for index, rule in enumerate(rules):
        if _matches(rule.when, exit_code, stdout, stderr):
            return Classification(rule.status, rule.queue, index)
    return Classification(OK if exit_code == 0 else FAILED, None, None)
