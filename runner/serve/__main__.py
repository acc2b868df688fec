"""`python -m runner.serve`: the serve command on its own (tests and benchmarks start it so)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from runner.errors import RunnerError
from runner.serve.service import serve


def build_parser() -> argparse.ArgumentParser:
    """The arguments of `runner serve` (also `python -m runner.serve`)."""
    parser = argparse.ArgumentParser(
        prog="runner serve",
        description="Stay up: start tasks when their schedules fire, run run-now items as they "
        "appear, re-read changed pipeline files within seconds. SIGTERM/SIGINT stop, SIGHUP reloads.",
    )
    parser.add_argument("path", nargs="?", default="pipelines", metavar="PATH")
    parser.add_argument("--site", metavar="S", help="serve this site (default: settings.site)")
    parser.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `runner serve` with these arguments; the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return serve(
            args.path, site=args.site, log_format=args.log_format, log_level=args.log_level
        )
    except RunnerError as exc:
        print(exc.report(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
