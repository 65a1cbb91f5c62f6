"""A shared labeled data folder in miniature (the layout ``moderation.training_data`` reads):
a handful of made-up sentences per source, validation sets holding both classes."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def make_shared_data(root: Path) -> Path:
    """The folder ``root``, filled; returns it."""
    write_csv(
        root / "train_mix.csv",
        ["text", "label", "src"],
        [
            ["a calm remark about trains", "0", "wiki"],
            ["you absolute clown", "1", "olid_train"],
            ["what a lovely garden", "0", "wiki"],
        ],
    )
    write_csv(
        root / "olid_val.csv",
        ["text", "label"],
        [["a validation sentence", "0"], ["a validation insult you fool", "1"]],
    )
    write_csv(root / "olid_test.csv", ["text", "label"], [["a test sentence", "1"]])
    write_csv(root / "eval_wiki.csv", ["text", "label"], [["a wiki test sentence", "0"]])
    labels = root / "labels"
    write_csv(
        labels / "davidson.csv",
        ["text", "hate_speech_votes", "offensive_votes", "neither_votes", "class"],
        [
            ["hateful words about a people", "3", "0", "0", "hate_speech"],
            ["rude words", "0", "3", "0", "offensive"],
            ["What a lovely garden!", "0", "0", "3", "neither"],
        ],
    )
    write_csv(
        labels / "olid_levels_train.csv",
        ["text", "subtask_a", "subtask_b", "subtask_c"],
        [
            ["@USER you absolute clown", "OFF", "TIN", "IND"],
            ["those people again", "OFF", "TIN", "GRP"],
            ["damn it all", "OFF", "UNT", "NULL"],
            ["a test sentence", "NOT", "NULL", "NULL"],
        ],
    )
    write_csv(
        labels / "hatexplain_train.csv",
        ["text", "label"],
        [["hateful words about a people", "offensive"], ["nice day", "normal"]],
    )
    write_csv(
        labels / "hatexplain_val.csv",
        ["text", "label"],
        [["val hate", "hatespeech"], ["val calm", "normal"]],
    )
    write_csv(labels / "hatexplain_test.csv", ["text", "label"], [["test hate", "hatespeech"]])
    write_csv(
        labels / "toxigen_seeds.csv",
        ["text", "label", "target_group"],
        [["a neutral sentence about neighbours", "0", "asian"]],
    )
    return root
