"""Small helpers for the words in messages people read."""

from __future__ import annotations


def plural(count: float, unit: str) -> str:
    """``1 second``, ``2 seconds``, ``0.5 seconds``: a count with its unit, agreeing."""
    return f"{count:g} {unit}{'' if count == 1 else 's'}"
