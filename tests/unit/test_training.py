"""Training helpers that need no data: starting from a trained model, the remake command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from moderation.model_build import (
    build_minilm_checkpoint,
    load_minilm_classifier,
    make_tiny_checkpoint,
)
from moderation.training import TrainSettings, remake_command, train, warm_start
from service.cli import main
from tests.training_files import make_shared_data


def test_warm_start__takes_the_encoder_and_the_shared_head_rows(tmp_path: Path) -> None:
    import transformers

    checkpoint = make_tiny_checkpoint("bert", tmp_path / "old", classes=("toxic",), seed=1)
    config = transformers.BertConfig.from_pretrained(str(checkpoint.parent / "hf"), num_labels=2)
    torch.manual_seed(2)
    model = transformers.BertForSequenceClassification(config)
    fresh_row = model.state_dict()["classifier.weight"][0].clone()
    old = torch.load(checkpoint, weights_only=False)["state_dict"]

    said = warm_start(model, checkpoint, ("threat", "toxicity"))

    new = model.state_dict()
    assert "head rows for toxicity" in said
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(new[name], old[name].float())
    assert torch.equal(new["classifier.weight"][1], old["classifier.weight"][0].float())
    assert torch.equal(new["classifier.weight"][0], fresh_row)  # threat keeps its fresh row
    assert torch.equal(new["classifier.bias"][1], old["classifier.bias"][0].float())


def test_remake_command__data_beside_the_repository() -> None:
    command = remake_command(
        {
            "data_dir": "../shared/data",
            "extra_csvs": ["moderation/data/hand_train.csv"],
            "extra_repeat": 3,
            "exclude_csvs": [],
            "test_csvs": ["shared/data/olid_test.csv"],
            "labels": ["toxicity", "threat"],
            "rows": None,
            "max_length": 64,
            "epochs": 1,
            "learning_rate": 5e-5,
            "batch_size": 32,
            "eval_every": 100,
            "seed": 0,
            "out_dir": "moderation/default_model",
        }
    )

    assert "--data-dir ../shared/data " in command
    assert "--test ../shared/data/olid_test.csv " in command
    assert "--rows 0 " in command and "--labels toxicity,threat " in command


def test_train__heads_only_keeps_the_encoder_and_the_old_rows(tmp_path: Path) -> None:
    from moderation.training import TrainSettings, train

    old = build_minilm_checkpoint(tmp_path / "old", classes=("toxicity",), seed=3)
    threats = ["i will hurt you", "you will be shot", "i am going to find you", "watch your back"]
    calm = ["nice article", "thanks for sharing", "i disagree with the mayor", "good point"]
    rude = ["you are an idiot", "shut up fool"]
    train_csv = tmp_path / "train.csv"
    train_csv.write_text(
        "text,toxicity,threat\n"
        + "".join(f"{t},1,1\n" for t in threats)
        + "".join(f"{t},0,0\n" for t in calm)
        + "".join(f"{t},1,\n" for t in rude),  # threat masked
        encoding="utf-8",
    )
    val_csv = tmp_path / "val.csv"
    val_csv.write_text(
        "text,label\n" + "".join(f"{t},1\n" for t in rude) + "".join(f"{t},0\n" for t in calm),
        encoding="utf-8",
    )

    card = train(
        TrainSettings(
            train_csv=train_csv,
            val_csv=val_csv,
            out_dir=tmp_path / "new",
            labels=("toxicity", "threat"),
            rows=None,
            max_length=16,
            epochs=2,
            batch_size=4,
            fp16=False,
            init_from=old.parent,
            heads_only=True,
            head_learning_rates=(0.01, 0.1),
        ),
        out=io.StringIO(),
    )

    before = torch.load(old, weights_only=False)["state_dict"]
    after = torch.load(tmp_path / "new" / old.name, weights_only=False)["state_dict"]
    assert "frozen encoder" in card["architecture"]
    assert [h["learning_rate"] for h in card["validation_history"]] == [0.01, 0.01, 0.1, 0.1]
    for name, tensor in before.items():
        if not name.startswith("classifier."):
            assert torch.equal(after[name], tensor), name
    assert torch.equal(after["classifier.weight"][0], before["classifier.weight"][0])
    assert torch.equal(after["classifier.bias"][0], before["classifier.bias"][0])
    fresh = load_minilm_classifier(2, seed=0).state_dict()["classifier.weight"][1]
    assert not torch.equal(after["classifier.weight"][1], fresh)  # the threat row learnt


def test_remake_command__heads_only_names_its_rates() -> None:
    settings = {
        "train_csv": "shared/data/train.csv",
        "val_csv": "shared/data/val.csv",
        "labels": ["toxicity", "threat"],
        "rows": None,
        "max_length": 64,
        "epochs": 20,
        "learning_rate": 5e-5,
        "batch_size": 32,
        "eval_every": 100,
        "seed": 0,
        "init_from": "previous/moderation/default_model",
        "heads_only": True,
        "head_learning_rates": [0.001, 0.01],
        "out_dir": "moderation/default_model",
    }

    assert "--heads-only --head-lrs 0.001,0.01 " in remake_command(settings)


def test_remake_command__names_each_label_mask_and_the_selection() -> None:
    settings = {
        "data_dir": "shared/data",
        "extra_csvs": [],
        "exclude_csvs": [],
        "label_masks": [["toxicity", ["hatexplain", "toxigen"]]],
        "select_on": ["olid_val:toxicity", "hatexplain_val:identity_attack"],
        "labels": ["toxicity", "identity_attack"],
        "rows": None,
        "max_length": 64,
        "epochs": 1,
        "learning_rate": 3e-5,
        "batch_size": 32,
        "eval_every": 200,
        "seed": 2,
        "out_dir": "moderation/default_model",
    }

    command = remake_command(settings)
    assert "--mask toxicity:hatexplain,toxigen " in command
    assert "--select-on olid_val:toxicity,hatexplain_val:identity_attack " in command


def test_cli_train__a_malformed_mask_is_refused_with_the_form_to_write(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", "--data-dir", ".", "--mask", "obscene:hatexplain"]) == 2
    assert "--mask: 'obscene:hatexplain': write LABEL:SOURCE[,SOURCE]" in capsys.readouterr().err


def test_train__a_selection_naming_no_validation_figure_fails_before_training(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    make_shared_data(data)
    settings = TrainSettings(
        train_csv=None,
        val_csv=None,
        out_dir=tmp_path / "out",
        data_dir=data,
        labels=("toxicity", "identity_attack"),
        select_on=("olid_val:toxicity", "olid_val:threat"),
        init_from=make_tiny_checkpoint("bert", tmp_path / "tiny").parent,
    )

    with pytest.raises(ValueError, match=r"no validation figure \['olid_val:threat'\]"):
        train(settings, out=io.StringIO())
    assert not (tmp_path / "out").exists()
