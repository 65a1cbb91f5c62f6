"""The default model's training, validation and test data, assembled from the labeled sources.

Each source gives some of the default model's labels and not others; a label a source does not
give is *masked* (``None``): it adds nothing to the loss, rather than counting as 0. The one
inference made across labels: a text its source calls harmless (not toxic, not offensive) is
also no insult, identity attack or threat, so its other labels are 0.

Mapping, source by source (files under the shared data folder, see its READMEs):

``train_mix.csv``            ``label`` -> toxicity
``labels/davidson.csv``      ``hate_speech`` -> toxicity 1, identity_attack 1;
                             ``offensive`` -> toxicity 1, identity_attack 0; ``neither`` -> all 0
``labels/olid_levels_train.csv``  ``NOT`` -> all 0; ``OFF`` -> toxicity 1;
                             ``UNT`` (untargeted) -> insult 0, identity_attack 0, threat 0;
                             ``TIN`` (targeted insult *or threat*) -> insult 1, threat masked;
                             ``TIN``+``IND``/``OTH`` -> identity_attack 0; ``TIN``+``GRP``
                             -> identity_attack masked (OLID's groups include parties and
                             movements, which Detoxify's identity_attack does not mean)
``labels/hatexplain_*.csv``  ``hatespeech`` -> toxicity 1, identity_attack 1;
                             ``offensive`` -> toxicity 1, identity_attack 0; ``normal`` -> all 0
``labels/toxigen_seeds.csv`` ``1`` (implicit hate about a group) -> toxicity 1,
                             identity_attack 1; ``0`` (neutral about a group) -> all 0
hand-written CSVs            their own label columns (blank = masked), see ``moderation/data``

Texts are deduplicated across sources by a key that ignores case, punctuation, user handles
and the disguises ``normalise_for_scoring`` undoes; where two sources disagree on a label, the
label is masked for that text. Texts of the validation and test files never enter training.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moderation.evaluation import LabeledData
from moderation.text import normalise_for_scoring

__all__ = [
    "TRAIN_LABELS",
    "MaskedData",
    "assemble_training",
    "hatexplain_labeled",
    "read_masked_csv",
    "text_key",
    "validation_sets",
]

#: The default model's labels, in its output order (Detoxify's names).
TRAIN_LABELS: tuple[str, ...] = ("toxicity", "insult", "identity_attack", "threat")

Labels = dict[str, int | None]

_HARMLESS: Mapping[str, int | None] = dict.fromkeys(TRAIN_LABELS, 0)
_WORD = re.compile(r"[^\W_]+")
_HANDLE = re.compile(r"@user\b|<user>", re.IGNORECASE)


@dataclass(slots=True)
class MaskedData:
    """Texts, their source and, per label, 0, 1 or ``None`` (not given: masked)."""

    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    labels: dict[str, list[int | None]] = field(
        default_factory=lambda: {label: [] for label in TRAIN_LABELS}
    )

    def add(self, text: str, source: str, labels: Mapping[str, int | None]) -> None:
        self.texts.append(text)
        self.sources.append(source)
        for label in TRAIN_LABELS:
            self.labels[label].append(labels.get(label))

    def rows(self) -> int:
        return len(self.texts)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per label: how many rows say 1, say 0, or are masked."""
        return {
            label: {
                "positive": sum(1 for v in values if v == 1),
                "negative": sum(1 for v in values if v == 0),
                "masked": sum(1 for v in values if v is None),
            }
            for label, values in self.labels.items()
        }


def text_key(text: str) -> str:
    """The deduplication key: words only, lower case, handles and disguises removed."""
    plain = _HANDLE.sub(" ", normalise_for_scoring(text)).lower()
    return " ".join(_WORD.findall(plain))


def assemble_training(
    data_dir: Path,
    *,
    extra_csvs: Sequence[Path] = (),
    extra_repeat: int = 1,
    extra_repeats: Sequence[int] = (),
    exclude_csvs: Sequence[Path] = (),
    rows: int | None = None,
    seed: int = 0,
    masks: Mapping[str, Sequence[str]] | None = None,
) -> MaskedData:
    """All training rows of the sources in ``data_dir`` plus ``extra_csvs``, merged and shuffled.

    ``extra_csvs`` (hand-written rows) are repeated ``extra_repeat`` times, since they are few;
    ``extra_repeats`` gives the first CSVs a repeat of their own (a site's decisions beside
    hand-written sentences).
    Texts found in ``exclude_csvs`` (held-out sets) or in the shared validation and test files
    are dropped. ``rows`` keeps a seeded random share of the source rows (every source in
    proportion) and always all hand-written ones. ``masks`` maps a label to sources whose rows
    do not teach it (masked there): for example ``{"toxicity": ["hatexplain"]}`` keeps
    HateXplain's posts for ``identity_attack`` while ``toxicity`` is learnt from the others.
    """
    masked_in = {label: frozenset(sources) for label, sources in (masks or {}).items()}
    unknown = set(masked_in) - set(TRAIN_LABELS)
    if unknown:
        raise ValueError(f"masks name labels the model does not have: {sorted(unknown)}")
    excluded = _excluded_keys(data_dir, exclude_csvs)
    merged: dict[str, tuple[str, str, Labels]] = {}
    for source, text, labels in _source_rows(data_dir):
        _merge(merged, source, text, labels, excluded)
    generator = random.Random(seed)
    keys = list(merged)
    generator.shuffle(keys)
    if rows is not None and rows < len(keys):
        keys = keys[:rows]
    hand: list[tuple[str, str, Labels]] = []
    repeats: list[int] = []
    hand_seen: set[str] = set()
    for index, path in enumerate(extra_csvs):
        repeat = extra_repeats[index] if index < len(extra_repeats) else extra_repeat
        data = read_masked_csv(path)
        for i, text in enumerate(data.texts):
            key = text_key(text)
            if key in excluded or key in hand_seen:
                continue
            hand_seen.add(key)
            merged.pop(key, None)
            labels = {label: data.labels[label][i] for label in TRAIN_LABELS}
            hand.append((text, f"hand:{path.stem}", labels))
            repeats.append(max(1, repeat))
    out = MaskedData()
    # Round by round, as ``hand * repeat`` would list them, so one repeat for all gives the
    # rows (and, after the seeded shuffle, the order) it always gave.
    rounds = max(repeats, default=0)
    picked = [merged[k] for k in keys if k in merged] + [
        row for r in range(rounds) for row, n in zip(hand, repeats, strict=True) if r < n
    ]
    generator.shuffle(picked)
    for text, source, labels in picked:
        if masked_in:
            labels = {
                label: None if source in masked_in.get(label, ()) else value
                for label, value in labels.items()
            }
        out.add(text, source, labels)
    named = {source for sources in masked_in.values() for source in sources}
    if named - set(out.sources):
        raise ValueError(
            f"masks name sources with no training rows: {sorted(named - set(out.sources))} "
            f"(the sources are {sorted(set(out.sources))})"
        )
    return out


def validation_sets(data_dir: Path) -> dict[str, LabeledData]:
    """The selection data: ``olid_val.csv`` (toxicity) and HateXplain's validation split."""
    from moderation.evaluation import read_labeled_csv

    return {
        "olid_val": read_labeled_csv(data_dir / "olid_val.csv"),
        "hatexplain_val": hatexplain_labeled(data_dir / "labels" / "hatexplain_val.csv"),
    }


def hatexplain_labeled(path: Path) -> LabeledData:
    """A HateXplain split as toxicity (offensive or hate speech) and identity_attack (hate)."""
    texts: list[str] = []
    truth: dict[str, list[int]] = {"toxicity": [], "identity_attack": []}
    for row in _read_rows(path):
        labels = _hatexplain(row["label"], path)
        texts.append(row["text"])
        truth["toxicity"].append(labels["toxicity"] or 0)
        truth["identity_attack"].append(labels["identity_attack"] or 0)
    return LabeledData(texts, truth)


def read_masked_csv(path: Path) -> MaskedData:
    """A CSV with ``text`` and label columns named as Detoxify names them; blank = masked.

    A lone ``label`` column is ``toxicity``. Columns for labels the default model does not
    have are ignored.
    """
    out = MaskedData()
    for line, row in enumerate(_read_rows(path), start=2):
        columns = [c for c in row if c in TRAIN_LABELS or c == "label"]
        if not columns:
            raise ValueError(f"{path}: no label column ({', '.join(TRAIN_LABELS)} or label)")
        labels: Labels = {}
        for column in columns:
            name = "toxicity" if column == "label" else column
            labels[name] = _cell(row[column], path, line, column)
        out.add(row["text"], path.stem, labels)
    return out


# --- sources ------------------------------------------------------------------------------


def _source_rows(data_dir: Path) -> Iterable[tuple[str, str, Labels]]:
    labels_dir = data_dir / "labels"
    for row in _read_rows(data_dir / "train_mix.csv"):
        yield row.get("src") or "train_mix", row["text"], _from_binary(row["label"])
    for row in _read_rows(labels_dir / "davidson.csv"):
        yield "davidson", row["text"], _davidson(row["class"])
    for row in _read_rows(labels_dir / "olid_levels_train.csv"):
        yield "olid", row["text"], _olid(row["subtask_a"], row["subtask_b"], row["subtask_c"])
    path = labels_dir / "hatexplain_train.csv"
    for row in _read_rows(path):
        yield "hatexplain", row["text"], _hatexplain(row["label"], path)
    for row in _read_rows(labels_dir / "toxigen_seeds.csv"):
        yield "toxigen", row["text"], _toxigen(row["label"])


def _from_binary(value: str) -> Labels:
    return dict(_HARMLESS) if value.strip() == "0" else {"toxicity": 1}


def _davidson(kind: str) -> Labels:
    if kind == "neither":
        return dict(_HARMLESS)
    return {"toxicity": 1, "identity_attack": 1 if kind == "hate_speech" else 0}


def _olid(a: str, b: str, c: str) -> Labels:
    if a == "NOT":
        return dict(_HARMLESS)
    if b != "TIN":
        return {"toxicity": 1, "insult": 0, "identity_attack": 0, "threat": 0}
    return {"toxicity": 1, "insult": 1, "identity_attack": None if c == "GRP" else 0}


def _hatexplain(kind: str, path: Path) -> Labels:
    if kind == "normal":
        return dict(_HARMLESS)
    if kind in ("offensive", "hatespeech"):
        return {"toxicity": 1, "identity_attack": 1 if kind == "hatespeech" else 0}
    raise ValueError(f"{path}: label {kind!r} is not hatespeech, offensive or normal")


def _toxigen(value: str) -> Labels:
    return {"toxicity": 1, "identity_attack": 1} if value.strip() == "1" else dict(_HARMLESS)


def _merge(
    merged: dict[str, tuple[str, str, Labels]],
    source: str,
    text: str,
    labels: Labels,
    excluded: set[str],
) -> None:
    """Add a row; a text seen before keeps one row whose conflicting labels are masked."""
    key = text_key(text)
    if not key or key in excluded:
        return
    if key not in merged:
        merged[key] = (text, source, dict(labels))
        return
    first_text, first_source, known = merged[key]
    for label, value in labels.items():
        if value is None:
            continue
        if label not in known:
            known[label] = value
        elif known[label] is not None and known[label] != value:
            known[label] = None
    merged[key] = (first_text, first_source, known)


def _excluded_keys(data_dir: Path, extra: Sequence[Path]) -> set[str]:
    held_out = [
        data_dir / "olid_val.csv",
        data_dir / "olid_test.csv",
        data_dir / "eval_wiki.csv",
        data_dir / "labels" / "hatexplain_val.csv",
        data_dir / "labels" / "hatexplain_test.csv",
        *extra,
    ]
    return {text_key(row["text"]) for path in held_out for row in _read_rows(path)}


def _read_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "text" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no 'text' column")
        return [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]


def _cell(value: str, path: Path, line: int, column: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if text in ("0", "1"):
        return int(text)
    raise ValueError(f"{path}:{line}: column {column!r} is {text!r}: write 0, 1 or leave blank")
