"""Secret masking: replace every occurrence of a secret value by ``***``.

A `Masker` is built from secret VALUES (usually the values of the environment
variables named in ``settings.secrets``) and is applied to everything the
runner writes: log events, per-attempt output files, state.

A secret of `WHOLE_VALUE_BELOW` characters or more is masked wherever it occurs,
inside longer words too. A shorter one (one or two characters) is masked only
where it stands as a whole value: not directly preceded or followed by an ASCII
letter, digit or underscore. Otherwise a one-character secret ``x`` would turn
every ``x`` of every log line into ``***``. `runner validate` warns about such
secrets (`short_secrets`).

Where occurrences of two secrets overlap (``abcd`` and ``cdef`` in ``abcdef``)
the whole overlapping stretch is masked, so no fragment of either leaks. A
value with surrounding whitespace (a secret read from a file with its trailing
newline) is also masked without that whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import AnyStr

__all__ = ["MASK", "WHOLE_VALUE_BELOW", "Masker", "short_secrets"]

MASK = "***"
"""What every occurrence of a secret is replaced by."""

WHOLE_VALUE_BELOW = 3
"""Secrets shorter than this many characters are masked only as whole values."""

_WORD_BEFORE = r"(?<![A-Za-z0-9_])"
_WORD_AFTER = r"(?![A-Za-z0-9_])"


def _text_pattern(value: str) -> str:
    """The regular expression one secret is found by in text (whole values only if short)."""
    if len(value) >= WHOLE_VALUE_BELOW:
        return re.escape(value)
    return _WORD_BEFORE + re.escape(value) + _WORD_AFTER


def _byte_pattern(value: str) -> bytes:
    """The regular expression one secret's UTF-8 bytes are found by (whole values only if short)."""
    escaped = re.escape(_encode(value))
    if len(value) >= WHOLE_VALUE_BELOW:
        return escaped
    return _WORD_BEFORE.encode() + escaped + _WORD_AFTER.encode()


def short_secrets(names: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The names among `names` whose value in `env` is masked only as a whole value (too short)."""
    return [
        name
        for name in names
        if env.get(name) and len(env[name].strip() or env[name]) < WHOLE_VALUE_BELOW
    ]


_MASK_BYTES = MASK.encode("ascii")


def _replace_spans(
    text: AnyStr,
    scan: re.Pattern[AnyStr],
    start: int,
    mask: AnyStr,
) -> AnyStr:
    """Replace the union of every secret occurrence in `text` (from `start` on) by `mask`.

    `scan` is a zero-width lookahead ``(?=(a|b|...))`` over the secrets, longest
    first, so it reports at each position the longest secret starting there;
    overlapping occurrences are merged into one masked stretch.
    """
    pieces: list[AnyStr] = []
    kept = 0  # end of the text already copied or masked
    span_start = -1
    span_end = -1
    for found in scan.finditer(text, start):
        begin = found.start()
        end = found.end(1)
        if begin < span_end:  # overlaps the current stretch: extend it
            span_end = max(span_end, end)
            continue
        if span_end >= 0:
            pieces.append(text[kept:span_start])
            pieces.append(mask)
            kept = span_end
        span_start, span_end = begin, end
    if span_end < 0:
        return text
    pieces.append(text[kept:span_start])
    pieces.append(mask)
    pieces.append(text[span_end:])
    return text[:0].join(pieces)


def _encode(value: str) -> bytes:
    """The bytes a secret appears as in output: UTF-8, undecodable env bytes restored."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no decoding produced; keep it matchable
        return value.encode("utf-8", "surrogatepass")


class Masker:
    """Masks a fixed set of secret values in text, bytes and nested values.

    Thread-safe and immutable. With no secrets every method returns its input
    unchanged at the cost of one attribute test.
    """

    __slots__ = ("_byte_find", "_byte_scan", "_longest", "_secrets", "_text_find", "_text_scan")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Build a masker for these secret values; empty values are ignored."""
        values: set[str] = set()
        for value in secrets:
            if not value:
                continue
            values.add(value)
            stripped = value.strip()
            if stripped:
                values.add(stripped)
        # Longest first: at any position the longest secret wins the alternation.
        ordered = tuple(sorted(values, key=lambda v: (-len(v), v)))
        self._secrets = ordered
        self._text_find: re.Pattern[str] | None = None
        self._text_scan: re.Pattern[str] | None = None
        self._byte_find: re.Pattern[bytes] | None = None
        self._byte_scan: re.Pattern[bytes] | None = None
        self._longest = 0
        if not ordered:
            return
        text_alternation = "|".join(_text_pattern(v) for v in ordered)
        by_bytes = sorted(ordered, key=lambda v: (-len(_encode(v)), _encode(v)))
        byte_alternation = b"|".join(_byte_pattern(v) for v in by_bytes)
        self._text_find = re.compile(text_alternation)
        self._text_scan = re.compile(f"(?=({text_alternation}))")
        self._byte_find = re.compile(byte_alternation)
        self._byte_scan = re.compile(b"(?=(" + byte_alternation + b"))")
        self._longest = len(_encode(by_bytes[0]))

    @classmethod
    def from_env(cls, names: Sequence[str], env: Mapping[str, str]) -> Masker:
        """Build a masker from the values of the environment variables `names` in `env`.

        Names that are unset or set to an empty string are ignored.
        """
        return cls(env[name] for name in names if env.get(name))

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values masked, longest first."""
        return self._secrets

    @property
    def longest(self) -> int:
        """Length in UTF-8 bytes of the longest secret (0 without secrets).

        A caller masking a stream chunk by chunk keeps this many bytes minus one
        of each chunk's end back, so a secret split across chunks is still found.
        """
        return self._longest

    def __bool__(self) -> bool:
        """True when there is at least one secret to mask."""
        return bool(self._secrets)

    def __repr__(self) -> str:
        # Never show the secrets themselves.
        return f"Masker(<{len(self._secrets)} secret(s)>)"

    def mask_text(self, text: str) -> str:
        """Return `text` with every occurrence of a secret replaced by ``***``."""
        find = self._text_find
        if find is None:
            return text
        first = find.search(text)
        if first is None:
            return text
        assert self._text_scan is not None
        return _replace_spans(text, self._text_scan, first.start(), MASK)

    def mask_bytes(self, data: bytes) -> bytes:
        """Return `data` with every occurrence of a secret's UTF-8 encoding replaced by ``***``."""
        find = self._byte_find
        if find is None:
            return data
        first = find.search(data)
        if first is None:
            return data
        assert self._byte_scan is not None
        return _replace_spans(bytes(data), self._byte_scan, first.start(), _MASK_BYTES)

    def mask_value(self, value: object) -> object:
        """Mask every string inside `value`, recursively through dicts, lists and tuples.

        Dict keys that are strings are masked too; bytes are masked as bytes.
        Other values (numbers, None, arbitrary objects) are returned as they are.
        The input is never modified: with secrets, containers are copied.
        """
        if self._text_find is None:
            return value
        return self._mask(value)

    def _mask(self, value: object) -> object:
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {
                (self.mask_text(k) if isinstance(k, str) else k): self._mask(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._mask(v) for v in value)
        if isinstance(value, bytes | bytearray):
            return self.mask_bytes(bytes(value))
        return value


class StreamMasker:
    """Masks a byte stream fed piece by piece: a secret split across two pieces is still masked.

    Holds back the last `longest` bytes of each piece (they may start a secret, and a short
    secret's whole-value test reads the byte after it) until the next piece or `flush()`, and
    remembers the byte before what it holds back (the test reads the byte before too).
    Not thread-safe: one per stream.
    """

    __slots__ = ("_before", "_carry", "_find", "_keep")

    def __init__(self, masker: Masker) -> None:
        self._find = masker._byte_find
        self._keep = masker.longest
        self._carry = b""
        self._before = b""

    def feed(self, data: bytes) -> bytes:
        """Mask the next piece; returns what is safe to write now."""
        if self._find is None:
            return data
        return self._emit(data, final=False)

    def flush(self) -> bytes:
        """The stream ended: mask and return what was held back."""
        if self._find is None:
            rest, self._carry = self._carry, b""
            return rest
        return self._emit(b"", final=True)

    def _emit(self, data: bytes, *, final: bool) -> bytes:
        """Mask what can be written now (all of it when `final`); keep the rest back."""
        assert self._find is not None
        before = self._before
        buf = before + self._carry + data
        start = len(before)
        cut = len(buf) if final else len(buf) - self._keep
        if cut <= start:
            self._carry = buf[start:]
            return b""
        out: list[bytes] = []
        pos = start
        for match in self._find.finditer(buf, start):
            if match.start() >= cut:
                break
            out.append(buf[pos : match.start()])
            out.append(_MASK_BYTES)
            pos = match.end()
        if pos < cut:
            out.append(buf[pos:cut])
            pos = cut
        self._carry = buf[pos:]
        self._before = buf[pos - 1 : pos]
        return b"".join(out)
