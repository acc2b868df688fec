"""Benchmark: dispatch throughput of `runner run` against xargs -P2 and GNU parallel -j2 --joblog.

N items each run /bin/true at concurrency 2 with the durable state file. The peers run the
same N commands on the same machine in the same invocation. GNU parallel comes from the
distribution's packages (`apt-get install parallel`); a peer that is not installed is skipped.
Also reports the runner's peak RSS. Reports; asserts nothing. Usage:

    python -m tests.perf.bench_dispatch [--items 10000] [--rss-items 100000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tests.perf._measure import Measurement, measure, runner_argv, table

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
    n, c = args.items, args.concurrency
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
    samples: dict[str, list[Measurement]] = {"runner run (durable state)": []}
    samples.update({name: [] for name, _ in peers})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for round_number in range(args.rounds):
            work = root / f"round-{round_number}"
            work.mkdir()
            samples["runner run (durable state)"].append(run_runner(work, n, c))
            for name, command in peers:
                samples[name].append(run_shell(work, n, command))
        big = run_runner(root, args.rss_items, c) if args.rss_items else None
    median = {name: sorted(ms, key=lambda m: m.wall)[len(ms) // 2] for name, ms in samples.items()}
    ours = median["runner run (durable state)"]
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
    xargs = next((m for k, m in median.items() if k.startswith("xargs")), None)
    par = next((m for k, m in median.items() if k.startswith("GNU")), None)
    if xargs:
        print(f"\nrunner / xargs wall: {ours.wall / xargs.wall:.2f}x (target <= 1.5x)")
    if par:
        print(f"GNU parallel / runner wall: {par.wall / ours.wall:.2f}x (target >= 3x)")
    if big:
        print(
            f"peak RSS of a {args.rss_items:,}-item run: {big.rss_mib:.0f} MiB "
            f"in {big.wall:.1f} s (target < 200 MiB)"
        )


if __name__ == "__main__":
    main()
