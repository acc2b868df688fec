"""Benchmark: `runner run` against xargs, GNU parallel and a C posix_spawn floor at P=2..400.

What an operator runs: N items whose command is templated (`[/bin/true, "{{ item.id }}"]`),
the durable state, `mode: once`, at each concurrency asked for (default 2, 8, 32, 400). The
peers run the same N commands, each with the item's id as its argument:

- `xargs -P<c> -n1 /bin/true`,
- GNU `parallel -j<c> --joblog` (skipped, with the reason, when not installed),
- a C program that keeps <c> children started with posix_spawn and reaps them with wait: the
  floor of what any dispatcher can do here. It is built with `cc` in a temporary directory
  (skipped, with the reason, when there is no compiler).

Rounds are interleaved (in each round every tool runs once, back to back), and each figure
is printed beside the 1-minute load average taken just before it: a figure without the
machine's load cannot be compared with another. Also measured:

- 2,000 x `sleep 1` at concurrency 400 against the ideal (items / concurrency seconds) and
  the floor;
- the runner's per-item time and peak RSS at 1,000 / 10,000 / 100,000 items (concurrency 2).

Reports; asserts nothing. Usage:

    python -m tests.perf.bench_peers [--items 5000] [--concurrency 2 8 32 400] [--rounds 3]
        [--sleep-items 2000] [--scale 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.perf._measure import Measurement, Row, measure, print_progress, runner_argv, table

RUNNER = "runner"
XARGS = "xargs"
PARALLEL = "GNU parallel --joblog"
FLOOR = "C posix_spawn floor"

PIPELINE = """\
version: 1
settings: {{state: .runner/state.db, logs: .runner/logs, concurrency: {concurrency}}}
groups:
  g: {{file: items.txt}}
definitions:
  d: {{command: {command}}}
policies:
  p: {{max_retries: 0}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once}}
"""

TEMPLATED_TRUE = '[/bin/true, "{{ item.id }}"]'
SLEEP_ONE = '[/bin/sleep, "1"]'

FLOOR_SOURCE = r"""
/* Run argv[2] once per line of stdin, the line as its one argument, at most argv[1] at once. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static int reap(int *failed) {
    int status;
    if (wait(&status) < 0) return 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) (*failed)++;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: floor CONCURRENCY PROGRAM < args\n"); return 2; }
    int limit = atoi(argv[1]), running = 0, failed = 0;
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (running >= limit) running -= reap(&failed);
        char *args[] = {argv[2], line, NULL};
        pid_t pid;
        int rc = posix_spawn(&pid, argv[2], NULL, NULL, args, environ);
        if (rc != 0) { fprintf(stderr, "posix_spawn: %s\n", strerror(rc)); return 2; }
        running++;
    }
    while (running > 0 && reap(&failed)) running--;
    return failed ? 1 : 0;
}
"""


@dataclass(frozen=True)
class Sample:
    """One timed run and the 1-minute load average just before it."""

    run: Measurement
    load: float


Tool = Callable[[Path, int, int], Measurement]
"""Runs N items at concurrency C in a fresh directory; returns its measurement."""


def build_floor(where: Path) -> tuple[Path | None, str]:
    """Compile the C floor; (its path, "") or (None, why it is skipped)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None, "no C compiler (cc) on this machine"
    source = where / "floor.c"
    source.write_text(FLOOR_SOURCE)
    binary = where / "floor"
    built = subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(source)], capture_output=True, text=True
    )
    if built.returncode != 0:
        return None, f"{compiler} failed: {built.stderr.strip()[-300:]}"
    return binary, ""


def runner_tool(command: str) -> Tool:
    """The runner: one fresh `runner run --now` of N items running `command`."""

    def run(work: Path, items: int, concurrency: int) -> Measurement:
        (work / "pipeline.yaml").write_text(
            PIPELINE.format(concurrency=concurrency, command=command)
        )
        (work / "items.txt").write_text("".join(f"item-{n}\n" for n in range(items)))
        result = measure(
            runner_argv("run", "pipeline.yaml", "--now", "--log-format", "json"),
            cwd=work,
            stderr_to=work / "stderr",
        )
        if result.code != 0:
            raise RuntimeError(
                f"runner exited {result.code}: {(work / 'stderr').read_text()[-2000:]}"
            )
        return result

    return run


def shell_tool(template: str, argument: str | None = None) -> Tool:
    """A peer fed one line per item on stdin (the item's id, or `argument` for every item)."""

    def run(work: Path, items: int, concurrency: int) -> Measurement:
        lines = (argument if argument is not None else f"item-{n}" for n in range(items))
        (work / "input.txt").write_text("".join(f"{line}\n" for line in lines))
        command = template.format(c=concurrency)
        result = measure(
            ["sh", "-c", f"{command} < input.txt"], cwd=work, stderr_to=work / "peer.err"
        )
        if result.code != 0:
            raise RuntimeError(
                f"{command} exited {result.code}: {(work / 'peer.err').read_text()[-500:]}"
            )
        return result

    return run


def peers(floor: Path | None, program: str, argument: str | None) -> dict[str, Tool]:
    """The peers found on this machine, each running `program` once per item."""
    found: dict[str, Tool] = {}
    if shutil.which("xargs"):
        found[XARGS] = shell_tool(f"xargs -P{{c}} -n1 {program}", argument)
    if shutil.which("parallel"):
        found[PARALLEL] = shell_tool(f"parallel -j{{c}} --joblog jobs.log {program}", argument)
    if floor is not None:
        found[FLOOR] = shell_tool(f"{floor} {{c}} {program}", argument)
    return found


def skipped(floor_reason: str) -> list[str]:
    """Why a peer column is missing, one line per missing peer."""
    reasons = []
    if not shutil.which("xargs"):
        reasons.append(f"{XARGS}: not installed")
    if not shutil.which("parallel"):
        reasons.append(f"{PARALLEL}: not installed (apt-get install parallel)")
    if floor_reason:
        reasons.append(f"{FLOOR}: {floor_reason}")
    return reasons


def rounds_of(
    tools: dict[str, Tool], root: Path, items: int, concurrency: int, rounds: int
) -> dict[str, list[Sample]]:
    """Interleaved rounds: in each, every tool once, back to back."""
    samples: dict[str, list[Sample]] = {name: [] for name in tools}
    for number in range(rounds):
        for index, (name, tool) in enumerate(tools.items()):
            work = root / f"c{concurrency}-n{items}-r{number}-t{index}"
            work.mkdir()
            load = os.getloadavg()[0]
            samples[name].append(Sample(tool(work, items, concurrency), load))
            shutil.rmtree(work, ignore_errors=True)
    return samples


def median_wall(samples: Sequence[Sample]) -> float:
    return statistics.median(s.run.wall for s in samples)


def paired(ours: Sequence[Sample], peer: Sequence[Sample]) -> float:
    """The median over rounds of runner wall / peer wall within the same round."""
    return statistics.median(a.run.wall / b.run.wall for a, b in zip(ours, peer, strict=True))


def loads(samples: Sequence[Sample]) -> str:
    return "/".join(f"{s.load:.1f}" for s in samples)


def dispatch_rows(samples: dict[str, list[Sample]], items: int, concurrency: int) -> list[Row]:
    """Per tool: median ms/item, its ratio to the runner (per round), and the loads."""
    ours = samples[RUNNER]
    rows: list[Row] = []
    for name, taken in samples.items():
        wall = median_wall(taken)
        per_item = f"{wall / items * 1000:.2f} ms/item (median {wall:.2f} s)"
        if name == RUNNER:
            value = per_item
        else:
            ratio = paired(ours, taken)
            value = f"{per_item}; runner / {name} {ratio:.2f}x ({name} / runner {1 / ratio:.2f}x)"
        rows.append(
            (
                f"{items:,} x templated /bin/true, concurrency {concurrency}: {name}",
                value,
                f"load {loads(taken)}",
            )
        )
    return rows


def sleep_rows(samples: dict[str, list[Sample]], items: int, concurrency: int) -> list[Row]:
    """Per tool: median wall against the ideal (items / concurrency x 1 s)."""
    ideal = items / concurrency
    return [
        (
            f"{items:,} x sleep 1, concurrency {concurrency}: {name}",
            f"{median_wall(taken) / ideal:.3f}x ideal (median {median_wall(taken):.2f} s, ideal {ideal:.0f} s)",
            f"load {loads(taken)}",
        )
        for name, taken in samples.items()
    ]


def scale_rows(root: Path, sizes: Sequence[int]) -> list[Row]:
    """The runner's per-item time and peak RSS at each size (concurrency 2)."""
    tool = runner_tool(TEMPLATED_TRUE)
    rows: list[Row] = []
    for size in sizes:
        work = root / f"scale-{size}"
        work.mkdir()
        load = os.getloadavg()[0]
        m = tool(work, size, 2)
        shutil.rmtree(work, ignore_errors=True)
        rows.append(
            (
                f"runner, {size:,} x templated /bin/true, concurrency 2: per item, peak RSS",
                f"{m.wall / size * 1000:.2f} ms/item, {m.rss_mib:.0f} MiB",
                f"load {load:.1f}",
            )
        )
    return rows


def collect(
    items: int = 5_000,
    concurrency: Sequence[int] = (2, 8, 32, 400),
    rounds: int = 3,
    sleep_items: int = 2_000,
    sleep_rounds: int = 2,
    scale: Sequence[int] = (1_000, 10_000),
    on_rows: Callable[[list[Row]], None] | None = None,
) -> list[Row]:
    """Every figure as (measure, value, load) rows; `on_rows` is handed each part as it is done."""
    rows: list[Row] = []

    def add(part: list[Row]) -> None:
        rows.extend(part)
        if on_rows is not None:
            on_rows(part)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        floor, floor_reason = build_floor(root)
        add([(f"skipped: {r.split(':')[0]}", r, "") for r in skipped(floor_reason)])
        true_tools = {RUNNER: runner_tool(TEMPLATED_TRUE), **peers(floor, "/bin/true", None)}
        for c in concurrency:
            add(dispatch_rows(rounds_of(true_tools, root, items, c, rounds), items, c))
        if sleep_items:
            sleep_tools = {RUNNER: runner_tool(SLEEP_ONE), **peers(floor, "/bin/sleep", "1")}
            sleep_tools.pop(PARALLEL, None)  # GNU parallel's own start cost is not the question
            add(
                sleep_rows(
                    rounds_of(sleep_tools, root, sleep_items, 400, sleep_rounds), sleep_items, 400
                )
            )
        add(scale_rows(root, scale))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=5_000, help="items per dispatch run")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[2, 8, 32, 400], help="concurrencies"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per concurrency")
    parser.add_argument(
        "--sleep-items", type=int, default=2_000, help="items of the sleep 1 case (0: skip)"
    )
    parser.add_argument("--sleep-rounds", type=int, default=2)
    parser.add_argument(
        "--scale",
        type=int,
        nargs="*",
        default=[1_000, 10_000],
        help="sizes of the per-item time and peak RSS runs (add 100000 for the full figure)",
    )
    args = parser.parse_args()
    rows = collect(
        items=args.items,
        concurrency=args.concurrency,
        rounds=args.rounds,
        sleep_items=args.sleep_items,
        sleep_rounds=args.sleep_rounds,
        scale=args.scale,
        on_rows=print_progress,
    )
    print(table(rows, ("measure", "value", "1-min load at each run's start")))


if __name__ == "__main__":
    main()
