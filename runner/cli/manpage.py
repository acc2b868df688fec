"""The manual page runner(1), generated from the argument parser with argparse-manpage.

`python -m runner.cli.manpage > runner.1` writes it (install the `man` extra for argparse-manpage);
packagers put the output under share/man/man1/. SOURCE_DATE_EPOCH fixes its date.
"""

from __future__ import annotations

import sys

from runner import __version__

SUMMARY = "a declarative pipeline runner driven by YAML files kept in git"


def render() -> str:
    """The troff source of runner(1): every verb and option, as `runner VERB --help` says."""
    from argparse_manpage.manpage import Manpage

    from runner.cli.parser import build_parser

    page = Manpage(build_parser())
    page.description = SUMMARY
    page.source = f"runner {__version__}"
    page.manual = "User Commands"
    return str(page)


if __name__ == "__main__":
    sys.stdout.write(render())
