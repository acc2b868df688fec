"""The `runner` command: parse arguments, call runner.api, map errors to exit codes."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from runner import __version__, completion, exitcodes, operations
from runner import queues as q
from runner.errors import (
    ConfigError,
    GroupResolutionError,
    LockHeldError,
    RunnerError,
    StateError,
    UnsafePathError,
    UsageError,
)
from runner.workers import STALE_AFTER

DESCRIPTION = """\
A declarative pipeline runner driven by YAML files kept in git.

Pipelines declare schedules, groups of items, definitions of what to run for
each item, start/finish steps and queue policies. One runner process executes
them from cron or as a service, with JSON logs and a crash-safe state file.
"""

EPILOG = """\
exit codes:
  0   done (also: nothing was due)
  1   a run failed (an on_failure: error step failed, or a group could not be
      resolved), or it was interrupted and will resume on the next start
  2   bad configuration or bad usage
  3   completed, but items ended in error queues
  75  another runner holds the lock for this state file and site

PATH is a pipeline file or a directory of *.yaml files (default: pipelines/).
See docs/tutorial.md to start and docs/reference.md for every key.
"""

VERB_EPILOG = """\
exit codes: see `runner --help`.
See docs/tutorial.md to start and docs/reference.md for every key.
"""


def _path_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        default="pipelines",
        metavar="PATH",
        help="pipeline file or directory of *.yaml files (default: %(default)s)",
    )


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON (a documented, stable shape)"
    )


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; write ISO 8601 such as 2026-11-21T18:00 or 2026-11-21T18:00:00+01:00"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _VerbParser(argparse.ArgumentParser):
    """A verb's parser: words after the options also count as its positional TARGETS.

    argparse fills a `nargs="*"` positional from one run of words only, so in
    `runner move pipelines --task T --to run-now a b` the items after the options would
    be "unrecognized". Verbs that declare `targets` collect every such word, in order.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if isinstance(getattr(parsed, "targets", None), list):
            words = [e for e in extras if not e.startswith("-")]
            parsed.targets = [*parsed.targets, *words]
            extras = [e for e in extras if e.startswith("-")]
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb (used by --help and the docs)."""
    parser = argparse.ArgumentParser(
        prog="runner",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"runner {__version__}")
    verbs = parser.add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=_VerbParser
    )

    def verb(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return verbs.add_parser(
            name,
            help=summary,
            description=description,
            epilog=VERB_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = verb(
        "validate",
        "load and check everything; no side effects",
        "Load every pipeline file, check every key, reference, cron expression, time zone and\n"
        "template. Prints every problem at once (file:line:column, what was expected) and exits 2,\n"
        "or exits 0 when the pipeline is valid. Runs nothing and writes nothing.",
    )
    _path_argument(p)
    _json_flag(p)

    p = verb(
        "plan",
        "show what would run: due tasks, item counts, first commands",
        "For each task: whether it is due, its next fire, its group's members counted by queue,\n"
        "and the first rendered commands. Resolves groups (resolver commands run), writes nothing.",
    )
    _path_argument(p)
    p.add_argument(
        "--at",
        type=_parse_time,
        metavar="TIME",
        help="plan as of this ISO 8601 time (default: now)",
    )
    p.add_argument(
        "--task", action="append", default=[], metavar="T", help="only this task (repeatable)"
    )
    _json_flag(p)

    p = verb(
        "run",
        "run what is due, then exit",
        "Finish what an earlier runner left (interrupted attempts, open runs), then start every task\n"
        "of this site whose schedule fired since its last run (a missed fire is made up once) and\n"
        "every task with items in run-now. With --now, start the named tasks (or all of the site)\n"
        "at once, ignoring schedules and windows. Exits when the runs end.",
    )
    _path_argument(p)
    p.add_argument(
        "--task", action="append", default=[], metavar="T", help="only this task (repeatable)"
    )
    p.add_argument(
        "--now", action="store_true", help="start the tasks now, ignoring schedule and window"
    )
    p.add_argument("--site", metavar="S", help="run as this site (default: settings.site)")
    _log_options(p)

    _operator_verbs(verb)

    p = verb(
        "serve",
        "stay up, run on schedule, reload config",
        "Stay up: start each task of this site when its schedule fires, run run-now items as they\n"
        "appear, re-read changed pipeline files within seconds (an invalid change is logged and the\n"
        "old configuration kept; a running task takes the new one when its run ends).\n"
        "SIGTERM/SIGINT stop (running attempts are interrupted and resume on the next start; exit 0),\n"
        "SIGHUP re-reads the configuration now.",
    )
    _path_argument(p)
    p.add_argument("--site", metavar="S", help="serve this site (default: settings.site)")
    _log_options(p)

    p = verb(
        "schema",
        "print the JSON Schema of the pipeline format",
        "Print the JSON Schema (draft 2020-12) that pipeline files follow; editors use it through\n"
        "the `# yaml-language-server: $schema=...` modeline. With --check, print nothing and exit 2\n"
        "if a FILE differs from it (a copy kept beside the pipeline went stale; rewrite it with\n"
        "runner schema > FILE).",
    )
    p.add_argument("--check", nargs="+", default=[], metavar="FILE", help="compare FILEs to it")

    p = verb(
        "init",
        "write a starter pipeline to begin from",
        "Write a commented starter pipeline into DIR (settings, a schedule, a group read from a\n"
        "file, a definition with outcome rules, a task with a start and a finish step), the JSON\n"
        "Schema its editor modeline names, and a .gitignore for the state and logs. `runner\n"
        "validate DIR` passes on it at once. Refuses to overwrite any file (exit 2).",
    )
    p.add_argument(
        "directory", nargs="?", default="pipelines", metavar="DIR", help="(default: %(default)s)"
    )

    p = verb(
        "completion",
        "print the shell completion script (bash, zsh, fish)",
        "Print the completion script of SHELL: verbs, options, queue names, and task names read\n"
        "from ./pipelines. bash: runner completion bash > ~/.local/share/bash-completion/completions/runner\n"
        "zsh: runner completion zsh > ~/.zfunc/_runner (a directory on $fpath)\n"
        "fish: runner completion fish > ~/.config/fish/completions/runner.fish",
    )
    p.add_argument("shell", nargs="?", choices=completion.SHELLS, metavar="SHELL")
    p.add_argument("--tasks", nargs="?", const="pipelines", metavar="PATH", help=argparse.SUPPRESS)
    return parser


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default="auto",
        help="stderr log format: json lines, readable console lines, or auto (console on a terminal)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="lowest level shown on stderr (default: %(default)s)",
    )


TARGETS_HELP = """\
PATH and ITEM: positional words are item ids, except the first when it is an existing
directory or an existing *.yaml/*.yml file: that one is the pipeline PATH (default:
pipelines/). So `runner {verb} --task T ... ITEM` and
`runner {verb} pipelines --task T ... ITEM` both work; to name an item that looks like
a path, give PATH first. Put ids that start with '-' after `--`.
"""


def _task_option(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--task",
        required=required,
        metavar="T",
        help="the task" if required else "only this task",
    )


def _operator_verbs(verb: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """The operators' verbs: status, items, move, history, explain, logs."""
    p = verb(
        "status",
        "show workers and, per task, its status and items per queue",
        "Every site's runner (online, running, or offline: it exited, its heartbeat is older than\n"
        f"{STALE_AFTER:g} s, or it ran on this host and its process is gone), then per task: status\n"
        "(new, scheduled, idle, running, interrupted, failed, disabled), when it was created and\n"
        "last modified and by whom, the command in progress, the latest detail a script reported,\n"
        "the sequence (successful item attempts), items per queue grouped by category, and the\n"
        "total (every queue but trash, incorrect-format and disabled). Reads the state; never\n"
        "takes the runner lock.",
    )
    _path_argument(p)
    _task_option(p, required=False)
    _json_flag(p)

    p = verb(
        "items",
        "list a task's items with queue, attempts, last status and last error",
        "List the items of a task in dispatch order: queue by queue (run-now, rescheduled, retry,\n"
        "unattempted, then incomplete, paused, successful, the error queues, trash,\n"
        "incorrect-format, disabled), first in first out inside a queue (the item that entered it\n"
        f"first comes first). A table shows {operations.DEFAULT_LIMIT} items unless --limit says otherwise;\n"
        "--json prints every matching item unless --limit is given. Items that left the group are\n"
        "left out unless --all.",
    )
    _path_argument(p)
    _task_option(p, required=True)
    p.add_argument(
        "--queue", action="append", default=[], metavar="Q", help="only this queue (repeatable)"
    )
    p.add_argument(
        "--category",
        metavar="C",
        help="only queues of this category: in-progress, inactive, error, other",
    )
    p.add_argument(
        "--match", metavar="TEXT", help="a substring of the id or of the last error (any case)"
    )
    p.add_argument("--status", metavar="S", help="only items whose last attempt had this status")
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"show at most N items (0: all; default {operations.DEFAULT_LIMIT} on a table, all with --json)",
    )
    p.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N items")
    p.add_argument(
        "--all", action="store_true", help="also items that left the group (kept, never run)"
    )
    _json_flag(p)

    p = verb(
        "move",
        "move items to another queue by hand (recorded with who, when and why)",
        "Move the named items, or with --from-queue every item of a queue, to --to QUEUE.\n"
        "Targets: run-now, rescheduled, unattempted, paused, disabled, trash (an item lacking\n"
        "required attributes: paused, disabled, trash only). All or nothing: if any item is\n"
        "unknown or refused, nothing moves and the command exits 2 saying why. A running item's\n"
        "move is recorded at once and applies when its attempt ends. Safe while a runner works.\n"
        "Each move is logged as an `item.moved` event.\n\n" + TARGETS_HELP.format(verb="move"),
    )
    p.add_argument("targets", nargs="*", metavar="[PATH] ITEM", help="pipeline path, then item ids")
    _task_option(p, required=True)
    p.add_argument("--to", required=True, metavar="QUEUE", help="the queue to move the items to")
    p.add_argument(
        "--from-queue",
        metavar="Q",
        help="every item of this queue (with ITEMs: only if each is in this queue)",
    )
    p.add_argument("--reason", default="", metavar="TEXT", help="why (kept in history and logs)")
    p.add_argument("--by", metavar="NAME", help="who moves them (default: the OS user)")
    _json_flag(p)

    def one_item_verb(name: str, summary: str, description: str) -> None:
        p = verb(name, summary, description + "\n\n" + TARGETS_HELP.format(verb=name))
        p.usage = "%(prog)s [-h] --task T [--json] [PATH] ITEM"
        p.add_argument(
            "targets", nargs="*", metavar="[PATH] ITEM", help="pipeline path, then one item id"
        )
        _task_option(p, required=True)
        _json_flag(p)

    one_item_verb(
        "history",
        "every attempt and operator move of one item",
        "Every attempt of the item (start, end, status, exit code, duration, the definition hash it\n"
        "ran, checkpoint count, its stdout/stderr files if they are still there) and every\n"
        "operator move (when, by whom, from, to, why, applied or pending), oldest first.",
    )
    one_item_verb(
        "explain",
        "why an item is or is not running now",
        "One sentence saying why the item is or is not running now (running since when; about\n"
        "to launch; waiting its turn; concurrency full; out of schedule until when; backoff\n"
        "until when; paused, disabled or trashed by whom and why; in an error queue; lacking\n"
        "attributes; left the group; task disabled; no runner up), then the facts behind it.",
    )

    p = verb(
        "logs",
        "read the JSON logs as readable lines (filter, follow)",
        "Print the pipeline's log events (settings.logs/runner-YYYY-MM-DD.jsonl) as readable lines,\n"
        "coloured on a terminal (not when NO_COLOR is set), oldest first. Every filter given must\n"
        "match. --json prints the matching JSON lines as they are, for jq. --follow keeps\n"
        "printing new events (the last 10 matching ones first) until interrupted.",
    )
    _path_argument(p)
    _task_option(p, required=False)
    p.add_argument("--run", metavar="R", help="only this run id")
    p.add_argument("--item", metavar="I", help="only this item id")
    p.add_argument("--level", metavar="L", help="this level and above: debug, info, warning, error")
    p.add_argument("--event", metavar="E", help="only this event name; * matches any text (item.*)")
    p.add_argument(
        "--since",
        metavar="TIME",
        help="events at or after TIME: ISO 8601 (UTC if no zone) or a duration ago (10m, 2h, 1d)",
    )
    p.add_argument("--until", metavar="TIME", help="events at or before TIME (same forms)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    _json_flag(p)


# -- verbs ---------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from runner import api

    pipeline = api.load(args.path)
    summary = {
        "valid": True,
        "files": [str(f) for f in pipeline.files],
        "schedules": len(pipeline.schedules),
        "groups": len(pipeline.groups),
        "definitions": len(pipeline.definitions),
        "policies": len(pipeline.policies),
        "tasks": len(pipeline.tasks),
    }
    if args.json:
        _print_json(summary)
    else:
        print(
            f"{args.path}: valid ({len(pipeline.files)} files, {summary['tasks']} tasks, "
            f"{summary['definitions']} definitions, {summary['groups']} groups, {summary['schedules']} schedules)"
        )
    return exitcodes.OK


def _cmd_plan(args: argparse.Namespace) -> int:
    from runner import api

    report = api.plan(api.load(args.path), at=args.at, tasks=args.task)
    if args.json:
        for task in report["tasks"]:
            task.pop("first_commands_text", None)
        _print_json(report)
        return exitcodes.OK
    print(f"plan at {report['at']}")
    for task in report["tasks"]:
        flags = [] if task["enabled"] else ["disabled"]
        if task["due"]:
            flags.append("DUE")
        print(
            f"\ntask {task['name']}  site={task['site']} mode={task['mode']} group={task['group']}"
            + (f"  [{', '.join(flags)}]" if flags else "")
        )
        if task["schedule"]:
            print(f"  schedule {task['schedule']}: next fire {task['next_fire']}")
        else:
            print("  no schedule: runs with `runner run --now` or for items in run-now")
        if "error" in task:
            print(f"  group cannot be resolved: {task['error']}")
            continue
        counts = ", ".join(f"{q}={n}" for q, n in sorted(task["queues"].items()) if n) or "no items"
        print(f"  {task['members']} members; {counts}")
        for line in task["first_commands_text"]:
            print(f"  $ {line}")
    return exitcodes.OK


def _cmd_run(args: argparse.Namespace) -> int:
    from runner import api

    outcome = api.run(
        api.load(args.path),
        tasks=args.task,
        now=args.now,
        site=args.site,
        log_format=args.log_format,
        log_level=args.log_level,
    )
    return outcome.exit_code


def _cmd_serve(args: argparse.Namespace) -> int:
    from runner.serving import serve

    return serve(args.path, site=args.site, log_format=args.log_format, log_level=args.log_level)


def _cmd_schema(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner import api
    from runner.scaffold import outdated_schemas

    if args.check:
        stale = outdated_schemas(Path(f) for f in args.check)
        for path in stale:
            _error(f"{path} is not the schema of runner {__version__}: runner schema > {path}")
        return exitcodes.BAD_CONFIG if stale else exitcodes.OK
    sys.stdout.write(api.schema_text())
    return exitcodes.OK


# -- the operators' verbs ------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: object) -> str:
    """Text from the state or the logs, safe to print on a terminal (control characters escaped)."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else _clean(value)


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


def _split_targets(targets: Sequence[str]) -> tuple[str, list[str]]:
    """(PATH, ITEMs): the first word is PATH when it is an existing directory or *.yaml/*.yml file."""
    from pathlib import Path

    words = list(targets)
    if words:
        first = Path(words[0])
        if first.is_dir() or (first.is_file() and first.suffix in (".yaml", ".yml")):
            return words[0], words[1:]
    return "pipelines", words


def _one_item(targets: Sequence[str], verb: str) -> tuple[str, str]:
    path, items = _split_targets(targets)
    if len(items) != 1:
        got = "no item" if not items else f"{len(items)} items ({', '.join(items)})"
        raise UsageError(
            f"`runner {verb}` takes exactly one ITEM after the options, got {got}; "
            f"e.g. runner {verb} --task T ITEM"
        )
    return path, items[0]


def _cmd_status(args: argparse.Namespace) -> int:
    from runner import api

    report = operations.status(api.load(args.path), tasks=[args.task] if args.task else [])
    if args.json:
        _print_json(report.to_json())
        return exitcodes.OK
    lines = ["workers"]
    if report.workers:
        rows = [("SITE", "STATE", "HEARTBEAT", "HOST", "PID", "THROUGHPUT", "ITEMS DONE")]
        rows += [
            (
                _clean(w.site),
                w.state,
                _dash(operations.iso(w.heartbeat)),
                _clean(w.host),
                str(w.pid),
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
        lines.append(f"task {_clean(task.name)}  [{task.status}]  site {_clean(task.site)}{where}")
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
            lines.append(f"  last run {_clean(run.id)}: {run.status} ({ended})")
        lines.append(f"  command in progress: {_dash(task.command)}")
        lines.append(f"  latest detail: {_dash(task.latest_detail)}")
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
    print("\n".join(lines))
    return exitcodes.OK


def _cmd_items(args: argparse.Namespace) -> int:
    from runner import api

    limit = args.limit
    if limit is None and not args.json:
        limit = operations.DEFAULT_LIMIT
    if limit == 0:
        limit = None
    page = operations.items(
        api.load(args.path),
        args.task,
        queues=args.queue,
        category=args.category,
        match=args.match,
        status=args.status,
        limit=limit,
        offset=args.offset,
        include_left=args.all,
    )
    if args.json:
        _print_json_list(entry.to_json() for entry in page.items)
        return exitcodes.OK
    if not page.items:
        print(f"no items of task {args.task} match" if page.total == 0 else "no items on this page")
        return exitcodes.OK
    rows = [("ID", "QUEUE", "ATTEMPTS", "STATUS", "UPDATED", "LAST ERROR")]
    for entry in page.items:
        queue = entry.queue
        if entry.running:
            queue += " (running)"
        elif entry.about_to_launch:
            queue += " (about to launch)"
        if not entry.in_group:
            queue += " (left group)"
        rows.append(
            (
                _clean(entry.id),
                queue,
                str(entry.attempts),
                _dash(entry.status),
                _dash(operations.iso(entry.updated)),
                _cut(_dash(entry.last_error), 100),
            )
        )
    lines = _columns(rows)
    first = page.offset + 1
    last = page.offset + len(page.items)
    lines.append(f"items {first}-{last} of {page.total}")
    if last < page.total:
        lines[-1] += f"; next: --offset {last} (or --limit 0 for all)"
    print("\n".join(lines))
    return exitcodes.OK


def _cmd_move(args: argparse.Namespace) -> int:
    from runner import api

    path, items = _split_targets(args.targets)
    outcome = operations.move(
        api.load(path),
        args.task,
        args.to,
        items,
        from_queue=args.from_queue,
        reason=args.reason,
        by=args.by,
    )
    if args.json:
        _print_json(outcome.to_json())
        return exitcodes.OK
    if not outcome.moves:
        print(f"nothing to move: queue {args.from_queue} of task {args.task} is empty")
        return exitcodes.OK
    count = len(outcome.moves)
    print(f"moved {count} item{'s' if count != 1 else ''} of task {_clean(args.task)} to {args.to}")
    for record in outcome.moves:
        note = "  (running: applies when its attempt ends)" if record.pending else ""
        print(f"  {_clean(record.item)}: {record.from_queue} -> {record.to_queue}{note}")
    return exitcodes.OK


def _cmd_history(args: argparse.Namespace) -> int:
    from runner import api

    path, item = _one_item(args.targets, "history")
    report = operations.history(api.load(path), args.task, item)
    if args.json:
        _print_json(report.to_json())
        return exitcodes.OK
    current = (
        f"; current definition {report.current_definition}" if report.current_definition else ""
    )
    lines = [f"item {_clean(item)} of task {_clean(args.task)}: now in {report.queue}{current}"]
    if not report.entries:
        lines.append("  no attempt and no move yet")
    previous_hash = None
    for entry in report.entries:
        when = operations.iso(entry.at)
        if isinstance(entry, operations.MoveEntry):
            state = (
                f"applied {operations.iso(entry.applied)}"
                if entry.applied is not None
                else "pending until its attempt ends"
            )
            lines.append(
                f"{when}  move       {entry.from_queue} -> {entry.to_queue} by {_clean(entry.by)} ({state})"
            )
            if entry.reason:
                lines.append(f"    reason: {_clean(entry.reason)}")
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
            f"{when}  attempt {entry.number}  {_clean(status)}{code}{took}{went}  "
            f"definition {entry.definition_hash}{changed}  checkpoints {entry.checkpoints}  "
            f"events {entry.events}  "
            f"run {_clean(entry.run_id)}"
        )
        if entry.error:
            lines.append(f"    error: {_clean(entry.error)}")
        for name in ("stdout", "stderr"):
            value = getattr(entry, name)
            if value:
                lines.append(f"    {name}: {_clean(value)}")
    print("\n".join(lines))
    return exitcodes.OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from runner import api

    path, item = _one_item(args.targets, "explain")
    report = operations.explain(api.load(path), args.task, item)
    if args.json:
        _print_json(report.to_json())
        return exitcodes.OK
    print(_clean(report.summary))
    for line in report.details:
        print(f"  {_clean(line)}")
    return exitcodes.OK


def _cmd_logs(args: argparse.Namespace) -> int:
    from runner import api
    from runner.logview import LogFilter, format_event

    pipeline = api.load(args.path)
    flt = LogFilter(
        task=args.task,
        run_id=args.run,
        item=args.item,
        level=args.level,
        event=args.event,
        since=operations.parse_when(args.since) if args.since else None,
        until=operations.parse_when(args.until) if args.until else None,
    )
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    stream = operations.log_events(pipeline, flt, follow=args.follow)
    try:
        with stream:
            for event in stream:
                if args.json:
                    line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
                else:
                    line = format_event(event, color=color, date=True)
                sys.stdout.write(line + "\n")
                if args.follow:
                    sys.stdout.flush()
    except KeyboardInterrupt:  # the way to stop --follow
        pass
    if stream.skipped:
        _error(f"{stream.skipped} lines of the log files were not JSON events and were skipped")
    return exitcodes.OK


def _cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner.scaffold import init

    for path in init(Path(args.directory)):
        print(f"wrote {path}")
    print(f"next: runner validate {args.directory}; runner plan {args.directory}")
    return exitcodes.OK


def _cmd_completion(args: argparse.Namespace) -> int:
    if args.tasks is not None:
        print("\n".join(completion.task_names(args.tasks)))
    elif args.shell is None:
        raise UsageError(f"name a shell: runner completion {{{','.join(completion.SHELLS)}}}")
    else:
        sys.stdout.write(completion.script(build_parser(), args.shell))
    return exitcodes.OK


def _print_json_list(values: Iterable[Any]) -> None:
    """A JSON array written element by element (a task may hold 100,000 items)."""
    sys.stdout.write("[")
    first = True
    for value in values:
        sys.stdout.write("\n  " if first else ",\n  ")
        sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str))
        first = False
    sys.stdout.write("\n]\n" if not first else "]\n")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _cmd_validate,
    "plan": _cmd_plan,
    "run": _cmd_run,
    "serve": _cmd_serve,
    "schema": _cmd_schema,
    "status": _cmd_status,
    "items": _cmd_items,
    "move": _cmd_move,
    "history": _cmd_history,
    "explain": _cmd_explain,
    "logs": _cmd_logs,
    "init": _cmd_init,
    "completion": _cmd_completion,
}


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _error(message: str) -> None:
    print(f"runner: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `runner` console script; returns the exit code."""
    parser = build_parser()
    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    if words and words[0] not in COMMANDS:  # the first word is the verb: no top option takes one
        close = difflib.get_close_matches(words[0], list(COMMANDS), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; verbs: {', '.join(COMMANDS)}"
        parser.error(f"unknown verb {words[0]!r}{hint}")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.verb](args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        print("runner: fix the errors above, then run `runner validate` again", file=sys.stderr)
        return exitcodes.BAD_CONFIG
    except (UsageError, UnsafePathError) as exc:
        _error(str(exc))
        return exitcodes.BAD_CONFIG
    except LockHeldError as exc:
        _error(str(exc))
        return exitcodes.LOCKED
    except (GroupResolutionError, StateError) as exc:
        _error(str(exc))
        return exitcodes.RUN_FAILED
    except RunnerError as exc:
        _error(str(exc))
        return exitcodes.RUN_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exitcodes.OK
    except Exception as exc:  # a bug of ours: say so plainly; the traceback only on request
        if os.environ.get("RUNNER_DEBUG"):
            raise
        _error(
            f"internal error: {exc!r}; this is a bug, please report it (RUNNER_DEBUG=1 shows the traceback)"
        )
        return 70
