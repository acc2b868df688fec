"""The verbs that read results: `output` (an attempt's captured streams) and `report` (a task's
items as CSV or JSON): options, handlers, text."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from runner import exitcodes, operations
from runner.cli import render
from runner.cli.parser import TARGETS_HELP, split_targets
from runner.errors import UsageError

Verb = Callable[[str, str, str], argparse.ArgumentParser]


def add_verbs(verb: Verb) -> None:
    """The parsers of `output` and `report`."""
    _output_parser(verb)
    _report_parser(verb)


def _output_parser(verb: Verb) -> None:
    p = verb(
        "output",
        "print the captured stdout and stderr of an attempt or of a run's step",
        "Print what an item's attempt wrote (the latest attempt unless --attempt N), stdout and\n"
        "stderr each under its own header, as the runner stored them: masked, each stream cut\n"
        "to settings.output_limit (the header says how many bytes were dropped). --stream prints\n"
        "one stream alone, as is (for pipes). --step before[N] or after[N] prints a start or\n"
        "finish step of a run instead: of --run RUN, else of the run of the item's attempt, else\n"
        "(no ITEM) of the task's latest run. Exit 1 when the files are gone: the attempt printed\n"
        "nothing, retention or a person removed them, or they are on the host of the site's\n"
        "runner (named; the state records each site's runner host, not each attempt's).\n\n"
        + TARGETS_HELP.format(verb="output"),
    )
    p.usage = (
        "%(prog)s [-h] --task T [--attempt N] [--step NAME [--run RUN]] [--tail BYTES] "
        "[--stream {stdout,stderr}] [--json] [PATH] [ITEM]"
    )
    p.add_argument(
        "targets", nargs="*", metavar="[PATH] ITEM", help="pipeline path, then one item id"
    )
    p.add_argument("--task", required=True, metavar="T", help="the task")
    p.add_argument("--attempt", type=int, metavar="N", help="this attempt (default: the latest)")
    p.add_argument(
        "--step", metavar="NAME", help="a step of a run: before[N] or after[N], N from 0"
    )
    p.add_argument("--run", metavar="RUN", help="the run whose step to print (with --step)")
    p.add_argument(
        "--tail", type=int, metavar="BYTES", help="only the last BYTES bytes of each stream"
    )
    p.add_argument(
        "--stream", choices=operations.OUTPUT_STREAMS, help="print only this stream, as is"
    )
    p.add_argument("--json", action="store_true", help="print JSON (a documented, stable shape)")


def _report_parser(verb: Verb) -> None:
    p = verb(
        "report",
        "export a task's items as CSV or JSON: queue, status, attempts, times, metrics",
        "Write one row per item of the task, ordered by id: id, queue, last status, attempts,\n"
        "first and last attempt start, the durations of its attempts added up, the last error\n"
        "(masked), manual (moved to successful by hand), in_group, then one column per metric\n"
        "name (metric.NAME: the sum over its attempts). Streams: a task of 100,000 items is not\n"
        "held in memory. CSV text cells starting with = + - @ (or a tab, a carriage return) get a\n"
        "leading ' so that spreadsheets do not run them as formulas. Reads the state; never takes\n"
        "the runner lock.",
    )
    p.add_argument(
        "path",
        nargs="?",
        default="pipelines",
        metavar="PATH",
        help="pipeline file or directory of *.yaml files (default: %(default)s)",
    )
    p.add_argument("--task", required=True, metavar="T", help="the task")
    p.add_argument(
        "--format", choices=operations.REPORT_FORMATS, default="csv", help="(default: %(default)s)"
    )
    p.add_argument(
        "--output", metavar="FILE", help="write to FILE (created with settings.file_mode)"
    )


def report(args: argparse.Namespace) -> int:
    """`runner report`."""
    from runner import api
    from runner.system.fs import file_modes, open_runner_file

    pipeline = api.load(args.path)
    with operations.report(pipeline, args.task) as found:
        if args.output is None:
            found.write(sys.stdout, args.format)
            return exitcodes.OK
        with file_modes(pipeline.settings.file_mode):
            fd = open_runner_file(Path(args.output), os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = found.write(out, args.format)
    render.error(f"wrote {count} items of task {args.task} to {args.output}")
    return exitcodes.OK


def output(args: argparse.Namespace) -> int:
    """`runner output`."""
    from runner import api

    path, items = split_targets(args.targets)
    if len(items) > 1 or (not items and args.step is None):
        got = "no item" if not items else f"{len(items)} items ({', '.join(items)})"
        raise UsageError(
            f"`runner output` takes one ITEM after the options (none only with --step), got {got}; "
            "e.g. runner output --task T ITEM"
        )
    found = operations.output(
        api.load(path),
        args.task,
        items[0] if items else None,
        attempt=args.attempt,
        step=args.step,
        run=args.run,
        tail_bytes=args.tail,
    )
    if args.json:
        render.print_json(found.to_json())
    elif args.stream:
        text = getattr(found, args.stream).text
        sys.stdout.write(render.clean(text) if sys.stdout.isatty() else text)
    else:
        sys.stdout.write(output_text(found))
    return exitcodes.OK


def output_text(found: operations.AttemptOutput) -> str:
    """A header naming the attempt or step, then each stream under its own header."""
    if found.step is not None:
        what = f"step {found.step} of run {found.run_id}"
    else:
        what = f"attempt {found.attempt} of item {found.item} (run {found.run_id})"
    status = found.status if found.status is not None else "running"
    host = f", host {found.host}" if found.host else ""
    lines = [render.clean(f"{what}, task {found.task}: {status}{host}")]
    for stream in found.streams:
        if not stream.exists:
            lines.append(f"--- {stream.name}: nothing ({render.clean(stream.path)} does not exist)")
            continue
        dropped = f", {stream.dropped} bytes before this left out" if stream.dropped else ""
        lines.append(f"--- {stream.name}: {render.clean(stream.path)}{dropped}")
        if stream.text:
            text = render.clean(stream.text)
            lines.append(text if text.endswith("\n") else text + "\n[no newline at the end]")
    return "\n".join(line.rstrip("\n") for line in lines) + "\n"
