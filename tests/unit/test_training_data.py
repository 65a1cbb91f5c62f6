"""Assembling the default model's training rows: label mapping, masking, dedupe, held-out texts.

The source files are a handful of made-up sentences in the shared data folder's layout
(``tests.training_files``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from moderation.training_data import (
    TRAIN_LABELS,
    assemble_training,
    hatexplain_labeled,
    read_masked_csv,
    text_key,
)
from tests.training_files import make_shared_data, write_csv

HAND_DATA = Path(__file__).resolve().parents[2] / "moderation" / "data" / "hand_train.csv"
HELD_OUT = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_shared_data(tmp_path / "data")


def _by_text(data_dir: Path, exclude: Sequence[Path] = ()) -> dict[str, dict[str, int | None]]:
    data = assemble_training(data_dir, exclude_csvs=exclude)
    return {
        text_key(text): {label: data.labels[label][i] for label in TRAIN_LABELS}
        for i, text in enumerate(data.texts)
    }


def test_assemble_training__maps_each_source_and_masks_what_it_does_not_give(
    data_dir: Path,
) -> None:
    rows = _by_text(data_dir)

    # OLID TIN: targeted insult (or threat): insult 1, threat unknown; IND: no identity attack.
    assert rows["you absolute clown"] == {
        "toxicity": 1,
        "insult": 1,
        "identity_attack": 0,
        "threat": None,
    }
    # OLID's GRP targets may be parties or movements: identity_attack stays masked.
    assert rows["those people again"]["identity_attack"] is None
    assert rows["damn it all"] == {"toxicity": 1, "insult": 0, "identity_attack": 0, "threat": 0}
    # Davidson's offensive class says nothing about insults or threats.
    assert rows["rude words"] == {
        "toxicity": 1,
        "insult": None,
        "identity_attack": 0,
        "threat": None,
    }
    # A harmless text is harmless on every label; toxigen's neutral seeds too.
    assert rows["a neutral sentence about neighbours"] == dict.fromkeys(TRAIN_LABELS, 0)
    assert rows["a calm remark about trains"] == dict.fromkeys(TRAIN_LABELS, 0)


def test_assemble_training__dedupes_and_masks_labels_the_sources_disagree_on(
    data_dir: Path,
) -> None:
    rows = _by_text(data_dir)

    # "What a lovely garden!" (Davidson) and "what a lovely garden" (train_mix) are one text.
    assert sum(1 for key in rows if key == "what a lovely garden") == 1
    # Davidson says hate speech, HateXplain says offensive only: identity_attack is masked.
    assert rows["hateful words about a people"]["toxicity"] == 1
    assert rows["hateful words about a people"]["identity_attack"] is None


def test_assemble_training__keeps_validation_test_and_held_out_texts_out(
    data_dir: Path, tmp_path: Path
) -> None:
    held_out = tmp_path / "held_out.csv"
    write_csv(held_out, ["text", "threat"], [["Nice day.", "0"]])

    rows = _by_text(data_dir, exclude=[held_out])

    assert "a test sentence" not in rows  # olid_test's text, though OLID's training has it
    assert "nice day" not in rows


def test_assemble_training__repeats_hand_written_rows_and_keeps_them_all(
    data_dir: Path, tmp_path: Path
) -> None:
    hand = tmp_path / "hand.csv"
    write_csv(
        hand,
        ["text", "toxicity", "insult", "identity_attack", "threat", "kind"],
        [["I will hurt you", "1", "", "", "1", "threat"]],
    )

    data = assemble_training(data_dir, extra_csvs=[hand], extra_repeat=3, rows=2)

    assert data.texts.count("I will hurt you") == 3
    assert data.rows() == 2 + 3
    index = data.texts.index("I will hurt you")
    assert data.labels["threat"][index] == 1
    assert data.labels["insult"][index] is None


def test_assemble_training__a_repeat_of_its_own_for_the_first_csvs(
    data_dir: Path, tmp_path: Path
) -> None:
    decisions, hand = tmp_path / "decisions.csv", tmp_path / "hand.csv"
    write_csv(decisions, ["text", "toxicity"], [["go away troll", "1"], ["fair point", "0"]])
    write_csv(hand, ["text", "threat"], [["I will hurt you", "1"]])

    data = assemble_training(
        data_dir, extra_csvs=[decisions, hand], extra_repeat=2, extra_repeats=[5], rows=2
    )

    assert data.texts.count("go away troll") == data.texts.count("fair point") == 5
    assert data.texts.count("I will hurt you") == 2
    assert data.sources.count("hand:decisions") == 10


def test_read_masked_csv__blank_is_masked_and_bad_cells_are_named(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    write_csv(path, ["text", "toxicity", "threat"], [["one", "1", ""], ["two", "0", "yes"]])

    with pytest.raises(ValueError, match=r"rows.csv:3: column 'threat' is 'yes'"):
        read_masked_csv(path)


def test_hatexplain_labeled__hatespeech_is_identity_attack(data_dir: Path) -> None:
    data = hatexplain_labeled(data_dir / "labels" / "hatexplain_val.csv")

    assert data.truth == {"toxicity": [1, 0], "identity_attack": [1, 0]}


def test_hand_written_sets__held_out_texts_never_appear_in_training() -> None:
    training = {text_key(t) for t in read_masked_csv(HAND_DATA).texts}
    held_out = {
        text_key(t)
        for name in ("heldout_threats.csv", "heldout_harmless.csv")
        for t in read_masked_csv(HELD_OUT / name).texts
    }

    assert len(held_out) >= 90
    assert not training & held_out


def test_assemble_training__a_mask_leaves_a_label_unlearnt_from_the_sources_it_names(
    data_dir: Path,
) -> None:
    plain = assemble_training(data_dir)
    masked = assemble_training(data_dir, masks={"toxicity": ["hatexplain"]})

    assert masked.texts == plain.texts
    for i, source in enumerate(masked.sources):
        for label in TRAIN_LABELS:
            if source == "hatexplain" and label == "toxicity":
                assert masked.labels[label][i] is None
            else:
                assert masked.labels[label][i] == plain.labels[label][i]
    assert "hatexplain" in masked.sources
    assert any(
        plain.labels["toxicity"][i] is not None
        for i, source in enumerate(plain.sources)
        if source == "hatexplain"
    )


def test_assemble_training__a_mask_naming_an_unknown_source_or_label_is_refused(
    data_dir: Path,
) -> None:
    with pytest.raises(ValueError, match=r"no training rows: \['hatexplian'\]"):
        assemble_training(data_dir, masks={"toxicity": ["hatexplian"]})
    with pytest.raises(ValueError, match="labels the model does not have"):
        assemble_training(data_dir, masks={"obscene": ["hatexplain"]})
