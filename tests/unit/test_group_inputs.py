"""Hostile resolver output and member files: byte-order marks, invisible characters at the
edges of ids, endless output, an unclosed CSV quote."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runner.config.groups import Group
from runner.domain.membership import shrink_refusal
from runner.process import run_capture
from tests.unit.test_groups import failure, ids, resolve, script, write


class TestResolverEncoding:
    """Resolver output is decoded like member files (`utf-8-sig`)."""

    def test_byte_order_mark_is_dropped(self, tmp_path: Path) -> None:
        """A resolver printing a byte-order mark first yields `alice`, not `\\ufeffalice`."""
        script(
            tmp_path / "resolve",
            "import sys\nsys.stdout.buffer.write(b'\\xef\\xbb\\xbfalice\\nbob\\n')\n",
        )
        assert ids(resolve(tmp_path, command=["./resolve"])) == ["alice", "bob"]

    def test_byte_order_mark_before_json(self, tmp_path: Path) -> None:
        """A marked first line that is a JSON object is still read as JSON."""
        body = 'import sys\nsys.stdout.buffer.write(b\'\\xef\\xbb\\xbf{"id": "alice", "s": "x"}\\n\')\n'
        script(tmp_path / "resolve", body)
        items = resolve(tmp_path, command=["./resolve"])
        assert [(i.id, dict(i.attributes)) for i in items] == [("alice", {"s": "x"})]

    def test_mark_starting_a_later_line_is_dropped(self, tmp_path: Path) -> None:
        """Two concatenated outputs, each with its mark: both marks are encoding artefacts."""
        body = "import sys\nsys.stdout.buffer.write(b'\\xef\\xbb\\xbfa\\n\\xef\\xbb\\xbfb\\n')\n"
        script(tmp_path / "resolve", body)
        assert ids(resolve(tmp_path, command=["./resolve"])) == ["a", "b"]

    def test_undecodable_line_is_counted_after_the_mark(self, tmp_path: Path) -> None:
        """The line named for bad UTF-8 is right when the output starts with a mark."""
        body = "import sys\nsys.stdout.buffer.write(b'\\xef\\xbb\\xbfa\\nb\\n\\xff\\n')\n"
        script(tmp_path / "resolve", body)
        assert "line 3 of the output" in failure(tmp_path, command=["./resolve"])

    @pytest.mark.parametrize(
        ("char", "name"),
        [
            ("\u200b", "ZERO WIDTH SPACE"),
            ("\u2060", "WORD JOINER"),
            ("\u200e", "LEFT-TO-RIGHT MARK"),
            ("\u00ad", "SOFT HYPHEN"),
        ],
    )
    def test_invisible_character_at_the_start_of_an_id(
        self, tmp_path: Path, char: str, name: str
    ) -> None:
        """An invisible format character starting an id is refused, naming it and the line."""
        body = f"print('bob')\nprint({char + 'alice'!r})\n"
        script(tmp_path / "resolve", body)
        message = failure(tmp_path, command=["./resolve"])
        assert f"line 2 of the output of `./resolve`: id {char + 'alice'!r} starts with" in message
        assert f"U+{ord(char):04X} ({name})" in message

    def test_invisible_character_at_the_end_of_an_id_in_a_file(self, tmp_path: Path) -> None:
        """Member files get the same check (a zero-width space pasted after an id)."""
        write(tmp_path / "m.txt", "alice\u200b\nbob\n")
        message = failure(tmp_path, file="m.txt")
        assert "m.txt:1: id 'alice\\u200b' ends with the invisible character U+200B" in message

    def test_invisible_character_inside_an_id_is_kept(self, tmp_path: Path) -> None:
        """Inside an id (an emoji sequence joined by ZWJ) the character is part of the id."""
        family = "\U0001f468\u200d\U0001f469"
        write(tmp_path / "m.txt", f"{family}\n")
        assert ids(resolve(tmp_path, file="m.txt")) == [family]


class TestResolverOutputLimit:
    def test_endless_output_is_stopped_at_the_limit(self, tmp_path: Path) -> None:
        """A resolver printing without end is stopped when it passes the limit and reported as
        such, not as a timeout after the whole timeout."""
        script(
            tmp_path / "resolve",
            """
            import sys
            line = b"x" * 1023 + b"\\n"
            while True:
                sys.stdout.buffer.write(line)
            """,
        )
        message = failure(tmp_path, command=["./resolve"], timeout="2m")
        assert "printed more than 16 MiB and was stopped" in message
        assert "timeout" not in message

    def test_capture_ends_as_overflowed(self, tmp_path: Path) -> None:
        """run_capture stops a child passing its limit at once: outcome `overflowed`."""
        result = run_capture(
            ["yes"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=120, limit=1024
        )
        assert result.outcome == "overflowed"
        assert result.stdout_truncated and len(result.stdout) == 1024


class TestCsvQuoting:
    def test_unclosed_quote_on_the_last_line(self, tmp_path: Path) -> None:
        """An unclosed quote on the last line is an error, not an id holding the rest."""
        write(tmp_path / "m.csv", 'id,server\nalice,ex01\n"bob,ex02\n')
        message = failure(tmp_path, file="m.csv")
        assert "m.csv:" in message and "not valid CSV" in message
        assert "fix the quoting" in message

    def test_unclosed_quote_without_a_final_newline(self, tmp_path: Path) -> None:
        write(tmp_path / "m.csv", 'id,server\nalice,ex01\nbob,"ex02')
        assert "not valid CSV" in failure(tmp_path, file="m.csv")

    def test_quoted_cells_still_read(self, tmp_path: Path) -> None:
        write(tmp_path / "m.csv", 'id,note\nalice,"a, b"\n"bob","say ""hi"""\n')
        items = resolve(tmp_path, file="m.csv")
        assert [(i.id, dict(i.attributes)) for i in items] == [
            ("alice", {"note": "a, b"}),
            ("bob", {"note": 'say "hi"'}),
        ]


class TestShrinkGuard:
    """The rule (runner.domain.membership) and the keys that set it."""

    @pytest.mark.parametrize(
        ("current", "resolved", "staying", "refused"),
        [
            (0, 0, 0, False),  # a first resolution drops nothing
            (4, 0, 0, True),  # empty output
            (4, 2, 2, False),  # exactly 50% dropped
            (4, 1, 1, True),  # 75% dropped
            (4, 10, 1, True),  # many joined, but 3 of 4 left: a different directory
            (1, 0, 0, True),
        ],
    )
    def test_default_share(self, current: int, resolved: int, staying: int, refused: bool) -> None:
        refusal = shrink_refusal(current, resolved, staying, min_members=0, max_drop=0.5)
        assert (refusal is not None) is refused

    def test_min_members_and_the_reason(self) -> None:
        refusal = shrink_refusal(0, 2, 0, min_members=3, max_drop=1.0)
        assert refusal is not None
        assert "it gave 2 members, fewer than min_members (3)" == refusal.reason
        drop = shrink_refusal(10, 2, 2, min_members=0, max_drop=0.25)
        assert drop is not None
        assert "drop 8 of the 10 current members (80%), more than max_drop (25%)" in drop.reason

    def test_no_limit(self) -> None:
        assert shrink_refusal(5, 0, 0, min_members=0, max_drop=1.0) is None

    @pytest.mark.parametrize("value", ["50", "101%", "-1%", "50 %", "0.5", ""])
    def test_max_drop_must_be_a_percentage(self, value: str) -> None:
        with pytest.raises(ValidationError, match="not a percentage from 0% to 100%"):
            Group.model_validate({"members": "a", "max_drop": value})

    def test_max_drop_share(self) -> None:
        assert 0.3 == Group.model_validate({"members": "a", "max_drop": "30%"}).max_drop_share
        assert 0.5 == Group.model_validate({"members": "a"}).max_drop_share
