"""A definition's output rules at run time: compiled once, and their matches as events lines.

A match becomes the JSON line the child could have written to RUNNER_EVENTS for the same event
(`runner.launch.protocol`), so that it is checked, masked and recorded by the same code. A match
whose groups do not make a valid event (a metric that is not a number, an empty sub-id) becomes
a line that is not JSON, recorded as an invalid event and counted in `attempt.events_invalid`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from runner.config.outputrules import RULE_LINE_LIMIT, OutputRule
from runner.launch.protocol import parse_event
from runner.process import LineRule, Match
from runner.process.linescan import LineScanner

_STREAMS = {
    "stdout": frozenset({"stdout"}),
    "stderr": frozenset({"stderr"}),
    "both": frozenset({"stdout", "stderr"}),
}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def compile_rules(rules: Sequence[OutputRule]) -> tuple[LineRule, ...]:
    """The rules' patterns, compiled, with the streams each reads."""
    return tuple(LineRule(re.compile(rule.match), _STREAMS[rule.stream]) for rule in rules)


def event_lines(rules: Sequence[OutputRule], matches: Sequence[Match]) -> list[bytes]:
    """The events lines of the matches found in the lines read at once, in their order.

    Every `processed` match counts; of a detail, progress or metric rule only the last match
    among these lines is kept: the earlier ones would be replaced at once (a tool printing
    progress in a burst would otherwise cost a recorded event per line).
    """
    last = {index: position for position, (index, _) in enumerate(matches)}
    return [
        _line(index, rules[index], match)
        for position, (index, match) in enumerate(matches)
        if last[index] == position or rules[index].event == "processed"
    ]


def processed_in_output(rules: Sequence[OutputRule], paths: Sequence[Path]) -> list[str]:
    """The sub-ids the `processed` rules find in an attempt's output files (stdout, stderr),
    in order: what a dead runner may not have recorded yet (crash recovery)."""
    chosen = [rule for rule in rules if rule.event == "processed"]
    if not chosen:
        return []
    compiled = compile_rules(chosen)
    found: list[str] = []

    def collect(matches: list[Match]) -> None:
        for line in event_lines(chosen, matches):
            event = parse_event(line)
            if event.kind == "processed":
                found.append(event.value)

    for stream, path in zip(("stdout", "stderr"), paths, strict=True):
        scanner = LineScanner(stream, compiled, collect, RULE_LINE_LIMIT)
        if not scanner:
            continue
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    scanner.feed(chunk)
        except FileNotFoundError:
            continue
        scanner.finish()
    return found


def number(text: str) -> int | float | None:
    """The number a group captured (`1,234`, `12.5`, `-3`, `1e6`), or None if it is not one."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not _NUMBER.fullmatch(cleaned):
        return None
    value = float(cleaned)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _line(index: int, rule: OutputRule, match: re.Match[str]) -> bytes:
    groups = {name: value for name, value in match.groupdict().items() if value is not None}
    event: object
    if rule.event == "detail":
        event = {"detail": groups.get("detail", match.group(0))}
    elif rule.event == "processed":
        event = {"processed": groups.get("id", "")}
    elif rule.event == "progress":
        fraction = _fraction(rule, groups)
        if fraction is None:
            return _invalid(index, rule, match, "no number for the progress")
        event = {"progress": fraction}
    else:
        values = {name: number(text) for name, text in groups.items()}
        metrics = {name: value for name, value in values.items() if value is not None}
        if len(metrics) != len(values) or not metrics:
            return _invalid(index, rule, match, "a metric group is not a number")
        event = {"metric": metrics}
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def _fraction(rule: OutputRule, groups: dict[str, str]) -> float | None:
    if "percent" in groups:
        percent = number(groups["percent"])
        return None if percent is None else percent / 100
    done = number(groups.get("done", ""))
    total = rule.total if rule.total is not None else number(groups.get("total", ""))
    if done is None or not total:
        return None
    return done / total


def _invalid(index: int, rule: OutputRule, match: re.Match[str], why: str) -> bytes:
    """A line that is not an event: recorded as invalid, its text saying which rule and why."""
    return f"output_events[{index}] ({rule.event}): {why}: {match.string}".encode()
