"""The summary every `runner run` ends with: counts per queue, what the exit code means, and
the next command to type. Plain text on stdout (no escape codes), on a terminal or not."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.runs import RUN_FAILED, RUN_INTERRUPTED

if TYPE_CHECKING:
    from runner.api import RunOutcome

EXIT_MEANING: Mapping[int, str] = {
    exitcodes.OK: "done",
    exitcodes.RUN_FAILED: "a run failed (an on_failure: error step failed, or a group could "
    "not be resolved), or was interrupted and resumes at the next start",
    exitcodes.ITEMS_IN_ERROR: "the runs completed, but items ended in error queues",
}
"""What each exit code of `runner run` means, as the summary says it."""


def queue_counts_text(queues: Mapping[str, int]) -> str:
    """`successful 97, retry 1, corrupt 2 (total 100)`: queues holding items, in queue order."""
    shown = [f"{queue} {queues[queue]}" for queue in q.ALL_QUEUES if queues.get(queue)]
    total = sum(n for queue, n in queues.items() if queue in q.COUNTED_IN_TOTALS)
    return f"{', '.join(shown) or 'no items'} (total {total})"


def run_summary(outcome: RunOutcome, path: str) -> str:
    """The lines printed at the end of `runner run PATH`."""
    code = outcome.exit_code
    where = shlex.quote(path)
    if not outcome.reports:
        return (
            f"nothing was due (exit {code}: {EXIT_MEANING.get(code, 'see runner --help')})\n"
            f"next: runner plan {where}    (when each task runs next)"
        )
    lines = ["summary:"]
    for report in outcome.reports:
        status = report.status
        if status == RUN_INTERRUPTED:
            status += ", resumes at the next start"
        lines.append(f"  {report.task}: {status}: {queue_counts_text(report.queues)}")
    lines.append(f"exit {code}: {EXIT_MEANING.get(code, 'see runner --help')}")
    lines.extend(_next_commands(outcome, where))
    return "\n".join(lines)


def _next_commands(outcome: RunOutcome, where: str) -> list[str]:
    failed = [r for r in outcome.reports if r.status in (RUN_FAILED, RUN_INTERRUPTED)]
    if failed:
        task = shlex.quote(failed[0].task)
        return [f"next: runner logs {where} --task {task} --level warning    (what went wrong)"]
    commands = []
    for report in outcome.reports:
        errors = [queue for queue in q.ERROR_QUEUES if report.queues.get(queue)]
        if not errors:
            continue
        task = shlex.quote(report.task)
        commands.append(f"runner items {where} --task {task} --category error    (which and why)")
        commands.append(
            f"runner move {where} --task {task} --from-queue {errors[0]} --to run-now "
            '--reason "fixed"    (run them again once fixed)'
        )
    if not commands:
        return [f"next: runner status {where}"]
    return [f"next: {commands[0]}", *(f"      {c}" for c in commands[1:])]
