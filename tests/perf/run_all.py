"""Every benchmark behind one command, printed as one Markdown table.

    python -m tests.perf.run_all            # full sizes (minutes)
    python -m tests.perf.run_all --quick    # small sizes (a smoke test of the benchmarks)

Benchmarks report; they assert nothing about time. The table, with the machine it ran
on, is kept in docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from tests.perf._measure import Row, table


def _suites(quick: bool) -> list[tuple[str, Callable[[], list[Row]]]]:
    def call(module: str, **kwargs: object) -> Callable[[], list[Row]]:
        def run() -> list[Row]:
            collect: Callable[..., list[Row]] = importlib.import_module(
                f"tests.perf.{module}"
            ).collect
            return collect(**kwargs)

        return run

    if quick:
        return [
            (
                "peers",
                call(
                    "bench_peers",
                    items=500,
                    concurrency=(2, 400),
                    rounds=1,
                    sleep_items=400,
                    sleep_rounds=1,
                    scale=(1_000,),
                ),
            ),
            ("config", call("bench_config", members=10_000)),
            ("operator verbs", call("bench_operator", items=10_000, attempts=100_000)),
            ("resume", call("bench_resume", items=10_000)),
            ("serve", call("bench_serve", tasks=100, minutes=1)),
            ("output rules", call("bench_output_rules", items=500, rounds=1)),
            ("console", call("bench_web", items=10_000, attempts=100_000, repeat=5)),
            (
                "scale-out",
                call(
                    "bench_scaleout",
                    items=160,
                    runners=(1, 2),
                    rounds=1,
                    dispatch_items=500,
                    dispatch_concurrency=(2,),
                    dispatch_rounds=1,
                ),
            ),
        ]
    return [
        (
            "peers",
            call(
                "bench_peers",
                items=10_000,
                rounds=3,
                sleep_items=2_000,
                sleep_rounds=3,
                scale=(1_000, 10_000, 100_000),
            ),
        ),
        ("config", call("bench_config", members=100_000)),
        ("operator verbs", call("bench_operator", items=100_000, attempts=1_000_000)),
        ("resume", call("bench_resume", items=100_000)),
        ("serve", call("bench_serve", tasks=1_000, minutes=5)),
        ("output rules", call("bench_output_rules", items=10_000, rounds=3)),
        ("console", call("bench_web", items=100_000, attempts=1_000_000, repeat=20)),
        ("scale-out", call("bench_scaleout")),
    ]


def machine() -> str:
    """One line describing where the figures were taken."""
    cores = os.cpu_count()
    return (
        f"{platform.system()} {platform.release()}, {cores} cores, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: checks the benchmarks run"
    )
    parser.add_argument(
        "--only", action="append", default=[], help="run only this suite (repeatable)"
    )
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    for name, run in _suites(args.quick):
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += [(name, *row) for row in run()]
        except (ImportError, AttributeError) as exc:
            rows.append((name, "not available", f"{exc}", ""))
    print(f"machine: {machine()}\n")
    print(table(rows, ("suite", "measure", "value", "target")))


if __name__ == "__main__":
    main()
