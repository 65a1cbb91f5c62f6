"""Test doubles for where the model is beside the point."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from moderation.domain import ModelInfo

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
