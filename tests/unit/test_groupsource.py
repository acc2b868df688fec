"""The fingerprint of a group's sources: what changes it, and what has none."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runner.groupsource import source_fingerprint
from tests.unit.test_groups import make_pipeline, write


def _old(path: Path, age_s: float = 3600) -> Path:
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


def test_the_same_sources_give_the_same_fingerprint(tmp_path: Path) -> None:
    _old(write(tmp_path / "a.txt", "x\ny\n"))
    pipeline = make_pipeline(tmp_path, {"g": {"file": "a.txt", "exclude": ["y"]}})
    first = source_fingerprint(pipeline, "g", ("g",))
    assert first is not None
    assert source_fingerprint(pipeline, "g", ("g",)) == first


def test_a_file_rewritten_with_the_same_size_and_time_but_a_new_inode_changes_it(
    tmp_path: Path,
) -> None:
    path = _old(write(tmp_path / "a.txt", "x\n"))
    pipeline = make_pipeline(tmp_path, {"g": {"file": "a.txt"}})
    before = source_fingerprint(pipeline, "g")
    stat = path.stat()
    replacement = write(tmp_path / "b.txt", "z\n")
    os.replace(replacement, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert source_fingerprint(pipeline, "g") != before


def test_size_time_definition_includes_and_extra_each_change_it(tmp_path: Path) -> None:
    path = _old(write(tmp_path / "a.txt", "x\n"))
    _old(write(tmp_path / "b.txt", "q\n"))
    groups: dict[str, dict[str, object]] = {
        "g": {"file": "a.txt", "include": ["h"]},
        "h": {"file": "b.txt"},
    }
    base = source_fingerprint(make_pipeline(tmp_path, groups), "g")
    assert base is not None
    seen = {base}
    seen.add(source_fingerprint(make_pipeline(tmp_path, groups), "g", ("server",)))
    seen.add(
        source_fingerprint(
            make_pipeline(tmp_path, {**groups, "g": {**groups["g"], "exclude": ["x"]}}), "g"
        )
    )
    seen.add(source_fingerprint(make_pipeline(tmp_path, {**groups, "h": {"members": "q"}}), "g"))
    _old(tmp_path / "b.txt", age_s=1800)
    seen.add(source_fingerprint(make_pipeline(tmp_path, groups), "g"))
    path.write_text("x\ny\n")
    _old(path, age_s=1800)
    seen.add(source_fingerprint(make_pipeline(tmp_path, groups), "g"))
    assert None not in seen
    assert len(seen) == 6


def test_a_resolver_command_anywhere_gives_none(tmp_path: Path) -> None:
    pipeline = make_pipeline(
        tmp_path, {"g": {"members": "a", "include": ["h"]}, "h": {"command": ["echo", "b"]}}
    )
    assert source_fingerprint(pipeline, "h") is None
    assert source_fingerprint(pipeline, "g") is None


def test_a_recent_missing_or_future_file_gives_none(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, {"g": {"file": "a.txt"}})
    assert source_fingerprint(pipeline, "g") is None  # missing
    path = write(tmp_path / "a.txt", "x\n")
    assert source_fingerprint(pipeline, "g") is None  # written just now
    _old(path, age_s=-60)
    assert source_fingerprint(pipeline, "g") is None  # dated in the future
    _old(path)
    assert source_fingerprint(pipeline, "g") is not None


def test_unknown_and_cyclic_groups_give_none(tmp_path: Path) -> None:
    pipeline = make_pipeline(
        tmp_path, {"a": {"members": "x", "include": ["b"]}, "b": {"members": "y", "include": ["a"]}}
    )
    assert source_fingerprint(pipeline, "a") is None
    assert source_fingerprint(pipeline, "nope") is None
