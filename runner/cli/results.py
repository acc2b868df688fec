"""The verbs that read an item's results: `output` (captured streams): options, handler, text."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from runner import exitcodes, operations
from runner.cli import render
from runner.cli.parser import TARGETS_HELP, split_targets
from runner.errors import UsageError

Verb = Callable[[str, str, str], argparse.ArgumentParser]


def add_verbs(verb: Verb) -> None:
    """The parsers of `output`."""
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
