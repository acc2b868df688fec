"""Damaging a SQLite state file on purpose: an emptied index, random bit flips, a held lock."""

from __future__ import annotations

import random
import sqlite3
import struct
from pathlib import Path

HOLD_WRITE_LOCK = """\
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
print("released", flush=True)
"""
"""A script: hold the state's write lock (argv[1]) for argv[2] seconds, then let go."""


def page_size(path: Path) -> int:
    size = int(struct.unpack(">H", path.read_bytes()[16:18])[0])
    return 65536 if size == 1 else size


def empty_index(path: Path, name: str) -> None:
    """Make the (single-page) index `name` of a cleanly closed file hold no entries.

    The table keeps its rows: a lookup through the index finds none of them, so an update
    by key changes no row (the damage that made one item run forever).
    """
    db = sqlite3.connect(path)
    try:
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
        ).fetchone()
        db.execute("PRAGMA journal_mode = DELETE")  # fold any WAL in; one self-contained file
    finally:
        db.close()
    size = page_size(path)
    with path.open("r+b") as handle:
        handle.seek((root - 1) * size)
        page = bytearray(handle.read(size))
        assert page[0] == 0x0A, f"index {name} spans more than one page"
        page[1:8] = bytes([0, 0, 0, 0, 0, 0, 0])  # no free block, no cell, content at the end
        page[5:7] = struct.pack(">H", size % 65536)
        handle.seek((root - 1) * size)
        handle.write(page)


def flip_bits(path: Path, rng: random.Random, count: int) -> list[int]:
    """Flip `count` random bits of the file; the bit offsets flipped."""
    data = bytearray(path.read_bytes())
    bits = [rng.randrange(len(data) * 8) for _ in range(count)]
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))
    return bits
