"""The `runner` command: a thin shell that parses, calls the library and renders.

`parser` holds the verbs, options and help texts, `commands` one handler per verb, `render`
the text renderings. `main` is the console script and the one place an exception becomes an
exit code: a `RunnerError` carries its own (`exit_code`), anything else is a bug of ours.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence

from runner import exitcodes
from runner.cli.commands import COMMANDS
from runner.cli.parser import build_parser
from runner.cli.render import error
from runner.errors import RunnerError

__all__ = ["build_parser", "main"]


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
    except RunnerError as exc:
        print(exc.report(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exitcodes.OK
    except Exception as exc:  # a bug of ours: say so plainly; the traceback only on request
        from runner.state import state_failure

        if (failure := state_failure(exc)) is not None:  # the state file, not our code
            print(failure.report(), file=sys.stderr)
            return failure.exit_code
        if os.environ.get("RUNNER_DEBUG"):
            raise
        error(
            f"internal error: {exc!r}; this is a bug, please report it (RUNNER_DEBUG=1 shows the traceback)"
        )
        return exitcodes.INTERNAL_ERROR
