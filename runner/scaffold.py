"""`runner init`: a starter pipeline directory that `runner validate` accepts at once.

The starter files are package data under runner/starter/ (read with importlib.resources, so an
installed wheel has them); next to them go the JSON Schema their editor modeline points at
(`runner schema`'s output, generated from the models) and a .gitignore for the state and logs.
Nothing is ever overwritten: if any file to write exists, nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from runner.errors import UsageError

SCHEMA_FILE = "pipeline.schema.json"
"""The schema's name in the new directory; the starter files' modeline names it."""

GITIGNORE = """\
# Written by `runner init`: the resume state and the logs (settings.state and
# settings.logs) belong to the machine that runs the pipeline, not to git.
.runner/
"""


def _walk(node: Traversable, prefix: PurePosixPath) -> Iterator[tuple[PurePosixPath, bytes]]:
    for entry in sorted(node.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            yield from _walk(entry, prefix / entry.name)
        else:
            yield prefix / entry.name, entry.read_bytes()


def starter_files() -> dict[PurePosixPath, bytes]:
    """Every file `runner init` writes, by path relative to the new directory."""
    from runner.config.schema import render_schema_text

    found = dict(_walk(files("runner") / "starter", PurePosixPath()))
    found[PurePosixPath(".gitignore")] = GITIGNORE.encode()
    found[PurePosixPath(SCHEMA_FILE)] = render_schema_text().encode()
    return found


def init(directory: Path) -> list[Path]:
    """Write the starter pipeline into `directory` (created if missing); the paths written.

    Raises UsageError, writing nothing, when any of the files already exists.
    """
    planned = {directory.joinpath(*rel.parts): content for rel, content in starter_files().items()}
    taken = sorted(str(p) for p in planned if p.exists() or p.is_symlink())
    if taken:
        raise UsageError(
            f"{directory}: refusing to overwrite {', '.join(taken)}; "
            "choose an empty or new directory (runner init DIR)"
        )
    written = []
    for path, content in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as out:  # exclusive: a file that appeared meanwhile is kept
            out.write(content)
        written.append(path)
    return written


def outdated_schemas(paths: Iterable[Path]) -> list[Path]:
    """Those of `paths` whose text is not this runner's schema (`runner schema` writes it)."""
    from runner.config.schema import render_schema_text

    current = render_schema_text()
    return [p for p in paths if not p.is_file() or p.read_text(encoding="utf-8") != current]
