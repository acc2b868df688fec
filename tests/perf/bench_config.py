"""Benchmark: `runner validate` and `runner plan` of a pipeline whose group file holds N members.

Reports wall time and peak RSS; asserts nothing. Usage:

    python -m tests.perf.bench_config [--members 100000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.perf._measure import Row, measure, runner_argv, table

PIPELINE = """\
version: 1
settings: {state: .runner/state.db, logs: .runner/logs}
schedules:
  nightly: {cron: "0 2 * * *", timezone: Europe/Berlin, window: 6h}
groups:
  big: {file: members.csv}
definitions:
  d:
    command: [/bin/echo, "{{ item.id }}", --server, "{{ item.server }}"]
    requires: [server]
tasks:
  t: {schedule: nightly, definition: d, group: big, concurrency: 4}
"""


def collect(members: int = 100_000) -> list[Row]:
    """validate and plan of a pipeline whose group file holds `members` members."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.yaml").write_text(PIPELINE)
        with (root / "members.csv").open("w") as handle:
            handle.write("id,server,size\n")
            for n in range(members):
                handle.write(f"user{n:06d}@example.com,mx{n % 7:02d},{n % 1000}\n")
        for verb in ("validate", "plan"):
            result = measure(
                runner_argv(verb, "pipeline.yaml"), cwd=root, stderr_to=root / f"{verb}.err"
            )
            assert result.code == 0, (root / f"{verb}.err").read_text()
            rows.append(
                (f"`{verb}`, {members:,}-member group file: wall", f"{result.wall:.2f} s", "< 2 s")
            )
            rows.append(
                (
                    f"`{verb}`, {members:,}-member group file: peak RSS",
                    f"{result.rss_mib:.0f} MiB",
                    "< 300 MiB",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    print(table(collect(args.members), ("measure", "value", "target")))


if __name__ == "__main__":
    main()
