"""The `runner` command line: verbs, options and help texts (argparse), and the PATH/ITEM words."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from runner import __version__, completion, operations
from runner.cli.state import DESCRIPTION as STATE_DESCRIPTION
from runner.cli.state import add_state_verb
from runner.domain.workers import STALE_AFTER
from runner.errors import UsageError
from runner.state.records import ITEM_SORTS

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
        "and the first rendered commands. Resolves groups (resolver commands run), writes nothing.\n"
        "Exits 1 when a task's group cannot be resolved (its run would fail), else 0.",
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
    _instance_option(p)
    _log_options(p)

    _operator_verbs(verb)
    _control_verbs(verb)
    _check_verb(verb)
    _metrics_verb(verb)

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
    _instance_option(p)
    _log_options(p)

    add_state_verb(
        verb("state", "check, recover or back up the state file", STATE_DESCRIPTION), VERB_EPILOG
    )

    p = verb(
        "web",
        "serve the operators' console in a browser",
        "Serve the web console over the pipeline's state: the overview of tasks and runners\n"
        "(refreshed live), a task's items (filter, page, select and move with a reason), an\n"
        "item's explanation, history and output, and a task's runs. Listens on 127.0.0.1:8080\n"
        "unless --listen says otherwise; any address but loopback needs --auth-file (it refuses\n"
        "to start without). Every change is a POST with a CSRF token, recorded with the signed-in\n"
        "user (without an auth file: the OS user). Ctrl-C or SIGTERM stops it (exit 0).\n"
        "With --add-user NAME, add a user to (or change a password in) --auth-file and exit: the\n"
        "password is asked on the terminal, or read from the first line of standard input.\n"
        "See docs/console.md.",
    )
    _path_argument(p)
    p.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="address and port (default: %(default)s; [::1]:8080 for IPv6; port 0: any free one)",
    )
    p.add_argument(
        "--auth-file",
        metavar="FILE",
        help="users who may sign in (USER:scrypt hash lines); required beyond loopback",
    )
    p.add_argument(
        "--read-only", action="store_true", help="show everything, change nothing (no moves)"
    )
    p.add_argument(
        "--add-user",
        metavar="NAME",
        help="add NAME to --auth-file (or change its password), then exit",
    )

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
    """The operators' verbs: status, items, move, history, explain, logs, prune."""
    """The operators' verbs: status, items, move, history, explain, runs, logs."""
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
    p.add_argument(
        "--sort",
        choices=ITEM_SORTS,
        default="listing",
        help="listing (dispatch order, the default), id, updated (newest first) or attempts "
        "(most first)",
    )
    _json_flag(p)

    p = verb(
        "move",
        "move items to another queue by hand (recorded with who, when and why)",
        "Move the named items, or with --from-queue every item of a queue, to --to QUEUE.\n"
        "Targets: run-now, rescheduled, unattempted, paused, disabled, trash, incorrect-format,\n"
        "and successful with --reason only (marked manual in history and the report; an item\n"
        "lacking required attributes: paused, disabled, trash, incorrect-format only). Without\n"
        "--reason the reason kept is 'moved by WHO with runner move'. All or nothing: if any item is\n"
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
    p.add_argument(
        "--reason",
        default="",
        metavar="TEXT",
        help="why (kept in history and logs; required with --to successful)",
    )
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
        "runs",
        "list a task's runs with outcome, attempt counts and duration",
        "List the runs of a task, newest first: run id, trigger (schedule, now, run-now), status\n"
        "(running, ok, failed, completed-with-errors), phase, start, duration (until now for a run\n"
        f"still open) and its attempts counted by status. A table shows {operations.RUNS_LIMIT} runs unless --limit\n"
        "says otherwise. Reads the state; never takes the runner lock.",
    )
    _path_argument(p)
    _task_option(p, required=True)
    p.add_argument(
        "--limit",
        type=int,
        default=operations.RUNS_LIMIT,
        metavar="N",
        help="show at most N runs (0: all; default %(default)s)",
    )
    p.add_argument("--offset", type=int, default=0, metavar="N", help="skip the N newest runs")
    _json_flag(p)

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

    p = verb(
        "prune",
        "remove old attempt output, runs and log files (settings.retention)",
        "Count what settings.retention no longer keeps: attempt output files older than\n"
        "retention.attempt_output, attempts and runs that ended longer ago than retention.runs (with\n"
        "their step output), daily log files older than retention.logs. A dry run by default: it\n"
        "prints counts, bytes, oldest and newest and removes nothing; --yes removes them and logs\n"
        "`prune.done`. Never pruned: anything of an open run, an item's latest finished attempt\n"
        "and its output, a task's most recent run, processed sub-ids, operator moves. Safe while a\n"
        "runner works (short transactions, no lock). `runner serve` prunes the same way daily.",
    )
    _path_argument(p)
    p.add_argument("--yes", action="store_true", help="remove them (without it: a dry run)")
    _json_flag(p)

    from runner.cli import results

    results.add_verbs(verb)


def _control_verbs(verb: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """The controls of a task: pause, resume."""
    p = verb(
        "pause",
        "halt a task by hand: no new item starts, running ones finish (audited)",
        "Halt the task: from the serving or running runner's next cycle no new item of it\n"
        "starts (items already running finish normally; a run left with nothing running stays\n"
        "open and resumes later); no new run of it opens; `run --now --task T` refuses it\n"
        "(exit 4). Recorded with who, when and why, shown by `status` and `explain`, logged as\n"
        "`task.paused`. Safe while a runner works; takes no lock. Pausing a task that is\n"
        "already halted or paused changes nothing. `runner resume` lets it go on.",
    )
    _path_argument(p)
    _task_option(p, required=True)
    p.add_argument(
        "--reason", required=True, metavar="TEXT", help="why (required; kept in the audit)"
    )
    p.add_argument("--by", metavar="NAME", help="who pauses it (default: the OS user)")
    _json_flag(p)

    p = verb(
        "resume",
        "let a halted or paused task start items again (audited)",
        "Clear the halt of a task, whether its brake (halt_on) tripped or `runner pause` held it:\n"
        "the runner starts its items again from its next cycle, a run it left open resumes, and\n"
        "its brake counts afresh from now. Recorded with who, when and why, logged as\n"
        "`task.resumed`. Safe while a runner works; takes no lock. Resuming a task that is not\n"
        "held changes nothing.",
    )
    _path_argument(p)
    _task_option(p, required=True)
    p.add_argument("--reason", default="", metavar="TEXT", help="why (kept in the audit)")
    p.add_argument("--by", metavar="NAME", help="who resumes it (default: the OS user)")
    _json_flag(p)


def _check_verb(verb: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """`runner check`: monitoring."""
    p = verb(
        "check",
        "report problems for monitoring, one line each (Nagios-style exit code)",
        "Print one line per problem and exit as a Nagios plugin does: 0 OK (one OK line), 1\n"
        "WARNING, 2 CRITICAL. CRITICAL: items sitting in error queues (per task, counts per\n"
        "queue); a task halted by its brake (halt_on); a site's runner that stopped without a\n"
        "clean exit (heartbeat stale); a run stuck (open, its runner up, and no attempt or step\n"
        "of it started or ended for longer than --stuck-after). WARNING: a task paused by an\n"
        "operator; a run left open with no runner up for its site. It stays red until the cause\n"
        "is dealt with (items moved, task resumed, runner restarted). A pipeline that does not\n"
        "load or a bad option also exits 2, with the message. Reads the state; never takes the\n"
        "runner lock.",
    )
    _path_argument(p)
    p.add_argument(
        "--stuck-after",
        default="2h",
        metavar="DURATION",
        help="an open run with no attempt or step starting or ending for longer than this is "
        "stuck (default 2h; set it above your longest item)",
    )
    _json_flag(p)


def _metrics_verb(verb: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    p = verb(
        "metrics",
        "print the Prometheus metrics, or write them for node_exporter",
        "Print the pipeline's metrics in the Prometheus text format: items per queue per task,\n"
        "task status, attempts by status and their durations, runs by outcome, each site's\n"
        "runner (up, heartbeat age, throughput). docs/metrics.md lists them with alert rules.\n"
        "With --textfile, write them to FILE instead, at once (a temporary file renamed over it)\n"
        "for node_exporter's textfile collector; run it from cron or a timer. Reads the state;\n"
        "never takes the runner lock.",
    )
    _path_argument(p)
    p.add_argument(
        "--textfile",
        metavar="FILE",
        help="write to FILE (e.g. /var/lib/node_exporter/textfile/runner.prom) instead of stdout",
    )


def split_targets(targets: Sequence[str]) -> tuple[str, list[str]]:
    """(PATH, ITEMs): the first word is PATH when it is an existing directory or *.yaml/*.yml file."""
    words = list(targets)
    if words:
        first = Path(words[0])
        if first.is_dir() or (first.is_file() and first.suffix in (".yaml", ".yml")):
            return words[0], words[1:]
    return "pipelines", words


def one_item(targets: Sequence[str], verb: str) -> tuple[str, str]:
    """(PATH, ITEM) of a verb that takes exactly one item."""
    path, items = split_targets(targets)
    if len(items) != 1:
        got = "no item" if not items else f"{len(items)} items ({', '.join(items)})"
        raise UsageError(
            f"`runner {verb}` takes exactly one ITEM after the options, got {got}; "
            f"e.g. runner {verb} --task T ITEM"
        )
    return path, items[0]


INSTANCE_MAX = 200
"""Longest runner identity `--instance` takes."""


def _instance_name(text: str) -> str:
    """A runner identity: printable, without spaces, at most INSTANCE_MAX characters."""
    if (
        not text
        or len(text) > INSTANCE_MAX
        or not text.isprintable()
        or any(c.isspace() for c in text)
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a runner identity: give 1 to {INSTANCE_MAX} printable characters "
            "without spaces (e.g. the host's name)"
        )
    return text


def _instance_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--instance",
        metavar="NAME",
        type=_instance_name,
        help="this runner's identity among the runners of its site (default: HOST:PID); on a "
        "shared PostgreSQL state a runner started again under the same name takes over what "
        "its earlier start left (give each host its own, e.g. its name)",
    )
