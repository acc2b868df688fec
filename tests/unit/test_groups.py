"""Tests of runner.groups: resolving groups from members, files, commands, include and exclude."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from runner.config.groups import Group
from runner.config.pipeline import Pipeline
from runner.config.settings import Settings
from runner.errors import GroupResolutionError, Location
from runner.groups import Item, resolve_group

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "groups"


def make_pipeline(root: Path, groups: Mapping[str, Mapping[str, object] | Group]) -> Pipeline:
    """A pipeline at ``root`` holding only ``groups`` (defined in pipeline.yaml, one a line)."""
    models = {
        name: spec if isinstance(spec, Group) else Group.model_validate(spec)
        for name, spec in groups.items()
    }
    origins = {
        ("groups", name): Location(file=root / "pipeline.yaml", line=line, column=3)
        for line, name in enumerate(models, 3)
    }
    return Pipeline(
        root=root,
        files=(root / "pipeline.yaml",),
        settings=Settings(),
        schedules={},
        groups=models,
        definitions={},
        policies={},
        tasks={},
        origins=origins,
    )


def resolve(root: Path, name: str = "g", **spec: object) -> list[Item]:
    """Resolve a single group ``name`` defined by ``spec``."""
    return resolve_group(make_pipeline(root, {name: spec}), name)


def ids(items: list[Item]) -> list[str]:
    """The ids of ``items``, in order."""
    return [item.id for item in items]


def write(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` (creating parents) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def script(path: Path, body: str) -> Path:
    """An executable Python script at ``path`` running ``body``."""
    write(path, f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def failure(root: Path, name: str = "g", **spec: object) -> str:
    """The message of the GroupResolutionError resolving ``spec`` raises."""
    with pytest.raises(GroupResolutionError) as caught:
        resolve(root, name, **spec)
    return str(caught.value)


class TestInlineMembers:
    """members: a ';'-separated string or a list."""

    def test_semicolon_string_is_split_and_stripped(self, tmp_path: Path) -> None:
        """Pieces are stripped and empty pieces skipped."""
        items = resolve(tmp_path, members=" alice@example.com ;bob@example.com;; ;carol ")
        expected = ["alice@example.com", "bob@example.com", "carol"]
        assert expected == ids(items)

    def test_list_of_ids_and_members_with_attributes(self, tmp_path: Path) -> None:
        """A list mixes plain ids and {id, attributes} mappings."""
        items = resolve(
            tmp_path, members=["carol@example.com", {"id": "dave@example.com", "server": "ex02"}]
        )
        expected = [
            Item("carol@example.com", {}),
            Item("dave@example.com", {"server": "ex02"}),
        ]
        assert expected == items

    def test_duplicate_id_names_both_entries(self, tmp_path: Path) -> None:
        """A repeated id in one members string names both entries, even without the model check."""
        group = Group.model_construct(members="a; b; a")
        with pytest.raises(GroupResolutionError) as caught:
            resolve_group(make_pipeline(tmp_path, {"g": group}), "g")
        message = str(caught.value)
        assert "'a' appears twice" in message
        assert "entry 1 of the ';'-separated list" in message
        assert "entry 3 of the ';'-separated list" in message


class TestTxtFiles:
    """file: *.txt, one id a line."""

    def test_ids_one_a_line(self, tmp_path: Path) -> None:
        """Blank lines and '#' comments are skipped; ids are stripped, CRLF included."""
        write(tmp_path / "ids.txt", "# header\r\nalpha\r\n\r\n  beta  \r\n#gamma\r\ndelta")
        expected = ["alpha", "beta", "delta"]
        assert expected == ids(resolve(tmp_path, file="ids.txt"))

    def test_fixture_file(self) -> None:
        """The checked-in hosts.txt resolves to its three hosts."""
        expected = ["db01.example.internal", "db02.example.internal", "web01.example.internal"]
        assert expected == ids(resolve(FIXTURES, file="hosts.txt"))

    def test_byte_order_mark_is_ignored(self, tmp_path: Path) -> None:
        """A UTF-8 byte order mark is not part of the first id."""
        write(tmp_path / "ids.txt", "\ufeffalpha\nbeta\n")
        expected = ["alpha", "beta"]
        assert expected == ids(resolve(tmp_path, file="ids.txt"))

    def test_duplicate_names_both_lines(self, tmp_path: Path) -> None:
        """A repeated id names the file and both line numbers."""
        path = write(tmp_path / "ids.txt", "alpha\nbeta\n\nalpha\n")
        message = failure(tmp_path, file="ids.txt")
        assert f"'alpha' appears twice: {path}:1 and {path}:4" in message

    def test_nul_in_id_names_the_line(self, tmp_path: Path) -> None:
        """An id with a NUL byte is an error naming file and line."""
        path = write(tmp_path / "ids.txt", "alpha\nbe\x00ta\n")
        message = failure(tmp_path, file="ids.txt")
        assert f"{path}:2: id 'be\\x00ta', which contains a NUL, CR or LF" in message

    def test_message_names_the_group_and_where_it_is_defined(self, tmp_path: Path) -> None:
        """Errors start with the group's name and the place it was defined."""
        write(tmp_path / "ids.txt", "a\na\n")
        message = failure(tmp_path, "hosts", file="ids.txt")
        assert message.startswith(f"group 'hosts' ({tmp_path / 'pipeline.yaml'}:3:3): ")


class TestCsvFiles:
    """file: *.csv with an `id` column."""

    def test_columns_become_attributes(self) -> None:
        """Every column but id is an attribute; empty cells are left out."""
        items = resolve(FIXTURES, file="archives.csv")
        expected = [
            Item("archive-2019", {"server": "ex01", "owner": "alice@example.com"}),
            Item(
                "archive-2020",
                {"server": "ex01", "owner": "bob@example.com", "note": "moved, then restored"},
            ),
            Item("archive-2021", {"server": "ex02"}),
            Item("archive-2022", {"server": "ex02", "owner": "carol@example.com"}),
        ]
        assert expected == items

    def test_id_column_anywhere(self, tmp_path: Path) -> None:
        """The id column need not come first; ids are stripped."""
        write(tmp_path / "g.csv", "server,id\nex01, a \nex02,b\n")
        expected = [Item("a", {"server": "ex01"}), Item("b", {"server": "ex02"})]
        assert expected == resolve(tmp_path, file="g.csv")

    def test_rows_of_empty_cells_are_skipped(self, tmp_path: Path) -> None:
        """Rows with nothing in them (a spreadsheet's trailing ',,') are skipped."""
        write(tmp_path / "g.csv", "id,server\r\na,ex01\r\n,\r\n\r\nb,\r\n")
        expected = ["a", "b"]
        assert expected == ids(resolve(tmp_path, file="g.csv"))

    def test_missing_id_column(self, tmp_path: Path) -> None:
        """A header without an id column is an error listing the columns."""
        path = write(tmp_path / "g.csv", "ID,server\na,ex01\n")
        message = failure(tmp_path, file="g.csv")
        assert f"{path}:1: the header has no 'id' column (is 'ID' meant to be 'id'?)" in message
        assert "columns found: ID, server" in message

    def test_duplicate_names_both_lines(self, tmp_path: Path) -> None:
        """A repeated id names both rows' line numbers, counting multi-line cells."""
        path = write(tmp_path / "g.csv", 'id,note\na,"two\nlines"\nb,\na,\n')
        message = failure(tmp_path, file="g.csv")
        assert f"'a' appears twice: {path}:2 and {path}:5" in message

    def test_empty_id_cell(self, tmp_path: Path) -> None:
        """A row with attributes but no id is an error naming the line."""
        path = write(tmp_path / "g.csv", "id,server\na,ex01\n,ex02\n")
        assert f"{path}:3: an empty id" in failure(tmp_path, file="g.csv")

    def test_too_many_cells(self, tmp_path: Path) -> None:
        """A row with more cells than the header is an error naming the line."""
        path = write(tmp_path / "g.csv", "id,server\na,ex01,extra\n")
        message = failure(tmp_path, file="g.csv")
        assert f"{path}:2: 3 cells but the header names 2 columns" in message

    def test_trailing_empty_cells_are_fine(self, tmp_path: Path) -> None:
        """Extra empty cells at the end of a row are ignored."""
        write(tmp_path / "g.csv", "id,server\na,ex01,,\n")
        expected = [Item("a", {"server": "ex01"})]
        assert expected == resolve(tmp_path, file="g.csv")

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty csv file has no header, which is an error."""
        path = write(tmp_path / "g.csv", "")
        assert f"{path} is empty" in failure(tmp_path, file="g.csv")

    def test_duplicate_column(self, tmp_path: Path) -> None:
        """A column named twice in the header is an error."""
        write(tmp_path / "g.csv", "id,server,server\na,b,c\n")
        assert "column 'server' is named twice" in failure(tmp_path, file="g.csv")

    def test_unnamed_column(self, tmp_path: Path) -> None:
        """A column without a name in the header is an error."""
        write(tmp_path / "g.csv", "id,,server\na,b,c\n")
        assert "column 2 of the header has no name" in failure(tmp_path, file="g.csv")


class TestJsonlFiles:
    """file: *.jsonl, one object a line."""

    def test_objects_with_attributes(self) -> None:
        """Each object's id is the item id; other keys are attributes; blank lines skipped."""
        expected = [
            Item("alice@example.com", {"server": "ex01"}),
            Item("bob@example.com", {"server": "ex02", "language": "de"}),
            Item("carol@example.com", {}),
        ]
        assert expected == resolve(FIXTURES, file="mailboxes.jsonl")

    def test_non_string_attribute(self, tmp_path: Path) -> None:
        """A number as an attribute value is an error naming file, line and key."""
        path = write(tmp_path / "g.jsonl", '{"id": "a"}\n{"id": "b", "port": 25}\n')
        message = failure(tmp_path, file="g.jsonl")
        assert f"{path}:2: attribute 'port' is 25, not a string" in message

    def test_missing_id(self, tmp_path: Path) -> None:
        """An object without an id is an error naming the line."""
        path = write(tmp_path / "g.jsonl", '{"name": "a"}\n')
        assert f'{path}:1: the object has no "id"' in failure(tmp_path, file="g.jsonl")

    def test_non_string_id(self, tmp_path: Path) -> None:
        """A numeric id is an error: ids are strings."""
        path = write(tmp_path / "g.jsonl", '{"id": 7}\n')
        expected = f'{path}:1: the object has an "id" that is not a string'
        assert expected in failure(tmp_path, file="g.jsonl")

    def test_not_an_object(self, tmp_path: Path) -> None:
        """A JSON line that is not an object is an error."""
        path = write(tmp_path / "g.jsonl", '["a"]\n')
        message = failure(tmp_path, file="g.jsonl")
        assert f'{path}:1: expected a JSON object with an "id", got list' in message

    def test_invalid_json(self, tmp_path: Path) -> None:
        """A line that is not JSON is an error naming line and column."""
        path = write(tmp_path / "g.jsonl", '{"id": "a"}\n{"id": "b",}\n')
        assert f"{path}:2: not valid JSON" in failure(tmp_path, file="g.jsonl")

    def test_id_with_line_break(self, tmp_path: Path) -> None:
        """An id containing an escaped line break is an error."""
        path = write(tmp_path / "g.jsonl", '{"id": "a\\nb"}\n')
        assert f"{path}:1: id 'a\\nb', which contains" in failure(tmp_path, file="g.jsonl")

    def test_empty_id(self, tmp_path: Path) -> None:
        """An empty id is an error."""
        path = write(tmp_path / "g.jsonl", '{"id": ""}\n')
        assert f"{path}:1: an empty id" in failure(tmp_path, file="g.jsonl")


class TestFileErrors:
    """Files that cannot be read."""

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is an error naming the path and the fix."""
        message = failure(tmp_path, file="data/missing.csv")
        assert "cannot read file data/missing.csv" in message
        assert "No such file or directory" in message
        assert "fix the group's `file:` path" in message

    def test_not_utf8_names_the_line(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are an error naming the line, even deep in the file."""
        lines = b"".join(b"id-%d\n" % n for n in range(5000)) + b"caf\xe9\n"
        path = write(tmp_path / "g.txt", lines)
        assert f"{path}:5001: not valid UTF-8" in failure(tmp_path, file="g.txt")

    def test_directory_instead_of_file(self, tmp_path: Path) -> None:
        """A directory where the file should be is an error."""
        (tmp_path / "g.txt").mkdir()
        assert "cannot read file g.txt" in failure(tmp_path, file="g.txt")


class TestCommands:
    """command: a resolver printing JSON lines or ids."""

    def test_json_lines_and_plain_ids(self, tmp_path: Path) -> None:
        """A relative program runs in the pipeline root; '{' lines are JSON, others ids."""
        script(
            tmp_path / "scripts" / "resolve",
            """
            import sys
            print('{"id": "alice@example.com", "server": "ex01"}')
            print("bob@example.com")
            print("")
            print("  " + sys.argv[1] + "  ")
            """,
        )
        items = resolve(tmp_path, command=["./scripts/resolve", "CN=x,DC=y"])
        expected = [
            Item("alice@example.com", {"server": "ex01"}),
            Item("bob@example.com", {}),
            Item("CN=x,DC=y", {}),
        ]
        assert expected == items

    def test_environment_is_passed(self, tmp_path: Path) -> None:
        """The resolver sees the environment given to resolve_group."""
        script(tmp_path / "resolve", "import os\nprint(os.environ['RESOLVER_OU'])\n")
        pipeline = make_pipeline(tmp_path, {"g": {"command": ["./resolve"]}})
        items = resolve_group(pipeline, "g", env={"RESOLVER_OU": "sales", "PATH": "/usr/bin"})
        expected = ["sales"]
        assert expected == ids(items)

    def test_non_zero_exit(self, tmp_path: Path) -> None:
        """A failing resolver is an error with its exit code and its last stderr lines."""
        script(
            tmp_path / "resolve",
            """
            import sys
            print("alice")
            for n in range(30):
                print(f"noise {n}", file=sys.stderr)
            print("directory unreachable", file=sys.stderr)
            sys.exit(3)
            """,
        )
        message = failure(tmp_path, command=["./resolve"])
        assert "resolver command `./resolve` exited with code 3" in message
        assert "directory unreachable" in message
        assert "noise 29" in message
        assert "noise 0\n" not in message

    def test_timeout(self, tmp_path: Path) -> None:
        """A resolver running past the group's timeout is an error saying so."""
        script(tmp_path / "resolve", "import time\nprint('alice', flush=True)\ntime.sleep(60)\n")
        message = failure(tmp_path, command=["./resolve"], timeout="1s")
        assert "did not finish within its timeout of 1s" in message

    def test_start_failure(self, tmp_path: Path) -> None:
        """A resolver that cannot start is an error saying what to check."""
        message = failure(tmp_path, command=["./no-such-resolver"])
        assert "resolver command `./no-such-resolver` could not start" in message
        assert "check the program path" in message

    def test_killed_by_a_signal(self, tmp_path: Path) -> None:
        """A resolver killed by a signal is an error naming the signal."""
        script(tmp_path / "resolve", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        message = failure(tmp_path, command=["./resolve"])
        assert "resolver command `./resolve` was killed by signal 9" in message
        assert "(stderr was empty)" in message

    def test_too_much_output(self, tmp_path: Path) -> None:
        """A resolver printing more than the output limit is an error, never a silent cut."""
        script(
            tmp_path / "resolve",
            """
            import sys
            line = b"x" * 1023 + b"\\n"
            for _ in range(17 * 1024):
                sys.stdout.buffer.write(line)
            """,
        )
        message = failure(tmp_path, command=["./resolve"])
        assert "resolver command `./resolve` printed more than 16 MiB" in message

    def test_arguments_with_spaces_are_quoted_in_messages(self, tmp_path: Path) -> None:
        """The command in an error message is shown as a shell would need it."""
        script(tmp_path / "resolve", "import sys\nsys.exit(2)\n")
        message = failure(tmp_path, command=["./resolve", "CN=Domain Users"])
        assert "resolver command `./resolve 'CN=Domain Users'` exited with code 2" in message

    def test_duplicate_names_both_lines(self, tmp_path: Path) -> None:
        """A repeated id in the output names both output lines."""
        script(tmp_path / "resolve", "print('a')\nprint('b')\nprint('{\"id\": \"a\"}')\n")
        message = failure(tmp_path, command=["./resolve"])
        expected = "'a' appears twice: line 1 of the output of `./resolve` and line 3"
        assert expected in message

    def test_invalid_json_line(self, tmp_path: Path) -> None:
        """A '{' line that is not JSON is an error naming the output line."""
        script(tmp_path / "resolve", "print('a')\nprint('{id: b}')\n")
        message = failure(tmp_path, command=["./resolve"])
        assert "line 2 of the output of `./resolve`: not valid JSON" in message

    def test_output_not_utf8(self, tmp_path: Path) -> None:
        """Output that is not UTF-8 is an error naming the line."""
        script(
            tmp_path / "resolve",
            "import sys\nsys.stdout.buffer.write(b'a\\nb\\ncaf\\xe9\\n')\n",
        )
        message = failure(tmp_path, command=["./resolve"])
        assert "line 3 of the output of `./resolve` is not valid UTF-8" in message


class TestIncludeExclude:
    """include and exclude."""

    def test_includes_first_then_own_sources(self, tmp_path: Path) -> None:
        """Included groups come first, in order, then the group's own members."""
        pipeline = make_pipeline(
            tmp_path,
            {
                "sales": {"members": "alice; bob"},
                "finance": {"members": [{"id": "carol", "server": "ex02"}]},
                "everyone": {"include": ["sales", "finance"], "members": "zed"},
            },
        )
        expected = [
            Item("alice", {}),
            Item("bob", {}),
            Item("carol", {"server": "ex02"}),
            Item("zed", {}),
        ]
        assert expected == resolve_group(pipeline, "everyone")

    def test_first_occurrence_wins(self, tmp_path: Path) -> None:
        """An id found in several sources keeps the attributes of its first occurrence."""
        write(tmp_path / "g.csv", "id,server\nalice,from-file\nbob,from-file\n")
        pipeline = make_pipeline(
            tmp_path,
            {
                "a": {"members": [{"id": "alice", "server": "from-a"}]},
                "g": {
                    "include": ["a"],
                    "members": [{"id": "bob", "server": "inline"}],
                    "file": "g.csv",
                },
            },
        )
        expected = [Item("alice", {"server": "from-a"}), Item("bob", {"server": "inline"})]
        assert expected == resolve_group(pipeline, "g")

    def test_nested_includes(self, tmp_path: Path) -> None:
        """Includes are followed recursively."""
        pipeline = make_pipeline(
            tmp_path,
            {
                "leaf": {"members": "x; y"},
                "middle": {"include": ["leaf"], "members": "m"},
                "top": {"include": ["middle"]},
            },
        )
        expected = ["x", "y", "m"]
        assert expected == ids(resolve_group(pipeline, "top"))

    def test_exclude_drops_ids_at_the_end(self, tmp_path: Path) -> None:
        """exclude removes ids from included groups and own sources alike."""
        pipeline = make_pipeline(
            tmp_path,
            {
                "sales": {"members": "alice; ceo; bob"},
                "everyone": {
                    "include": ["sales"],
                    "members": "carol; cfo",
                    "exclude": ["ceo", "cfo"],
                },
            },
        )
        expected = ["alice", "bob", "carol"]
        assert expected == ids(resolve_group(pipeline, "everyone"))

    def test_included_group_keeps_its_own_excludes(self, tmp_path: Path) -> None:
        """An included group's exclude applies to it; resolving it alone is unchanged afterwards."""
        pipeline = make_pipeline(
            tmp_path,
            {
                "base": {"members": "a; b; c", "exclude": ["b"]},
                "top": {"include": ["base"], "members": "d", "exclude": ["a"]},
            },
        )
        expected = ["c", "d"]
        assert expected == ids(resolve_group(pipeline, "top"))
        expected = ["a", "c"]
        assert expected == ids(resolve_group(pipeline, "base"))

    def test_diamond_runs_a_resolver_once(self, tmp_path: Path) -> None:
        """A command group included twice is resolved once per resolution."""
        counter = tmp_path / "runs.log"
        script(
            tmp_path / "resolve",
            f"with open({str(counter)!r}, 'a') as f:\n    f.write('run\\n')\nprint('shared')\n",
        )
        pipeline = make_pipeline(
            tmp_path,
            {
                "ad": {"command": ["./resolve"]},
                "left": {"include": ["ad"], "members": "l"},
                "right": {"include": ["ad"], "members": "r"},
                "top": {"include": ["left", "right"]},
            },
        )
        expected = ["shared", "l", "r"]
        assert expected == ids(resolve_group(pipeline, "top"))
        expected = ["run"]
        assert expected == counter.read_text().splitlines()

    def test_include_cycle(self, tmp_path: Path) -> None:
        """Groups that include each other are an error showing the cycle."""
        pipeline = make_pipeline(
            tmp_path,
            {"a": {"include": ["b"]}, "b": {"include": ["c"]}, "c": {"include": ["a"]}},
        )
        with pytest.raises(GroupResolutionError) as caught:
            resolve_group(pipeline, "a")
        assert "cycle: a -> b -> c -> a" in str(caught.value)

    def test_unknown_group_gets_a_suggestion(self, tmp_path: Path) -> None:
        """An unknown group name is an error naming the nearest defined group."""
        pipeline = make_pipeline(tmp_path, {"sales": {"members": "a"}})
        with pytest.raises(GroupResolutionError) as caught:
            resolve_group(pipeline, "slaes")
        assert "unknown group 'slaes'; did you mean 'sales'?" in str(caught.value)

    def test_unknown_included_group_names_the_includer(self, tmp_path: Path) -> None:
        """An include of an unknown group says which group included it."""
        pipeline = make_pipeline(tmp_path, {"top": {"include": ["nope"]}})
        with pytest.raises(GroupResolutionError) as caught:
            resolve_group(pipeline, "top")
        assert "unknown group 'nope' (included by group 'top')" in str(caught.value)

    def test_duplicates_across_sources_are_not_errors(self, tmp_path: Path) -> None:
        """The same id in members and in the file is kept once, not reported."""
        write(tmp_path / "g.txt", "a\nb\n")
        expected = ["b", "a"]
        assert expected == ids(resolve(tmp_path, members="b; a", file="g.txt"))


class TestLargeGroups:
    """Groups of 100,000 members."""

    def test_hundred_thousand_line_txt(self, tmp_path: Path) -> None:
        """A 100,000-line id file resolves to 100,000 items in file order."""
        write(
            tmp_path / "big.txt", "".join(f"mailbox-{n:06d}@example.com\n" for n in range(100_000))
        )
        items = resolve(tmp_path, file="big.txt")
        expected = ["mailbox-000000@example.com", "mailbox-099999@example.com"]
        assert (100_000, expected) == (len(items), [items[0].id, items[-1].id])

    def test_hundred_thousand_row_csv(self, tmp_path: Path) -> None:
        """A 100,000-row csv resolves with every row's attributes."""
        rows = "".join(f"box-{n},ex{n % 7:02d}\n" for n in range(100_000))
        write(tmp_path / "big.csv", "id,server\n" + rows)
        items = resolve(tmp_path, file="big.csv")
        expected = 100_000
        assert expected == len(items)
        assert Item("box-99999", {"server": f"ex{99_999 % 7:02d}"}) == items[-1]

    def test_hundred_thousand_line_command(self, tmp_path: Path) -> None:
        """A resolver printing 100,000 JSON lines resolves completely."""
        script(
            tmp_path / "resolve",
            """
            import json, sys
            out = sys.stdout
            for n in range(100_000):
                out.write(json.dumps({"id": f"u{n}", "ou": "sales"}) + "\\n")
            """,
        )
        items = resolve(tmp_path, command=["./resolve"])
        expected = 100_000
        assert expected == len(items)
        assert Item("u99999", {"ou": "sales"}) == items[-1]
