"""The `runner state` verb group: check, recover, backup (one entry of SUBVERBS each).

A sub-verb is a (summary, description, arguments, handler) entry; adding one is adding an
entry. Handlers call runner.operations and print; the library does the work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner import exitcodes, operations
from runner.cli import render
from runner.errors import UsageError

DESCRIPTION = (
    "Look after the state file by hand. `check` says whether it is sound; `backup FILE` writes a\n"
    "consistent copy while runners work; `recover` writes every readable row of a damaged state\n"
    "into a new file beside it (keeping the damaged one) and says what it kept and what it lost;\n"
    "`copy FROM TO` copies a whole state into another store (a SQLite file into PostgreSQL).\n"
    'None of them changes the state file. See docs/operations.md, "When the state file is in\n'
    'trouble" and "The state in PostgreSQL".'
)


@dataclass(frozen=True)
class SubVerb:
    summary: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


def _path_and_json(parser: argparse.ArgumentParser) -> None:
    from runner.cli.parser import _json_flag, _path_argument

    _path_argument(parser)
    _json_flag(parser)


def _check(args: argparse.Namespace) -> int:
    from runner import api

    report = operations.check_state(api.load(args.path), depth="quick" if args.quick else "full")
    if args.json:
        render.print_json(report.to_json())
    elif report.sound:
        done = {"schema": "schema version", "quick": "quick_check"}.get(
            report.depth, "integrity_check"
        )
        print(f"{report.path}: sound ({done}: ok)")
    else:
        print(f"{report.path}: DAMAGED")
        for problem in report.problems:
            print(f"  {problem}")
        print(
            "Stop the runners of this state, then `runner state recover` writes a repaired copy "
            "beside it (the damaged file is kept)."
        )
    return exitcodes.OK if report.sound else exitcodes.RUN_FAILED


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    _path_and_json(parser)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a quicker check that skips comparing each index with its table",
    )


def _backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "words",
        nargs="+",
        metavar="[PATH] FILE",
        help="pipeline file or directory (default: pipelines), then the new file to write",
    )


def _backup(args: argparse.Namespace) -> int:
    from runner import api

    if len(args.words) > 2:
        raise UsageError(
            f"`runner state backup` takes [PATH] FILE, got {len(args.words)} words: "
            f"{' '.join(args.words)}"
        )
    path, target = args.words if len(args.words) == 2 else ("pipelines", args.words[0])
    written = operations.backup_state(api.load(path), Path(target))
    print(f"state copied to {written} (a consistent copy; restore it with the runners stopped)")
    return exitcodes.OK


def _recover_arguments(parser: argparse.ArgumentParser) -> None:
    _path_and_json(parser)
    parser.add_argument(
        "--to",
        metavar="FILE",
        help="write the recovered state here (default: STATE.recovered-YYYYMMDDTHHMMSS beside it)",
    )


def _recover(args: argparse.Namespace) -> int:
    from runner import api

    pipeline = api.load(args.path)
    salvage = operations.recover_state(pipeline, Path(args.to) if args.to else None)
    if args.json:
        render.print_json(
            {
                "source": str(salvage.source),
                "target": str(salvage.target),
                "complete": salvage.complete,
                "sound": not salvage.problems_after,
                "tables": [
                    {
                        "table": t.table,
                        "kept": t.kept,
                        "dropped": t.dropped,
                        "unreadable": t.unreadable,
                    }
                    for t in salvage.tables
                ],
            }
        )
    else:
        print(f"recovered {salvage.source} into {salvage.target} (the original is untouched)")
        for t in salvage.tables:
            lost = []
            if t.dropped:
                lost.append(f"{t.dropped} duplicate row(s) dropped")
            if t.unreadable:
                lost.append(f"part unreadable, rows there lost ({t.error})")
            print(f"  {t.table:<10} kept {t.kept}" + (f"; {'; '.join(lost)}" if lost else ""))
        if salvage.complete:
            print("nothing was lost.")
        print(
            f"To use it: with every runner stopped, `mv {salvage.source} {salvage.source}.damaged` "
            f"and `mv {salvage.target} {salvage.source}`; items whose outcome was lost run again."
        )
    return exitcodes.OK if not salvage.problems_after else exitcodes.RUN_FAILED


def _copy_arguments(parser: argparse.ArgumentParser) -> None:
    from runner.cli.parser import _json_flag

    parser.add_argument(
        "source",
        metavar="FROM",
        help="the state to copy: a SQLite state file, or a postgresql:// URL (no password in it)",
    )
    parser.add_argument(
        "target",
        metavar="TO",
        help="where to copy it: a new SQLite file, or the postgresql:// URL of an empty database",
    )
    _json_flag(parser)


def _copy(args: argparse.Namespace) -> int:
    report = operations.copy_state(
        operations.state_location(args.source), operations.state_location(args.target)
    )
    if args.json:
        render.print_json(report.to_json())
        return exitcodes.OK
    print(f"copied {report.source} into {report.target}; the counts agree:")
    for table, count in report.rows.items():
        print(f"  {table:<16} {count}")
    print(
        "Point `settings.state` of every host at the new state before starting a runner; "
        "the old one is left as it was."
    )
    return exitcodes.OK


SUBVERBS: dict[str, SubVerb] = {
    "check": SubVerb(
        "check the state file (read-only, safe while a runner works)",
        "Check the state file: its schema against this runner's, and every page, record and\n"
        "index (PRAGMA integrity_check; --quick: quick_check). Prints `sound` and exits 0, or\n"
        "prints what is wrong and exits 1. Reads only; safe while a runner works.",
        _check_arguments,
        _check,
    ),
    "recover": SubVerb(
        "copy every readable row of a damaged state into a new file beside it",
        "Write every readable row of the state file into a new file (indexes rebuilt), print\n"
        "per table how many rows were kept and what was lost, and keep the damaged file as it\n"
        "is. Refuses (exit 75) while a runner holds the state. Exits 1 if the new file is not\n"
        "sound. Replace the state with the new file by hand, runners stopped.",
        _recover_arguments,
        _recover,
    ),
    "backup": SubVerb(
        "write a consistent copy of the state to FILE (safe while runners work)",
        "Write a copy of the state file to FILE with SQLite's online backup: consistent even\n"
        "while runners write. FILE must not exist (nothing is overwritten). To restore: stop\n"
        "the runners, put the copy in the state's place, start them again.",
        _backup_arguments,
        _backup,
    ),
    "copy": SubVerb(
        "copy a whole state into another store (SQLite file <-> PostgreSQL database)",
        "Copy every row of the state FROM (a SQLite file or a postgresql:// URL) into TO (a new\n"
        "SQLite file, or an empty PostgreSQL database, whose schema the runner creates), ids\n"
        "and history kept, in one transaction; then compare the row counts of both and print\n"
        "them. Refuses (exit 75) while a runner holds either state, and (exit 1) a target that\n"
        "holds anything. FROM is left as it was. Passwords come from PGPASSWORD, ~/.pgpass or\n"
        "PGSERVICE, never from the URL.",
        _copy_arguments,
        _copy,
    ),
}


def add_state_verb(parser: argparse.ArgumentParser, epilog: str) -> None:
    """The sub-verbs of `runner state` on its parser."""
    subverbs = parser.add_subparsers(dest="state_verb", metavar="SUBVERB", required=True)
    for name, sub in SUBVERBS.items():
        p = subverbs.add_parser(
            name,
            help=sub.summary,
            description=sub.description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.arguments(p)


def state_command(args: argparse.Namespace) -> int:
    """The handler of `runner state`: its sub-verb's."""
    return SUBVERBS[args.state_verb].handler(args)
