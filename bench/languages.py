"""Language detection on short comments: py3langid (used) beside lingua-language-detector.

Run from the repository root::

    python bench/languages.py                  # lingua too, when it is installed

Reads ``tests/data/language_comments.csv`` (short English and Spanish comments written for
this) and prints, per detector: accuracy, how many guesses were *sure* by
``moderation.languages``' rule and how many of those were wrong, time to load, and µs per
comment (fastest of ``--repeat`` runs). lingua-language-detector is optional (not a
dependency of replyguard); fasttext-langdetect is left out: it downloads its model on first
use, which a worker without a network cannot do.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.languages import MIN_CONFIDENCE, MIN_LETTERS, detect_language  # noqa: E402

Detector = Callable[[str], tuple[str | None, float]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests/data/language_comments.csv")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with args.data.open(newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["lang"]) for r in csv.DictReader(f)]

    started = time.perf_counter()
    detect_language("warm up: load the model once")
    loads = {"py3langid (replyguard)": time.perf_counter() - started}
    detectors: dict[str, Detector] = {"py3langid (replyguard)": _py3langid}
    lingua = _lingua()
    if lingua is not None:
        loads["lingua, all languages"], detectors["lingua, all languages"] = lingua

    print(
        f"{len(rows)} comments from {args.data.name}; sure = {MIN_LETTERS}+ letters and "
        f"probability >= {MIN_CONFIDENCE}"
    )
    print("| detector | accuracy | sure | sure and wrong | load s | µs per comment |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, detect in detectors.items():
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            guesses = [detect(text) for text, _ in rows]
            best = min(best, time.perf_counter() - t)
        right = sum(1 for (lang, _), (_, truth) in zip(guesses, rows, strict=True) if lang == truth)
        sure = [
            (lang, truth)
            for (lang, p), (text, truth) in zip(guesses, rows, strict=True)
            if p >= MIN_CONFIDENCE and sum(c.isalpha() for c in text) >= MIN_LETTERS
        ]
        wrong = sum(1 for lang, truth in sure if lang != truth)
        print(
            f"| {name} | {right / len(rows):.0%} | {len(sure)} | {wrong} | {loads[name]:.1f} | "
            f"{best / len(rows) * 1e6:.0f} |"
        )
    return 0


def _py3langid(text: str) -> tuple[str | None, float]:
    guess = detect_language(text)
    return guess.language, guess.confidence


def _lingua() -> tuple[float, Detector] | None:
    try:
        # Optional, for the comparison only (not a dependency): imported by name so that type
        # checking needs no stubs for it where it is not installed.
        lingua: Any = importlib.import_module("lingua")
    except ImportError:
        print("lingua-language-detector is not installed: measuring py3langid only")
        return None
    started = time.perf_counter()
    detector = (
        lingua.LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    )
    load = time.perf_counter() - started

    def detect(text: str) -> tuple[str | None, float]:
        values = detector.compute_language_confidence_values(text)
        if not values:
            return None, 0.0
        top = values[0]
        return top.language.iso_code_639_1.name.lower(), float(top.value)

    return load, detect


if __name__ == "__main__":
    raise SystemExit(main())
