"""One handler per verb: the parsed arguments -> a call of the library -> a rendering.

Heavy modules (the engine, the configuration models, structlog) are imported inside the
handlers that need them, so that `runner --help` and the read-only verbs start quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runner import exitcodes, operations
from runner.cli import render, results
from runner.cli.parser import one_item, split_targets
from runner.cli.state import state_command
from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline


def _validate(args: argparse.Namespace) -> int:
    from runner import api

    pipeline = api.load(args.path)
    summary = render.validation(pipeline)
    summary["warnings"] = api.warnings(pipeline)
    if args.json:
        render.print_json(summary)
    else:
        print(render.validation_text(args.path, summary))
        for warning in summary["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    return exitcodes.OK


def _plan(args: argparse.Namespace) -> int:
    from runner import api

    report = api.plan(api.load(args.path), at=args.at, tasks=args.task)
    if args.json:
        for task in report["tasks"]:
            task.pop("first_commands_text", None)
        render.print_json(report)
    else:
        print(render.plan_text(report))
    # a group that cannot be resolved fails the run: the plan says so with its exit code too
    unresolved = any("error" in task for task in report["tasks"])
    return exitcodes.RUN_FAILED if unresolved else exitcodes.OK


def _run(args: argparse.Namespace) -> int:
    from runner import api

    outcome = api.run(
        api.load(args.path),
        tasks=args.task,
        now=args.now,
        site=args.site,
        instance=args.instance,
        log_format=args.log_format,
        log_level=args.log_level,
    )
    for requested in outcome.requested:
        print(render.clean(requested.line()))
    if not outcome.requested:
        from runner.cli.summary import run_summary

        print(run_summary(outcome, args.path), flush=True)
    return outcome.exit_code


def _serve(args: argparse.Namespace) -> int:
    from runner.serve import serve

    return serve(
        args.path,
        site=args.site,
        instance=args.instance,
        log_format=args.log_format,
        log_level=args.log_level,
    )


def _web(args: argparse.Namespace) -> int:
    from runner.web.server import add_console_user, serve_console

    if args.add_user is not None:
        if args.auth_file is None:
            raise UsageError("--add-user needs --auth-file FILE: the file to add the user to")
        print(add_console_user(args.auth_file, args.add_user))
        return exitcodes.OK
    return serve_console(
        args.path, listen=args.listen, auth_file=args.auth_file, read_only=args.read_only
    )


def _schema(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner import __version__, api
    from runner.scaffold import outdated_schemas

    if args.check:
        stale = outdated_schemas(Path(f) for f in args.check)
        for path in stale:
            render.error(
                f"{path} is not the schema of runner {__version__}: runner schema > {path}"
            )
        return exitcodes.BAD_CONFIG if stale else exitcodes.OK
    sys.stdout.write(api.schema_text())
    return exitcodes.OK


def _status(args: argparse.Namespace) -> int:
    from runner import api

    report = operations.status(api.load(args.path), tasks=[args.task] if args.task else [])
    if args.json:
        render.print_json(report.to_json())
    else:
        print(render.status_text(report))
    return exitcodes.OK


def _metrics(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner import api, metrics

    pipeline = api.load(args.path)
    if args.textfile:
        metrics.write_textfile(pipeline, Path(args.textfile))
    else:
        data, _ = metrics.exposition(pipeline)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return exitcodes.OK


def _items(args: argparse.Namespace) -> int:
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
        sort=args.sort,
    )
    if args.json:
        render.print_json_list(entry.to_json() for entry in page.items)
    else:
        print(render.items_text(page, args.task))
    return exitcodes.OK


def _move(args: argparse.Namespace) -> int:
    from runner import api

    path, items = split_targets(args.targets)
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
        render.print_json(outcome.to_json())
    else:
        print(render.move_text(outcome, args.task, args.to, args.from_queue))
    return exitcodes.OK


def _control(args: argparse.Namespace) -> int:
    from runner import api

    act = operations.pause if args.verb == "pause" else operations.resume
    outcome = act(api.load(args.path), args.task, args.reason, args.by)
    if args.json:
        render.print_json(outcome.to_json())
    else:
        print(render.control_text(outcome))
    return exitcodes.OK


def _check(args: argparse.Namespace) -> int:
    from runner import api
    from runner.config.durations import parse_duration

    try:
        stuck_after = parse_duration(args.stuck_after)
    except ValueError as exc:
        raise UsageError(f"--stuck-after: {exc}") from None
    report = operations.check(api.load(args.path), stuck_after=stuck_after)
    if args.json:
        render.print_json(report.to_json())
    else:
        print("\n".join(render.clean(line) for line in report.lines()))
    return report.exit_code


def _one_item_verb(
    args: argparse.Namespace,
    verb: str,
    query: Callable[[Pipeline, str, str], Any],
    text: Callable[[Any, str, str], str],
) -> int:
    """`history` and `explain`: one item of one task, as JSON or as text."""
    from runner import api

    path, item = one_item(args.targets, verb)
    report = query(api.load(path), args.task, item)
    if args.json:
        render.print_json(report.to_json())
    else:
        print(text(report, args.task, item))
    return exitcodes.OK


def _history(args: argparse.Namespace) -> int:
    return _one_item_verb(args, "history", operations.history, render.history_text)


def _explain(args: argparse.Namespace) -> int:
    return _one_item_verb(
        args,
        "explain",
        operations.explain,
        lambda report, _task, _item: render.explain_text(report),
    )


def _runs(args: argparse.Namespace) -> int:
    from runner import api

    page = operations.runs(
        api.load(args.path), args.task, limit=args.limit or None, offset=args.offset
    )
    if args.json:
        render.print_json(page.to_json())
    else:
        print(render.runs_text(page))
    return exitcodes.OK


def _logs(args: argparse.Namespace) -> int:
    from runner import api
    from runner.logs import LogFilter

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
    line = render.log_line(
        as_json=args.json, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    stream = operations.log_events(pipeline, flt, follow=args.follow)
    try:
        with stream:
            for event in stream:
                sys.stdout.write(line(event) + "\n")
                if args.follow:
                    sys.stdout.flush()
    except KeyboardInterrupt:  # the way to stop --follow
        pass
    if stream.skipped:
        render.error(
            f"{stream.skipped} lines of the log files were not JSON events and were skipped"
        )
    return exitcodes.OK


def _prune(args: argparse.Namespace) -> int:
    from runner import api

    report = operations.prune(api.load(args.path), apply=args.yes)
    if args.json:
        render.print_json(report.to_json())
    else:
        print(render.prune_text(report, args.path))
    if report.failed:
        render.error(f"{report.failed} files could not be removed; their records were kept")
        return exitcodes.RUN_FAILED
    return exitcodes.OK


def _init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner.scaffold import init

    for path in init(Path(args.directory)):
        print(f"wrote {path}")
    print(f"next: runner validate {args.directory}; runner plan {args.directory}")
    return exitcodes.OK


def _completion(args: argparse.Namespace) -> int:
    from runner import completion
    from runner.cli.parser import build_parser

    if args.tasks is not None:
        print("\n".join(completion.task_names(args.tasks)))
    elif args.shell is None:
        raise UsageError(f"name a shell: runner completion {{{','.join(completion.SHELLS)}}}")
    else:
        sys.stdout.write(completion.script(build_parser(), args.shell))
    return exitcodes.OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _validate,
    "plan": _plan,
    "run": _run,
    "serve": _serve,
    "web": _web,
    "schema": _schema,
    "status": _status,
    "items": _items,
    "move": _move,
    "pause": _control,
    "resume": _control,
    "check": _check,
    "history": _history,
    "explain": _explain,
    "runs": _runs,
    "logs": _logs,
    "output": results.output,
    "report": results.report,
    "metrics": _metrics,
    "prune": _prune,
    "state": state_command,
    "init": _init,
    "completion": _completion,
}
"""The handler of each verb."""
