"""Output rules: their load-time checks, the line scan over chunks, and the events they make."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path

import pytest

from runner.config import load_pipeline
from runner.config.outputrules import OutputRule
from runner.errors import ConfigError
from runner.launch.outputevents import compile_rules, event_lines, number
from runner.launch.protocol import parse_event
from runner.process import LineRule
from runner.process.linescan import LineScanner

PIPELINE = """\
version: 1
settings: {{state: s.db, logs: logs}}
groups:
  g: {{members: [a]}}
definitions:
  d:
    command: [echo]
    output_events:
{rules}
tasks:
  t: {{definition: d, group: g}}
"""


def load_rules(tmp_path: Path, rules: str) -> list[OutputRule]:
    text = PIPELINE.format(rules=textwrap.indent(textwrap.dedent(rules), "      "))
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return load_pipeline(path).definitions["d"].output_events


def issues(tmp_path: Path, rules: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_rules(tmp_path, rules)
    return [str(issue) for issue in caught.value.issues]


class TestLoad:
    def test_a_valid_rule_of_each_kind(self, tmp_path: Path) -> None:
        rules = load_rules(
            tmp_path,
            r"""
            - {match: '^Transferred: (?P<done>\d+)/(?P<total>\d+)', event: progress, stream: stdout}
            - {match: '(?P<percent>\d+)%', event: progress}
            - {match: 'done (?P<done>\d+)', event: progress, total: 200}
            - {match: '^copied (?P<id>\S+)', event: processed, stream: stderr}
            - {match: 'bytes=(?P<bytes>\d+)', event: metric}
            - {match: '^phase', event: detail}
            """,
        )
        assert ["progress"] * 3 + ["processed", "metric", "detail"] == [r.event for r in rules]
        assert ("stdout", "both", 200.0) == (rules[0].stream, rules[1].stream, rules[2].total)

    def test_bad_regex_and_groups_are_located(self, tmp_path: Path) -> None:
        found = issues(
            tmp_path,
            r"""
            - {match: 'oops (', event: detail}
            - {match: 'x (?P<n>\d+)', event: processed}
            - {match: 'y (?P<done>\d+)', event: progress}
            - {match: 'nothing', event: metric}
            - {match: '(?P<percent>\d+) (?P<done>\d+)', event: progress}
            - {match: 'x', event: detail, total: 3}
            - {match: 'x', event: detail, stream: stdin}
            """,
        )
        assert 7 == len(found)
        expected = [
            ("p.yaml:10:", "is not a valid regular expression"),
            ("p.yaml:11:", "output_events[1]: no group `id`"),
            ("p.yaml:12:", "the group `done` counts towards nothing"),
            ("p.yaml:13:", "no named group"),
            ("p.yaml:14:", "the groups percent and done exclude each other"),
            ("p.yaml:15:", "`total` is for progress rules only, not detail"),
            ("p.yaml:16:", "expected one of: stdout, stderr, both"),
        ]
        for issue, (where, what) in zip(found, expected, strict=True):
            assert where in issue and what in issue, issue

    def test_the_definition_hash_is_unchanged_without_rules(self, tmp_path: Path) -> None:
        """A definition without rules hashes as before the key existed (its other fields only),
        so attempts recorded earlier do not show a changed definition; rules change the hash."""
        with_rules = load_rules(tmp_path, "- {match: 'x', event: detail}")
        assert with_rules
        definition = load_pipeline(tmp_path / "p.yaml").definitions["d"]
        plain = definition.model_copy(update={"output_events": []})
        before = plain.model_dump(mode="json")
        del before["output_events"]
        canonical = json.dumps(before, sort_keys=True)
        assert hashlib.sha256(canonical.encode()).hexdigest()[:16] == plain.fingerprint()
        assert plain.fingerprint() != definition.fingerprint()


class Collector:
    def __init__(self) -> None:
        self.matches: list[tuple[int, str]] = []

    def __call__(self, matches: list[tuple[int, re.Match[str]]]) -> None:
        self.matches.extend((index, match.group(0)) for index, match in matches)


def scanner(
    patterns: list[str], stream: str = "stdout", limit: int = 50
) -> tuple[LineScanner, Collector]:
    rules = [LineRule(re.compile(p), frozenset({"stdout", "stderr"})) for p in patterns]
    seen = Collector()
    return LineScanner(stream, rules, seen, limit), seen


class TestLineScan:
    def test_lines_split_across_chunks_and_carriage_returns(self) -> None:
        scan, seen = scanner([r"n=\d+"])
        for chunk in (b"n=1\nn=", b"2", b"2\rn=3\r\n", b"x\n", b"n=4"):
            scan.feed(chunk)
        assert [(0, "n=1"), (0, "n=22"), (0, "n=3")] == seen.matches
        scan.finish()
        assert (0, "n=4") == seen.matches[-1]

    def test_matches_in_line_order_then_rule_order(self) -> None:
        scan, seen = scanner([r"b\d", r"a\d"])
        scan.feed(b"a1\nb2\na3 b4\n")
        assert [(1, "a1"), (0, "b2"), (0, "b4"), (1, "a3")] == seen.matches

    def test_only_the_head_of_a_long_line_is_searched(self) -> None:
        """The pattern sees at most `limit` characters, also of a line that came in pieces."""
        scan, seen = scanner([r"^x+$", r"tail"], limit=10)
        scan.feed(b"x" * 10 + b"tail\n")
        scan.feed(b"x" * 30)
        scan.feed(b"x" * 30 + b"tail\nxx\n")
        assert [(0, "x" * 10), (0, "x" * 10), (0, "xx")] == seen.matches

    def test_a_rule_reads_only_its_stream(self) -> None:
        rules = [LineRule(re.compile("x"), frozenset({"stderr"}))]
        assert not LineScanner("stdout", rules, Collector(), 10)
        assert LineScanner("stderr", rules, Collector(), 10)

    def test_bad_utf8_is_replaced(self) -> None:
        scan, seen = scanner([r"caf."])
        scan.feed(b"caf\xff\n")
        assert [(0, "caf\ufffd")] == seen.matches


def events(rule: str, line: str) -> list[tuple[str, str]]:
    parsed = OutputRule.model_validate(json.loads(rule))
    (compiled,) = compile_rules([parsed])
    match = compiled.pattern.search(line)
    assert match is not None
    return [(e.kind, e.value) for e in map(parse_event, event_lines([parsed], [(0, match)]))]


class TestEvents:
    def test_of_lines_read_at_once_a_gauge_rule_keeps_its_last_match(self) -> None:
        """Every processed match counts; a detail/progress/metric rule's earlier matches among
        the same lines would be replaced at once, so only its last one makes an event."""
        rules = [
            OutputRule.model_validate({"match": r"(?P<percent>\d+)%", "event": "progress"}),
            OutputRule.model_validate({"match": r"^copied (?P<id>\S+)", "event": "processed"}),
        ]
        compiled = compile_rules(rules)
        lines = ["10%", "copied a", "20%", "copied b", "30%"]
        matches = []
        for line in lines:
            for index, rule in enumerate(compiled):
                found = rule.pattern.search(line)
                if found is not None:
                    matches.append((index, found))
        shown = [(e.kind, e.value) for e in map(parse_event, event_lines(rules, matches))]
        assert [("processed", "a"), ("processed", "b"), ("progress", "0.3")] == shown

    def test_detail_takes_its_group_or_the_match(self) -> None:
        assert [("detail", "phase 2")] == events(
            '{"match": "phase \\\\d", "event": "detail"}', "in phase 2 now"
        )
        rule = '{"match": "^step: (?P<detail>.*)", "event": "detail"}'
        assert [("detail", "copying")] == events(rule, "step: copying")

    def test_progress_from_percent_done_total_or_the_rules_total(self) -> None:
        rule = '{"match": "(?P<percent>[\\\\d.]+)%", "event": "progress"}'
        assert [("progress", "0.425")] == events(rule, "42.5% done")
        rule = '{"match": "(?P<done>\\\\d+)/(?P<total>\\\\d+)", "event": "progress"}'
        assert [("progress", "0.25")] == events(rule, "1/4")
        rule = '{"match": "(?P<done>\\\\d+) copied", "event": "progress", "total": 8}'
        assert [("progress", "0.5")] == events(rule, "4 copied")

    def test_progress_over_a_zero_total_is_invalid(self) -> None:
        rule = '{"match": "(?P<done>\\\\d+)/(?P<total>\\\\d+)", "event": "progress"}'
        ((kind, value),) = events(rule, "0/0")
        assert "invalid" == kind and "output_events[0] (progress): no number" in value

    def test_metrics_are_numbers_named_after_their_groups(self) -> None:
        rule = '{"match": "(?P<bytes>[\\\\d,]+) B in (?P<seconds>\\\\S+)s", "event": "metric"}'
        ((kind, value),) = events(rule, "1,234,567 B in 2.5s")
        assert ("metric", {"bytes": 1234567, "seconds": 2.5}) == (kind, json.loads(value))
        ((kind, value),) = events(rule, "12 B in fast-s")
        assert "invalid" == kind and "a metric group is not a number" in value

    def test_processed_takes_the_id(self) -> None:
        rule = '{"match": "^copied (?P<id>\\\\S*)", "event": "processed"}'
        assert [("processed", "msg-7")] == events(rule, "copied msg-7")
        assert "invalid" == events(rule, "copied ")[0][0]  # an empty sub-id is refused visibly

    @pytest.mark.parametrize(
        ("text", "value"),
        [("12", 12), ("1,234", 1234), ("-3.5", -3.5), ("1e3", 1000), (" 7 ", 7), ("1_000", 1000)],
    )
    def test_numbers(self, text: str, value: float) -> None:
        assert value == number(text)

    @pytest.mark.parametrize("text", ["", "abc", "12MB", "1.2.3", "nan", "inf"])
    def test_not_numbers(self, text: str) -> None:
        assert number(text) is None
