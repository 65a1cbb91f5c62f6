"""Progress bars for the commands that run long (``evaluate``, ``migrate``, ``erase-author``).

A bar is for a person at a terminal: it goes to stderr, and only when stderr is one, so CI
logs, pipes and ``--json`` output stay clean; ``--quiet`` turns it off at a terminal too.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Protocol

__all__ = ["Progress", "add_quiet_flag", "progress_bar"]


class Progress(Protocol):
    """What the commands use of a ``tqdm`` bar."""

    total: int | None
    n: int

    def update(self, n: int = 1) -> object: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar (none is shown off a terminal)"
    )


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, *, unit: str, quiet: bool
) -> Iterator[Progress]:
    """A bar of ``total`` steps on stderr for the ``with`` block; drawing nothing (at no
    cost) when ``quiet`` or when stderr is not a terminal. ``total`` may be None until the
    command knows it. While it is drawn, log lines are written above it, not through it."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    shown = not quiet and sys.stderr.isatty()
    redirect = logging_redirect_tqdm() if shown else contextlib.nullcontext()
    with (
        redirect,
        tqdm(
            total=total,
            desc=description,
            unit=unit,
            file=sys.stderr,
            disable=not shown,
            dynamic_ncols=True,
        ) as bar,
    ):
        drawn: Progress = bar
        yield drawn
