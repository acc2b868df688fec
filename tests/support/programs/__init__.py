"""Small programs the process tests run as children (trees, lock holders, spewers)."""

from __future__ import annotations

from pathlib import Path

PROGRAMS = Path(__file__).resolve().parent
"""The directory of the programs, for argv lists and pipeline commands."""
