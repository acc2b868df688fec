"""Text (and JSON) renderings of the library's results, as the `runner` verbs print them."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from runner import operations
from runner.domain import queues as q
from runner.domain.timefmt import format_duration

if TYPE_CHECKING:
    from runner.config import Pipeline
    from runner.state import ControlRow

# control characters, and the direction marks and controls that would reorder what follows them
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """Text from the state or the logs, safe to print on a terminal (control characters and
    direction controls escaped: `\\x1b`, `\\u202e`)."""
    return _UNSAFE.sub(_escaped, str(text))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else clean(value)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows as left-aligned columns (the last column is not padded)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        indent
        + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_json_list(values: Iterable[Any]) -> None:
    """A JSON array written element by element (a task may hold 100,000 items)."""
    sys.stdout.write("[")
    first = True
    for value in values:
        sys.stdout.write("\n  " if first else ",\n  ")
        sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str))
        first = False
    sys.stdout.write("\n]\n" if not first else "]\n")


def error(message: str) -> None:
    """A message of the command on stderr."""
    print(f"runner: {message}", file=sys.stderr)


def validation(pipeline: Pipeline) -> dict[str, Any]:
    """`runner validate --json`: what a valid pipeline holds."""
    return {
        "valid": True,
        "files": [str(f) for f in pipeline.files],
        "schedules": len(pipeline.schedules),
        "groups": len(pipeline.groups),
        "definitions": len(pipeline.definitions),
        "policies": len(pipeline.policies),
        "tasks": len(pipeline.tasks),
    }


def validation_text(path: str, summary: dict[str, Any]) -> str:
    return (
        f"{path}: valid ({len(summary['files'])} files, {summary['tasks']} tasks, "
        f"{summary['definitions']} definitions, {summary['groups']} groups, {summary['schedules']} schedules)"
    )


def plan_text(report: dict[str, Any]) -> str:
    lines = [f"plan at {report['at']}"]
    for task in report["tasks"]:
        flags = [] if task["enabled"] else ["disabled"]
        if task["due"]:
            flags.append("DUE")
        lines.append("")
        lines.append(
            f"task {task['name']}  site={task['site']} mode={task['mode']} group={task['group']}"
            + (f"  [{', '.join(flags)}]" if flags else "")
        )
        if task["schedule"]:
            lines.append(
                f"  schedule {task['schedule']}: next fire {task['next_fire']} "
                f"({task['next_fire_local']})"
            )
        else:
            lines.append("  no schedule: runs with `runner run --now` or for items in run-now")
        if "error" in task:
            lines.append(f"  group cannot be resolved: {task['error']}")
            continue
        counts = ", ".join(f"{q}={n}" for q, n in sorted(task["queues"].items()) if n) or "no items"
        lines.append(f"  {task['members']} members; {counts}")
        lines += [f"  $ {line}" for line in task["first_commands_text"]]
    return "\n".join(lines)


def halted_line(row: ControlRow, task: str) -> str:
    """`halted by halt_on at ...: reason (runner resume --task T lets it go on)`."""
    return (
        f"{row.action} by {clean(row.by)} at {operations.iso(row.at)}: {clean(row.reason) or '-'} "
        f"(no new item starts; runner resume --task {clean(task)} lets it go on)"
    )


def control_text(outcome: operations.ControlOutcome) -> str:
    """What `runner pause` / `runner resume` print."""
    task, row = clean(outcome.task), outcome.control
    if outcome.changed and row is not None:
        verb = "paused" if outcome.action == "paused" else "resumed"
        tail = (
            "no new item starts; running ones finish"
            if verb == "paused"
            else "its items may start again; its brake counts afresh"
        )
        return f"task {task} {verb} by {clean(row.by)} at {operations.iso(row.at)}: {tail}"
    if row is not None:
        return f"task {task} is already held: {halted_line(row, outcome.task)}"
    return f"task {task} is not halted or paused: nothing to resume"


def status_text(report: operations.StatusReport) -> str:
    lines = ["workers"]
    if report.workers:
        header = [
            "SITE",
            "RUNNER",
            "STATE",
            "HEARTBEAT",
            "HOST",
            "PID",
            "RUNNING",
            "THROUGHPUT",
            "ITEMS_DONE",
        ]
        rows = [tuple(name.replace("_", " ") for name in header)]
        rows += [
            (
                clean(w.site),
                clean(w.instance),
                w.state,
                _dash(operations.iso(w.heartbeat)),
                clean(w.host),
                str(w.pid),
                str(w.running),
                f"{w.throughput:g}/min",
                str(w.items_done),
            )
            for w in report.workers
        ]
        lines += _columns(rows, "  ")
    else:
        lines.append("  none: no runner has worked on this state yet")
    for task in report.tasks:
        lines.append("")
        where = "" if task.in_pipeline else "  (no longer in the pipeline)"
        lines.append(f"task {clean(task.name)}  [{task.status}]  site {clean(task.site)}{where}")
        if task.halted is not None:
            lines.append("  " + halted_line(task.halted, task.name))
        if task.run_requested is not None:
            lines.append(
                f"  run requested by {clean(task.run_requested.by)} at "
                f"{operations.iso(task.run_requested.at)}: runner serve starts it at its next cycle"
            )
        if task.created is None:
            lines.append("  never ran; no items yet")
            continue
        else:
            lines.append(
                f"  created {operations.iso(task.created)}, last modified "
                f"{operations.iso(task.last_modified)} by {_dash(task.last_modified_by)}"
            )
        if task.last_run is not None:
            run = task.last_run
            ended = f"ended {operations.iso(run.ended_at)}" if run.ended_at else "open"
            lines.append(f"  last run {clean(run.id)}: {run.status} ({ended})")
        lines.append(f"  command in progress: {_dash(task.command)}")
        lines.append(f"  latest detail: {_dash(task.latest_detail)}")
        if task.metrics:
            lines.append(f"  metrics (sums): {clean(operations.metrics_text(task.metrics))}")
        counts = f"  sequence {task.sequence}   total {task.total}   running {task.running}"
        if task.about_to_launch:
            counts += f"   about to launch {task.about_to_launch}"
        lines.append(counts)
        categories = task.categories
        by_category: list[tuple[str, str, str]] = []
        for category in q.CATEGORIES:
            parts = [
                f"{queue} {n}"
                for queue, n in task.queues.items()
                if q.CATEGORY[queue] == category and n
            ]
            by_category.append((category, str(categories[category]), ", ".join(parts) or "-"))
        lines += _columns(by_category, "  ")
    return "\n".join(lines)


def items_text(page: operations.ItemsPage, task: str) -> str:
    if not page.items:
        return f"no items of task {task} match" if page.total == 0 else "no items on this page"
    with_metrics = any(entry.metrics for entry in page.items)
    metrics_head = ("METRICS",) if with_metrics else ()
    rows: list[tuple[str, ...]] = [
        ("ID", "QUEUE", "ATTEMPTS", "STATUS", "UPDATED", *metrics_head, "LAST ERROR")
    ]
    for entry in page.items:
        queue = entry.queue
        if entry.running:
            queue += " (running)"
        elif entry.about_to_launch:
            queue += " (about to launch)"
        if not entry.in_group:
            queue += " (left group)"
        metrics = (_cut(_dash(operations.metrics_text(entry.metrics)), 60),) if with_metrics else ()
        rows.append(
            (
                clean(entry.id),
                queue,
                str(entry.attempts),
                _dash(entry.status),
                _dash(operations.iso(entry.updated)),
                *metrics,
                _cut(_dash(entry.last_error), 100),
            )
        )
    lines = _columns(rows)
    first = page.offset + 1
    last = page.offset + len(page.items)
    lines.append(f"items {first}-{last} of {page.total}")
    if last < page.total:
        lines[-1] += f"; next: --offset {last} (or --limit 0 for all)"
    return "\n".join(lines)


def runs_text(page: operations.RunsPage) -> str:
    if not page.runs:
        return (
            f"task {clean(page.task)} has no runs yet"
            if page.total == 0
            else "no runs on this page"
        )
    rows = [("RUN", "TRIGGER", "STATUS", "PHASE", "STARTED", "DURATION", "ATTEMPTS")]
    for run in page.runs:
        counts = ", ".join(f"{status} {n}" for status, n in run.attempts.items())
        rows.append(
            (
                clean(run.id),
                run.trigger,
                run.status,
                run.phase,
                _dash(operations.iso(run.started)),
                format_duration(run.duration_s),
                counts or "-",
            )
        )
    lines = _columns(rows)
    last = page.offset + len(page.runs)
    lines.append(f"runs {page.offset + 1}-{last} of {page.total}")
    if last < page.total:
        lines[-1] += f"; next: --offset {last} (or --limit 0 for all)"
    return "\n".join(lines)


def move_text(outcome: operations.MoveOutcome, task: str, to: str, from_queue: str | None) -> str:
    if not outcome.moves:
        return f"nothing to move: queue {from_queue} of task {task} is empty"
    count = len(outcome.moves)
    lines = [f"moved {count} item{'s' if count != 1 else ''} of task {clean(task)} to {to}"]
    for record in outcome.moves:
        note = "  (running: applies when its attempt ends)" if record.pending else ""
        lines.append(f"  {clean(record.item)}: {record.from_queue} -> {record.to_queue}{note}")
    return "\n".join(lines)


def history_text(report: operations.ItemHistory, task: str, item: str) -> str:
    current = (
        f"; current definition {report.current_definition}" if report.current_definition else ""
    )
    manual = " (moved there by hand)" if report.manual else ""
    lines = [f"item {clean(item)} of task {clean(task)}: now in {report.queue}{manual}{current}"]
    if not report.entries:
        lines.append("  no attempt and no move yet")
    previous_hash = None
    for entry in report.entries:
        when = operations.iso(entry.at)
        if isinstance(entry, operations.MoveEntry):
            if entry.superseded:
                state = "superseded by a later move"
            elif entry.applied is not None:
                state = f"applied {operations.iso(entry.applied)}"
            else:
                state = "pending until its attempt ends"
            manual = " manual" if entry.manual else ""
            lines.append(
                f"{when}  move       {entry.from_queue} -> {entry.to_queue}{manual} by {clean(entry.by)} ({state})"
            )
            if entry.reason:
                lines.append(f"    reason: {clean(entry.reason)}")
            continue
        status = entry.status if entry.status is not None else "running"
        code = f" exit {entry.exit_code}" if entry.exit_code is not None else ""
        if entry.signal is not None:
            code += f" signal {entry.signal}"
        took = f" {entry.duration_s:.1f}s" if entry.duration_s is not None else ""
        went = f" -> {entry.queue}" if entry.queue else ""
        changed = (
            " (changed)"
            if previous_hash is not None and entry.definition_hash != previous_hash
            else ""
        )
        previous_hash = entry.definition_hash
        lines.append(
            f"{when}  attempt {entry.number}  {clean(status)}{code}{took}{went}  "
            f"definition {entry.definition_hash}{changed}  checkpoints {entry.checkpoints}  "
            f"events {entry.events}  "
            f"run {clean(entry.run_id)}"
        )
        if entry.error:
            lines.append(f"    error: {clean(entry.error)}")
        if entry.metrics:
            lines.append(f"    metrics: {clean(operations.metrics_text(entry.metrics))}")
        for name in ("stdout", "stderr"):
            value = getattr(entry, name)
            if value:
                lines.append(f"    {name}: {clean(value)}")
        if entry.output_pruned is not None:
            lines.append(f"    output: pruned {operations.iso(entry.output_pruned)} (retention)")
    return "\n".join(lines)


def explain_text(report: operations.Explanation) -> str:
    return "\n".join([clean(report.summary), *(f"  {clean(line)}" for line in report.details)])


def log_line(*, as_json: bool, color: bool) -> Callable[[dict[str, Any]], str]:
    """How `runner logs` prints an event: the JSON line as it is, or a readable line."""
    if as_json:
        return lambda event: json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    from runner.logs import format_event

    return lambda event: format_event(event, color=color, date=True)


def _size(count: int) -> str:
    """Bytes for people: 512 B, 3.4 KiB, 1.2 MiB, 2.0 GiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_PRUNE_LABELS = {
    "attempt_output": ("attempt output", "attempt_output", "attempts' output files"),
    "attempts": ("attempts", "runs", "attempts of old runs"),
    "runs": ("runs", "runs", "runs (rows, steps, step output)"),
    "logs": ("log files", "logs", "daily log files"),
}


def prune_text(report: operations.PruneReport, path: str) -> str:
    verb = "removed" if report.applied else "would remove"
    lines = []
    for kind, count in report.counts.items():
        label, key, what = _PRUNE_LABELS[kind]
        if count.kept_for is None:
            lines.append(f"{label + ':':16}kept forever (settings.retention.{key} is not set)")
            continue
        kept = format_duration(count.kept_for)
        if not count.count:
            lines.append(f"{label + ':':16}nothing older than {kept}")
            continue
        span = f"{operations.iso(count.oldest)} .. {operations.iso(count.newest)}"
        lines.append(
            f"{label + ':':16}{verb} {count.count} {what} older than {kept}: "
            f"{count.files} files, {_size(count.bytes)}; ended {span}"
        )
        lines.extend(f"    not removed: {clean(failure)}" for failure in count.failed[:10])
    if not report.applied and not any(c.count for c in report.counts.values()):
        lines.append("dry run: nothing to remove")
    elif not report.applied:
        lines.append(f"dry run: nothing was removed; to remove it: runner prune {path} --yes")
    else:
        lines.append(f"freed {_size(report.bytes)}")
    return "\n".join(lines)
