"""Training helpers that need no data: starting from a trained model, the remake command."""

from __future__ import annotations

from pathlib import Path

import torch

from moderation.model_build import make_tiny_checkpoint
from moderation.training import remake_command, warm_start


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
