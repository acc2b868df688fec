"""A fingerprint of what a group's members are read from, so a resume can tell it is unchanged.

The fingerprint covers the group's definition and those of the groups it includes
(inline members, file path, include, exclude, guards), and for each member file its
device, inode, size and modification time (nanoseconds). A group with a resolver
`command` anywhere in it has no fingerprint: a program's output can change while
nothing on disk does, so such a group is always resolved again. Nor does a file
changed less than RACY_S seconds before it was looked at: a write within the same
timestamp tick, after the look, could leave size and time as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.config.pipeline import Pipeline

RACY_S = 2.0
"""A file modified this recently (seconds) is not fingerprinted: it may still be changing."""


def source_fingerprint(pipeline: Pipeline, group: str, extra: Iterable[str] = ()) -> str | None:
    """The fingerprint of group `group`'s sources now, with `extra` strings mixed in (what else
    the sync of its members depends on), or None when the sources cannot be fingerprinted."""
    parts: list[object] = [list(extra)]
    if not _describe(pipeline, group, parts, ()):
        return None
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _describe(pipeline: Pipeline, name: str, parts: list[object], chain: tuple[str, ...]) -> bool:
    """Append what group `name` and its includes read from to `parts`; False: cannot say."""
    model = pipeline.groups.get(name)
    if model is None or name in chain or model.command is not None:
        return False  # unknown or cyclic (resolution reports it), or a program's output
    parts.append([name, model.model_dump(mode="json")])
    if model.file is not None:
        path = pipeline.resolve_path(model.file)
        try:
            info = os.stat(path)
        except OSError:
            return False  # resolution reports the missing or unreadable file
        if time.time() - info.st_mtime < RACY_S:
            return False
        parts.append([str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns])
    return all(_describe(pipeline, included, parts, (*chain, name)) for included in model.include)
