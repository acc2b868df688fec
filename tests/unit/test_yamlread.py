"""Tests of runner.config.yamlread: safe YAML to plain data, positions, traps and limits."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from runner.config import yamlread
from runner.config.yamlread import (
    MAX_ALIAS_USES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    ReadFile,
    format_key_path,
    read_yaml_file,
    read_yaml_text,
)


def read(text: str) -> ReadFile:
    """Read ``text`` as the file ``p.yaml``."""
    return read_yaml_text(text, "p.yaml")


def messages(result: ReadFile) -> list[str]:
    """The issues of a read, as printed."""
    return [str(issue) for issue in result.issues]


class TestCoreSchema:
    """Plain scalars follow the YAML 1.2 core schema."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("true", True),
            ("False", False),
            ("TRUE", True),
            ("42", 42),
            ("-7", -7),
            ("0", 0),
            ("1.5", 1.5),
            ("1e3", 1000.0),
            ("~", None),
            ("null", None),
            ("", None),
            ("hello world", "hello world"),
            ("./scripts/run", "./scripts/run"),
            ("#001", None),
        ],
    )
    def test_plain_scalars_resolve_by_yaml_1_2(self, text: str, expected: object) -> None:
        """true/false, decimal ints, floats and null resolve; anything else stays text."""
        result = read(f"value: {text}\n")
        assert [] == messages(result)
        assert expected == result.data["value"]

    def test_quoted_scalars_are_text(self) -> None:
        """Quoted values are always text, whatever they look like."""
        result = read("a: '012'\nb: \"NO\"\nc: 'true'\nd: \"12:30\"\n")
        assert [] == messages(result)
        assert {"a": "012", "b": "NO", "c": "true", "d": "12:30"} == result.data

    def test_explicit_str_tag_keeps_text(self) -> None:
        """`!!str yes` is the text 'yes', no trap."""
        result = read("a: !!str yes\nb: !!int 12\nc: !!float 2\n")
        assert [] == messages(result)
        assert {"a": "yes", "b": 12, "c": 2.0} == result.data

    def test_block_scalar_is_text(self) -> None:
        """A literal block scalar is kept as text."""
        result = read("script: |\n  echo on\n  exit 0\n")
        assert {"script": "echo on\nexit 0\n"} == result.data


class TestYaml11Traps:
    """Values YAML 1.1 would coerce are reported and kept as written."""

    @pytest.mark.parametrize(
        "word", ["yes", "no", "NO", "No", "on", "off", "On", "OFF", "y", "n", "Y", "YES"]
    )
    def test_yaml11_booleans_are_refused(self, word: str) -> None:
        """yes/no/on/off/y/n in any case are reported with a hint to quote them."""
        result = read(f"site: {word}\n")
        expected = (
            f"p.yaml:1:7: site: YAML 1.1 reads {word} as a boolean; quote it ('{word}') if you "
            "meant text, or write true/false"
        )
        assert [expected] == messages(result)
        assert {"site": word} == result.data

    @pytest.mark.parametrize("text", ["012", "007", "-012", "09"])
    def test_leading_zero_ints_are_refused(self, text: str) -> None:
        """An int written with a leading zero is ambiguous (octal in YAML 1.1)."""
        result = read(f"num: {text}\n")
        assert 1 == len(result.issues)
        assert f"YAML 1.1 reads {text} as an octal number" in result.issues[0].message
        assert text == result.data["num"]

    @pytest.mark.parametrize(
        ("text", "kind"), [("0x1F", "a hexadecimal"), ("0o17", "an octal"), ("0b101", "a binary")]
    )
    def test_prefixed_numbers_are_refused(self, text: str, kind: str) -> None:
        """0x, 0o and 0b forms are refused: YAML versions disagree about them."""
        result = read(f"num: {text}\n")
        assert [f"YAML reads {text} as {kind} number"] == [
            issue.message.split(";")[0] for issue in result.issues
        ]
        assert text == result.data["num"]

    @pytest.mark.parametrize("text", ["1_000", "1_000.5", "-1_0"])
    def test_underscore_numbers_are_refused(self, text: str) -> None:
        """Numbers with '_' are numbers in YAML 1.1 and text in 1.2: refused."""
        result = read(f"num: {text}\n")
        assert 1 == len(result.issues)
        assert f"YAML 1.1 reads {text} as the number" in result.issues[0].message
        assert text == result.data["num"]

    @pytest.mark.parametrize("text", ["12:30", "5:07", "190:20:30", "1:2:3:4", "-1:30", "1:30.5"])
    def test_sexagesimal_numbers_are_refused(self, text: str) -> None:
        """Base-60 numbers that are not HH:MM:SS durations are refused (SPEC §2 names `12:30`)."""
        result = read(f"num: {text}\n")
        expected = (
            f"YAML 1.1 reads {text} as a base-60 number; quote it ('{text}') if you meant text"
        )
        assert [expected] == [issue.message for issue in result.issues]
        assert text == result.data["num"]

    @pytest.mark.parametrize("text", ["1:20:30", "99:99:99", "01:30:00"])
    def test_duration_like_values_stay_text(self, text: str) -> None:
        """HH:MM:SS is the duration form: kept as the text written, no issue."""
        result = read(f"timeout: {text}\n")
        assert [] == messages(result)
        assert {"timeout": text} == result.data

    @pytest.mark.parametrize(
        "text", ["2024-01-01", "2024-1-1 10:00:00", "2001-12-14t21:59:43.10-05:00"]
    )
    def test_timestamps_are_refused(self, text: str) -> None:
        """Dates and timestamps are refused with a hint to quote them."""
        result = read(f"since: {text}\n")
        assert 1 == len(result.issues)
        assert f"YAML 1.1 reads {text} as a date" in result.issues[0].message
        assert text == result.data["since"]

    def test_trap_in_a_key_is_reported(self) -> None:
        """A key like `on` is a trap too, reported at the key."""
        result = read("triggers:\n  on: push\n")
        assert [
            "p.yaml:2:3: triggers.on: YAML 1.1 reads on as a boolean; quote it ('on') if "
            "you meant text, or write true/false"
        ] == messages(result)
        assert {"triggers": {"on": "push"}} == result.data

    def test_every_trap_is_collected(self) -> None:
        """Reading does not stop at the first trap."""
        result = read("a: NO\nb: [012, 0x10, 1_0, 2024-01-01, 190:20:30]\n")
        assert ["a", "b[0]", "b[1]", "b[2]", "b[3]", "b[4]"] == [
            issue.location.key_path for issue in result.issues
        ]
        assert not result.fatal


class TestPositions:
    """Every key and value has its 1-based line and column recorded."""

    TEXT = (
        "version: 1\ntasks:\n  nightly:\n    before:\n      - run: [a, b]\n        timeout: 10m\n"
    )

    def test_value_and_key_positions(self) -> None:
        """A value's position and its key's position are both known."""
        result = read(self.TEXT)
        path = ("tasks", "nightly", "before", 0, "timeout")
        assert (6, 18) == result.positions[path]
        assert (6, 9) == result.key_positions[path]

    def test_list_element_positions(self) -> None:
        """List elements have value positions."""
        result = read(self.TEXT)
        assert (5, 18) == result.positions[("tasks", "nightly", "before", 0, "run", 1)]
        assert (5, 9) == result.positions[("tasks", "nightly", "before", 0)]

    def test_location_falls_back_to_the_nearest_parent(self) -> None:
        """A path that is not written (a missing key) is located at its nearest parent."""
        result = read(self.TEXT)
        location = result.location(("tasks", "nightly", "before", 0, "wait"))
        assert (6, 9) != (location.line, location.column)
        assert (5, 9) == (location.line, location.column)
        assert "tasks.nightly.before[0].wait" == location.key_path

    def test_location_prefers_the_key_when_asked(self) -> None:
        """prefer_key locates a mapping entry at its key."""
        result = read(self.TEXT)
        location = result.location(("tasks", "nightly"), prefer_key=True)
        assert (3, 3) == (location.line, location.column)

    def test_format_key_path(self) -> None:
        """Key paths print with dots and [index]; odd keys are quoted."""
        assert "tasks.nightly.before[0].timeout" == format_key_path(
            ("tasks", "nightly", "before", 0, "timeout")
        )
        assert 'groups["eu west"].file' == format_key_path(("groups", "eu west", "file"))
        assert "[2]" == format_key_path((2,))


class TestStructure:
    """Duplicate and non-text keys, syntax errors and the shape of the document."""

    def test_duplicate_key_names_both_lines(self) -> None:
        """A key written twice is reported with both lines; the first value counts."""
        result = read("a: 1\nb: 2\na: 3\n")
        assert [
            "p.yaml:3:1: a: duplicate key 'a': written at line 1 and again at line 3; keep one"
        ] == messages(result)
        assert {"a": 1, "b": 2} == result.data

    def test_non_text_keys_are_refused(self) -> None:
        """Numbers, booleans, null and lists are not valid keys."""
        result = read("1: a\ntrue: b\n~: c\n[x]: d\nok: e\n")
        assert [
            "p.yaml:1:1: 1: mapping keys must be text, got the number 1; quote it ('1')",
            "p.yaml:2:1: true: mapping keys must be text, got the boolean true; quote it ('true')",
            "p.yaml:3:1: [\"~\"]: mapping keys must be text, got nothing (null); quote it ('~')",
            "p.yaml:4:1: mapping keys must be text, got a list",
        ] == messages(result)
        assert {"ok": "e"} == result.data

    def test_syntax_error_says_what_was_expected(self) -> None:
        """A syntax error is located at the parser's mark and says what it expected."""
        result = read("a: [1, 2\nb: c\n")
        assert result.fatal
        assert 1 == len(result.issues)
        issue = result.issues[0]
        assert (2, 2) == (issue.location.line, issue.location.column)
        assert "YAML syntax error: did not find expected ',' or ']'" in issue.message

    @pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n"])
    def test_empty_file_is_an_error(self, text: str) -> None:
        """A file without content is reported as empty."""
        result = read(text)
        assert result.fatal
        assert ["the file is empty; a pipeline file needs at least 'version: 1'"] == [
            issue.message for issue in result.issues
        ]

    def test_two_documents_are_an_error(self) -> None:
        """A second document is reported where it starts."""
        result = read("version: 1\n---\nversion: 1\n")
        assert result.fatal
        assert 1 == len(result.issues)
        assert (2, 1) == (result.issues[0].location.line, result.issues[0].location.column)
        assert "exactly one YAML document" in result.issues[0].message

    @pytest.mark.parametrize(
        ("text", "kind"), [("- a\n", "a list"), ("hello\n", "text"), ("5\n", "the number 5")]
    )
    def test_top_level_must_be_a_mapping(self, text: str, kind: str) -> None:
        """A document that is not a mapping is refused."""
        result = read(text)
        assert result.fatal
        assert result.issues[0].message.endswith(f"got {kind}")


class TestTags:
    """Only the standard scalar and collection tags are allowed."""

    def test_python_tag_is_refused_and_never_runs(self, tmp_path: Path) -> None:
        """`!!python/object/apply:os.system` is reported and nothing is executed."""
        marker = tmp_path / "pwned"
        result = read(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
        assert [
            "p.yaml:1:4: x: tag !!python/object/apply:os.system not allowed; pipeline "
            "files hold plain text, numbers, true/false, lists and mappings only"
        ] == messages(result)
        assert not marker.exists()

    def test_custom_tag_is_refused(self) -> None:
        """A local tag like `!secret` is refused; the text is kept."""
        result = read("x: !secret abc\n")
        assert ["tag !secret not allowed"] == [i.message.split(";")[0] for i in result.issues]
        assert {"x": "abc"} == result.data

    @pytest.mark.parametrize("tag", ["!!binary", "!!timestamp", "!!set", "!!omap"])
    def test_other_standard_yaml11_tags_are_refused(self, tag: str) -> None:
        """Tags that build other types (binary, timestamps, sets) are refused."""
        result = read(f"x: {tag} abc\n")
        assert 1 == len(result.issues)
        assert "not allowed" in result.issues[0].message

    def test_invalid_tagged_value_is_reported(self) -> None:
        """`!!int abc` is not an int: reported, text kept."""
        result = read("x: !!int abc\n")
        assert ["'abc' is not a valid !!int; drop the tag and write the value plainly"] == [
            issue.message for issue in result.issues
        ]


class TestAliases:
    """Anchors and aliases work, within limits."""

    def test_alias_repeats_a_value(self) -> None:
        """An alias gives a copy of its anchor's value."""
        result = read("a: &x {k: v}\nb: *x\n")
        assert [] == messages(result)
        assert {"a": {"k": "v"}, "b": {"k": "v"}} == result.data

    def test_merge_key_merges_a_mapping(self) -> None:
        """`<<: *defaults` brings in keys not written explicitly."""
        result = read("d: &d {timeout: 1m, wait: completion}\nstep:\n  <<: *d\n  timeout: 2m\n")
        assert [] == messages(result)
        assert {"timeout": "2m", "wait": "completion"} == result.data["step"]
        assert (4, 3) == result.key_positions[("step", "timeout")]

    def test_merge_of_a_list_of_mappings_first_wins(self) -> None:
        """With several merged mappings, the first one given wins."""
        result = read("a: &a {k: 1}\nb: &b {k: 2, j: 3}\nc: {<<: [*a, *b]}\n")
        assert {"k": 1, "j": 3} == result.data["c"]

    def test_merge_of_a_scalar_is_refused(self) -> None:
        """A merge key needs mappings."""
        result = read("a: &a 5\nc: {<<: *a}\n")
        assert ["a merge key (<<) needs a mapping or a list of mappings"] == [
            issue.message for issue in result.issues
        ]

    def test_billion_laughs_is_refused(self) -> None:
        """Nested aliases multiplying values stop early with 'too many aliases'."""
        lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        names = "abcdefghij"
        for previous, name in itertools.pairwise(names):
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        result = read("\n".join(lines) + "\n")
        assert result.fatal
        assert {} == result.data
        assert result.issues[-1].message.startswith("too many aliases")

    def test_too_many_expanded_nodes_is_refused(self) -> None:
        """An anchor holding many values, used a few times, exceeds the expansion limit."""
        big = "[" + ", ".join(["x"] * (MAX_EXPANDED_NODES // 2)) + "]"
        result = read(f"a: &a {big}\nb: [*a, *a, *a]\n")
        assert result.fatal
        assert f"more than {MAX_EXPANDED_NODES} values" in result.issues[-1].message

    def test_alias_use_limit(self) -> None:
        """One anchor may be used at most MAX_ALIAS_USES times."""
        uses = ", ".join(["*a"] * (MAX_ALIAS_USES + 1))
        result = read(f"a: &a x\nb: [{uses}]\n")
        assert result.fatal
        assert f"*a is used more than {MAX_ALIAS_USES} times" in result.issues[-1].message
        fine = read("a: &a x\nb: [" + ", ".join(["*a"] * MAX_ALIAS_USES) + "]\n")
        assert [] == messages(fine)

    def test_recursive_alias_is_refused(self) -> None:
        """An alias inside its own anchor is refused (no infinite data)."""
        result = read("a: &a [*a]\n")
        assert result.fatal
        assert "used inside its own anchor" in result.issues[0].message

    def test_undefined_alias_is_refused(self) -> None:
        """An alias to an anchor never defined is reported."""
        result = read("a: *nowhere\n")
        expected = "the alias *nowhere refers to no anchor defined before it; define &nowhere first"
        assert [expected] == [issue.message for issue in result.issues]

    def test_deep_nesting_is_refused(self) -> None:
        """Nesting deeper than MAX_DEPTH, but within the parser's own limit, gets our message."""
        depth = MAX_DEPTH * 5
        result = read("a: " + "[" * depth + "]" * depth + "\n")
        assert result.fatal
        assert f"nested more than {MAX_DEPTH} levels" in result.issues[0].message

    def test_very_deep_nesting_is_refused_and_located(self) -> None:
        """Far deeper nesting is refused with a located issue, never a crash.

        Whether our depth check or the YAML parser's own limit speaks first depends on
        the parser's version, so only the behaviour is asserted: fatal, on line 1, one issue.
        """
        depth = 20_000
        result = read("a: " + "[" * depth + "]" * depth + "\n")
        assert result.fatal
        assert 1 == len(result.issues)
        assert 1 == result.issues[0].location.line
        assert result.issues[0].message

    def test_nesting_at_the_limit_is_fine(self) -> None:
        """MAX_DEPTH levels (the top mapping included) are accepted."""
        inner = MAX_DEPTH - 1
        result = read("a: " + "[" * inner + "]" * inner + "\n")
        assert [] == messages(result)

    def test_deep_nesting_through_aliases_is_refused(self) -> None:
        """Aliases cannot be used to nest deeper than MAX_DEPTH."""
        half = MAX_DEPTH // 2 + 5
        text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
        result = read(text)
        assert result.fatal
        assert "too deep" in result.issues[-1].message


class TestFiles:
    """Reading from disk: size, encoding, missing files."""

    def test_reads_a_file(self, tmp_path: Path) -> None:
        """A file is read and its path kept as given."""
        path = tmp_path / "p.yaml"
        path.write_text("version: 1\n", encoding="utf-8")
        result = read_yaml_file(path)
        assert path == result.path
        assert {"version": 1} == result.data

    def test_byte_order_mark_is_accepted(self, tmp_path: Path) -> None:
        """A UTF-8 BOM does not disturb reading."""
        path = tmp_path / "p.yaml"
        path.write_bytes(b"\xef\xbb\xbfversion: 1\n")
        assert {"version": 1} == read_yaml_file(path).data

    def test_too_large_file_is_refused_without_reading(self, tmp_path: Path) -> None:
        """A file over the size limit is refused."""
        path = tmp_path / "big.yaml"
        with path.open("wb") as handle:
            handle.truncate(MAX_FILE_BYTES + 1)
        result = read_yaml_file(path)
        assert result.fatal
        assert "MB; pipeline files may be at most 50 MB" in result.issues[0].message

    def test_not_utf8_is_refused(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are reported with their line and column."""
        path = tmp_path / "p.yaml"
        path.write_bytes(b"version: 1\nname: caf\xe9\n")
        result = read_yaml_file(path)
        assert result.fatal
        issue = result.issues[0]
        assert (2, 10) == (issue.location.line, issue.location.column)
        assert "not UTF-8" in issue.message

    def test_control_character_is_refused(self) -> None:
        """Characters YAML forbids are reported."""
        result = read("a: b\x01\n")
        assert result.fatal
        assert "character YAML does not allow" in result.issues[0].message

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is an issue, not an exception."""
        result = read_yaml_file(tmp_path / "nope.yaml")
        assert result.fatal
        assert result.issues[0].message.startswith("cannot read the file")

    def test_the_safe_loader_is_the_c_one_when_available(self) -> None:
        """The C safe loader is used when PyYAML has it."""
        import yaml

        expected = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        assert expected is yamlread._Loader
