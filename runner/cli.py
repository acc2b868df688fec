"""The `runner` command: parse arguments, call runner.api, map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from runner import __version__, exitcodes
from runner.errors import (
    ConfigError,
    GroupResolutionError,
    LockHeldError,
    RunnerError,
    StateError,
    UnsafePathError,
    UsageError,
)

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb (used by --help and the docs)."""
    parser = argparse.ArgumentParser(
        prog="runner",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"runner {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return verbs.add_parser(
            name,
            help=summary,
            description=description,
            epilog=EPILOG,
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

    p = verb(
        "schema",
        "print the JSON Schema of the pipeline format",
        "Print the JSON Schema (draft 2020-12) that pipeline files follow; editors use it through\n"
        "the `# yaml-language-server: $schema=...` modeline.",
    )
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


def _cmd_schema(args: argparse.Namespace) -> int:
    from runner import api

    sys.stdout.write(api.schema_text())
    return exitcodes.OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _cmd_validate,
    "plan": _cmd_plan,
    "run": _cmd_run,
    "schema": _cmd_schema,
}


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _error(message: str) -> None:
    print(f"runner: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `runner` console script; returns the exit code."""
    parser = build_parser()
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
