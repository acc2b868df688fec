"""The console's templates: the project's Jinja2, autoescape on, and the filters the pages use.

Every value reaches the page escaped. Text from items and scripts may also hold control
characters and bidirectional overrides: `shown` writes controls as visible escapes, and the
templates put such text in `<bdi>` so an override cannot reorder the page around it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from runner.domain.timefmt import format_duration, iso

TEMPLATES = Path(__file__).resolve().parent / "templates"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(value: object) -> str:
    """Text as the page shows it: control characters (not newline or tab) as `\\xNN` and
    bidirectional controls as `\\uNNNN`, so neither can hide or reorder what an id says."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def url(path: str, params: Mapping[str, object] | None = None, **more: object) -> str:
    """`path?query` with every value encoded (lists repeat the name); None values left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in {**(params or {}), **more}.items():
        if value is None or value == "":
            continue
        if isinstance(value, Sequence) and not isinstance(value, str):
            pairs.extend((name, str(v)) for v in value)
        else:
            pairs.append((name, str(value)))
    return f"{path}?{urlencode(pairs)}" if pairs else path


def when(value: float | None) -> str:
    """An instant as ISO 8601 UTC, or a dash."""
    return iso(value) or "-"


def took(seconds: float | None) -> str:
    """A duration in the project's compact form, or a dash."""
    return "-" if seconds is None else format_duration(max(0.0, seconds))


@cache
def environment() -> Environment:
    """The one Jinja2 environment of the console."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(shown=shown, when=when, took=took)
    env.globals.update(url=url)
    return env


def render(template: str, **context: Any) -> str:
    """A template of templates/ rendered with `context`."""
    return environment().get_template(template).render(**context)
