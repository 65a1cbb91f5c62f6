"""The port between the worker and a toxicity model.

A scorer is loaded once per worker process and called off the event loop (the worker runs it
in its own thread) with a batch of already-normalised texts. Implementations live in
``moderation.detox`` (Detoxify through its own loading code); tests may use fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from moderation.domain import ModelInfo


class Scorer(Protocol):
    """Scores texts for toxicity: one ``{label: probability}`` dict per text, in input order."""

    @property
    def model(self) -> ModelInfo:
        """The model's name and version, stored beside every score it gives."""
        ...

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels every result carries (Detoxify's names)."""
        ...

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Blocking; safe to call from one thread at a time."""
        ...
