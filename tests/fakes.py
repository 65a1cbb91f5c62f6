"""Test doubles for where the model is beside the point."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from moderation.domain import ModelInfo
from moderation.scoring import Scorer

#: Words that make FakeScorer call a text toxic; the worker lower-cases nothing for it.
TOXIC_WORDS = ("idiot", "moron", "hate you", "kill")


class FakeScorer:
    """Deterministic scores: 0.99 toxicity (the default reject_at) when a toxic word appears.

    ``fail_times`` makes the next N calls raise, to exercise retries.
    """

    def __init__(self, *, version: str = "1", fail_times: int = 0, delay: float = 0.0) -> None:
        self._model = ModelInfo("fake-scorer", version)
        self.fail_times = fail_times
        self.delay = delay
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> ModelInfo:
        return self._model

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toxicity", "insult")

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        with self._lock:
            self.calls.append(list(texts))
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("the model fell over")
        if self.delay:
            threading.Event().wait(self.delay)
        results = []
        for text in texts:
            toxic = any(word in text.lower() for word in TOXIC_WORDS)
            results.append({"toxicity": 0.99 if toxic else 0.02, "insult": 0.7 if toxic else 0.01})
        return results


class TableScorer:
    """Toxicity from a table: the first word of the table found in the text gives the score.

    ``hang`` makes ``score`` wait until it is set (a model stuck in its thread); ``fail``
    makes it raise.
    """

    def __init__(
        self,
        name: str,
        table: Mapping[str, float],
        *,
        fail: bool = False,
        hang: threading.Event | None = None,
    ) -> None:
        self._model = ModelInfo(name, "1")
        self._table = dict(table)
        self._fail = fail
        self._hang = hang
        self.calls = 0

    @property
    def model(self) -> ModelInfo:
        return self._model

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toxicity",)

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.calls += 1
        if self._fail:
            raise RuntimeError("the shadow fell over")
        if self._hang is not None:
            self._hang.wait(60)
        found = (next((v for w, v in self._table.items() if w in t), 0.02) for t in texts)
        return [{"toxicity": score} for score in found]


def loader_of(scorers: Mapping[str, Scorer | Exception]) -> Callable[[str], Scorer]:
    """A model loader for the scorers by spec: the scorer, or the exception it raises."""

    def load(spec: str) -> Scorer:
        found = scorers[spec]
        if isinstance(found, Exception):
            raise found
        return found

    return load
