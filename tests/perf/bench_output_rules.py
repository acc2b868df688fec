"""Benchmark: what output rules and limits cost. N items each run awk printing 100 progress
lines (`Transferred: i/100 messages`): without rules, with an `output_events` progress rule,
and with the rule and a limit per attribute (`limits: [{per: server, max: 1}]`, the items
spread over two servers, so the limit holds back an item at almost every start).

Every variant runs the same command at concurrency 2 with the durable state file; with the
rule, every line is matched, and of the lines read at once the last match is recorded as a
progress event (awk writes its 100 lines at once: about one event per item). Rounds are
interleaved (without, with, with + limit, without, ...) and each ratio is the median of
per-round ratios to the round's run without rules. The machine's load average is reported
beside the figures. Reports; asserts nothing. Usage:

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
  g: {{file: items.csv}}
definitions:
  d:
    command: [awk, '{tool}']
{rules}policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once{limits}}}
"""

LIMITS = ", limits: [{per: server, max: 1}]"

VARIANTS = {"without": (False, False), "rules": (True, False), "rules+limit": (True, True)}
"""Variant name -> (output rule, limit per server)."""

RULES = """\
    output_events:
      - {match: '^Transferred: (?P<done>\\d+)/(?P<total>\\d+) messages', event: progress}
"""


def run_once(root: Path, items: int, concurrency: int, *, variant: str) -> Measurement:
    """One fresh `runner run --now` of `items` items in one of the VARIANTS; the returned
    measurement's `code` holds the number of progress events recorded."""
    rules, limit = VARIANTS[variant]
    work = root / variant
    work.mkdir()
    text = PIPELINE.format(
        concurrency=concurrency,
        tool=TOOL.replace("'", "''"),
        rules=RULES if rules else "",
        limits=LIMITS if limit else "",
    )
    (work / "pipeline.yaml").write_text(text)
    servers = ("a", "b")
    (work / "items.csv").write_text(
        "id,server\n" + "".join(f"item-{n},{servers[n % 2]}\n" for n in range(items))
    )
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


def compare(
    items: int, concurrency: int, rounds: int
) -> tuple[dict[str, list[Measurement]], list[float]]:
    """Interleaved rounds: each variant's measurements, and the load average at each round's
    start."""
    found: dict[str, list[Measurement]] = {variant: [] for variant in VARIANTS}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            work = Path(tmp) / f"round-{number}"
            work.mkdir()
            loads.append(os.getloadavg()[0])
            for variant in VARIANTS:
                found[variant].append(run_once(work, items, concurrency, variant=variant))
    return found, loads


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def collect(items: int = 10_000, concurrency: int = 2, rounds: int = 3) -> list[Row]:
    """Summary rows: each variant's wall, the median per-round ratios, and the load average."""
    found, loads = compare(items, concurrency, rounds)
    without = found["without"]
    load = " / ".join(f"{value:.1f}" for value in loads)
    what = f"{items:,} items x 100 progress lines (awk), concurrency {concurrency}"
    titles = {
        "without": "without output rules",
        "rules": "with a progress rule",
        "rules+limit": "with the rule and limits [{per: server, max: 1}] (2 servers)",
    }
    rows: list[Row] = []
    for variant, title in titles.items():
        walls = [m.wall for m in found[variant]]
        value = f"{_median(walls):.2f} s (rounds: " + " / ".join(f"{w:.2f}" for w in walls) + ")"
        if variant != "without":
            events = [m.code for m in found[variant]]
            value += f"; peak RSS {max(m.rss_mib for m in found[variant]):.0f} MiB"
            value += f"; progress events recorded: {min(events):,} to {max(events):,}"
        rows.append((f"`run`, {what}, {title}", value, ""))
    for variant, title in (("rules", "with rules"), ("rules+limit", "with rules and the limit")):
        ratios = [b.wall / a.wall for a, b in zip(without, found[variant], strict=True)]
        rows.append(
            (
                f"{title} / without, median of per-round ratios",
                f"{_median(ratios):.2f}x (rounds: "
                + " / ".join(f"{r:.2f}" for r in ratios)
                + f"; load average 1 min at each round: {load})",
                "",
            )
        )
    return rows


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
