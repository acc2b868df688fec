"""Benchmark: dispatch throughput of `runner run` against xargs -P2 and GNU parallel -j2 --joblog.

N items each run /bin/true at concurrency 2 with the durable state file. The peers run the
same N commands on the same machine in the same invocation. GNU parallel comes from the
distribution's packages (`apt-get install parallel`); a peer that is not installed is skipped.
The ratios are the median of per-round ratios (runner and peers run back to back in each
round). Also reports the runner's peak RSS. Reports; asserts nothing. Usage:

    python -m tests.perf.bench_dispatch [--items 10000] [--rss-items 100000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tests.perf._measure import Measurement, Row, measure, runner_argv, table

RUNNER = "runner run (durable state)"

PIPELINE = """\
version: 1
settings: {{state: .runner/state.db, logs: .runner/logs, concurrency: {concurrency}}}
groups:
  g: {{file: items.txt}}
definitions:
  d: {{command: [/bin/true]}}
policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once}}
"""


def run_runner(root: Path, items: int, concurrency: int) -> Measurement:
    """One fresh `runner run --now` of `items` /bin/true items."""
    work = root / f"runner-{items}"
    work.mkdir()
    (work / "pipeline.yaml").write_text(PIPELINE.format(concurrency=concurrency))
    (work / "items.txt").write_text("".join(f"item-{n}\n" for n in range(items)))
    result = measure(
        runner_argv("run", "pipeline.yaml", "--now", "--log-format", "json"),
        cwd=work,
        stderr_to=work / "stderr",
    )
    assert result.code == 0, (work / "stderr").read_text()[-2000:]
    return result


def run_shell(root: Path, items: int, command: str) -> Measurement:
    """A peer tool fed `items` lines on stdin."""
    (root / "seq.txt").write_text("".join(f"{n}\n" for n in range(items)))
    return measure(["sh", "-c", f"{command} < seq.txt"], cwd=root, stderr_to=root / "peer.err")


def compare(items: int, concurrency: int, rounds: int) -> dict[str, list[Measurement]]:
    """Interleaved rounds of the runner and each peer found on this machine."""
    n, c = items, concurrency
    peers: list[tuple[str, str]] = []
    if shutil.which("xargs"):
        peers.append((f"xargs -P{c} -n1", f"xargs -P{c} -n1 /bin/true"))
    else:
        print("xargs not found: skipped")
    if shutil.which("parallel"):
        peers.append(
            (f"GNU parallel -j{c} --joblog", f"parallel -j{c} --joblog jobs.log /bin/true")
        )
    else:
        print("GNU parallel not found (apt-get install parallel): skipped")
    samples: dict[str, list[Measurement]] = {RUNNER: []}
    samples.update({name: [] for name, _ in peers})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for round_number in range(rounds):
            work = root / f"round-{round_number}"
            work.mkdir()
            samples[RUNNER].append(run_runner(work, n, c))
            for name, command in peers:
                samples[name].append(run_shell(work, n, command))
    return samples


def _median(samples: list[Measurement]) -> Measurement:
    return sorted(samples, key=lambda m: m.wall)[len(samples) // 2]


def paired_ratio(ours: list[Measurement], peer: list[Measurement]) -> float:
    """The median over rounds of runner wall / peer wall within the same round.

    Each round runs the runner and the peers back to back, so a round's ratio compares runs
    made under the same load; the machine's load drifts between rounds far more than within.
    """
    ratios = sorted(a.wall / b.wall for a, b in zip(ours, peer, strict=True))
    return ratios[len(ratios) // 2]


def collect(
    items: int = 10_000, concurrency: int = 2, rounds: int = 3, rss_items: int = 100_000
) -> list[Row]:
    """Summary rows: the runner's throughput, its ratios to the peers, and peak RSS."""
    samples = compare(items, concurrency, rounds)
    median = {name: _median(ms) for name, ms in samples.items()}
    ours = median[RUNNER]
    rows: list[Row] = [
        (
            f"`run`, {items:,} x /bin/true at concurrency {concurrency}, durable state",
            f"{ours.wall / items * 1000:.2f} ms/item ({items / ours.wall:,.0f} items/s)",
            "",
        )
    ]
    for name, m in median.items():
        paired = paired_ratio(samples[RUNNER], samples[name])
        both = f"(medians: {ours.wall:.2f} s / {m.wall:.2f} s)"
        if name.startswith("xargs"):
            rows.append((f"runner wall / {name} wall", f"{paired:.2f}x {both}", "<= 1.5x"))
        elif name.startswith("GNU"):
            rows.append((f"{name} wall / runner wall", f"{1 / paired:.2f}x {both}", ">= 3x"))
    if rss_items:
        with tempfile.TemporaryDirectory() as tmp:
            big = run_runner(Path(tmp), rss_items, concurrency)
        rows.append(
            (f"peak RSS of a {rss_items:,}-item `run`", f"{big.rss_mib:.0f} MiB", "< 200 MiB")
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the median is reported"
    )
    parser.add_argument(
        "--rss-items", type=int, default=100_000, help="items of the peak-RSS run (0: skip)"
    )
    args = parser.parse_args()
    n = args.items
    samples = compare(n, args.concurrency, args.rounds)
    median = {name: _median(ms) for name, ms in samples.items()}
    ours = median[RUNNER]
    printed = [
        (
            name,
            f"{n:,}",
            f"{m.wall:.2f}",
            " / ".join(f"{x.wall:.2f}" for x in samples[name]),
            f"{m.wall / n * 1000:.2f}",
            f"{n / m.wall:,.0f}",
            f"{m.wall / ours.wall:.2f}",
            f"{m.rss_mib:.0f}",
        )
        for name, m in median.items()
    ]
    header = (
        "tool",
        "items",
        "median wall s",
        "all rounds s",
        "ms/item",
        "items/s",
        "x runner",
        "peak RSS MiB",
    )
    print(table(printed, header))
    for name in median:
        if name != RUNNER:
            paired = paired_ratio(samples[RUNNER], samples[name])
            print(f"runner / {name}, median of per-round ratios: {paired:.2f}x")
    if args.rss_items:
        with tempfile.TemporaryDirectory() as tmp:
            big = run_runner(Path(tmp), args.rss_items, args.concurrency)
        print(
            f"\npeak RSS of a {args.rss_items:,}-item run: {big.rss_mib:.0f} MiB in {big.wall:.1f} s (target < 200 MiB)"
        )


if __name__ == "__main__":
    main()
