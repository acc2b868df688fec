"""Benchmark: what output rules cost. N items each run awk printing 100 progress lines
(`Transferred: i/100 messages`), with and without an `output_events` progress rule.

Both variants run the same command at concurrency 2 with the durable state file; with the
rule, every line is matched, and of the lines read at once the last match is recorded as a
progress event (awk writes its 100 lines at once: about one event per item). Rounds are interleaved
(without, with, without, with, ...) and the ratio is the median of per-round ratios. The
machine's load average is reported beside the figures. Reports; asserts nothing. Usage:

    python -m tests.perf.bench_output_rules [--items 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
from pathlib import Path

from tests.perf._measure import Measurement, Row, measure, runner_argv

TOOL = 'BEGIN { for (i = 1; i <= 100; i++) printf "Transferred: %d/100 messages\\n", i }'

PIPELINE = """\
version: 1
settings: {{state: .runner/state.db, logs: .runner/logs, concurrency: {concurrency}}}
groups:
  g: {{file: items.txt}}
definitions:
  d:
    command: [awk, '{tool}']
{rules}policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once}}
"""

RULES = """\
    output_events:
      - {match: '^Transferred: (?P<done>\\d+)/(?P<total>\\d+) messages', event: progress}
"""


def run_once(root: Path, items: int, concurrency: int, *, rules: bool) -> Measurement:
    """One fresh `runner run --now` of `items` items, with or without the rule; the returned
    measurement's `code` holds the number of progress events recorded."""
    work = root / ("with-rules" if rules else "without-rules")
    work.mkdir()
    text = PIPELINE.format(
        concurrency=concurrency, tool=TOOL.replace("'", "''"), rules=RULES if rules else ""
    )
    (work / "pipeline.yaml").write_text(text)
    (work / "items.txt").write_text("".join(f"item-{n}\n" for n in range(items)))
    result = measure(
        runner_argv("run", "pipeline.yaml", "--now", "--log-format", "json"),
        cwd=work,
        stderr_to=work / "stderr",
    )
    assert result.code == 0, (work / "stderr").read_text()[-2000:]
    db = sqlite3.connect(work / ".runner" / "state.db")
    (events,) = db.execute("SELECT count(*) FROM events WHERE kind = 'progress'").fetchone()
    db.close()
    assert (items <= events <= items * 100) if rules else events == 0, events
    return Measurement(result.wall, result.rss_mib, events)


def compare(items: int, concurrency: int, rounds: int) -> tuple[list[Measurement], ...]:
    """Interleaved rounds: (without rules, with rules, load average at each round's start)."""
    without: list[Measurement] = []
    with_rules: list[Measurement] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            work = Path(tmp) / f"round-{number}"
            work.mkdir()
            loads.append(os.getloadavg()[0])
            without.append(run_once(work, items, concurrency, rules=False))
            with_rules.append(run_once(work, items, concurrency, rules=True))
    return without, with_rules, [Measurement(load, 0, 0) for load in loads]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def collect(items: int = 10_000, concurrency: int = 2, rounds: int = 3) -> list[Row]:
    """Summary rows: both walls, the median per-round ratio, and the load average."""
    without, with_rules, loads = compare(items, concurrency, rounds)
    ratios = [b.wall / a.wall for a, b in zip(without, with_rules, strict=True)]
    load = " / ".join(f"{m.wall:.1f}" for m in loads)
    what = f"{items:,} items x 100 progress lines (awk), concurrency {concurrency}"
    return [
        (
            f"`run`, {what}, without output rules",
            f"{_median([m.wall for m in without]):.2f} s (rounds: "
            + " / ".join(f"{m.wall:.2f}" for m in without)
            + ")",
            "",
        ),
        (
            f"`run`, {what}, with a progress rule",
            f"{_median([m.wall for m in with_rules]):.2f} s (rounds: "
            + " / ".join(f"{m.wall:.2f}" for m in with_rules)
            + f"); peak RSS {max(m.rss_mib for m in with_rules):.0f} MiB; progress events "
            + f"recorded: {min(m.code for m in with_rules):,} to {max(m.code for m in with_rules):,}",
            "",
        ),
        (
            "with rules / without, median of per-round ratios",
            f"{_median(ratios):.2f}x (rounds: "
            + " / ".join(f"{r:.2f}" for r in ratios)
            + f"; load average 1 min at each round: {load})",
            "",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    for measure_name, value, _ in collect(args.items, args.concurrency, args.rounds):
        print(f"{measure_name}: {value}")


if __name__ == "__main__":
    main()
