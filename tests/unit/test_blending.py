"""Weight blending of two fine-tunings of one architecture (``replyguard blend-models``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from moderation.blending import blend_checkpoints, write_blend
from moderation.detox import load_scorer
from moderation.model_build import CHECKPOINT_NAME, make_tiny_checkpoint


def _state(checkpoint: Path) -> dict[str, torch.Tensor]:
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return dict(loaded["state_dict"])


def test_blend__every_weight_moves_its_share_and_a_label_only_base_scores_keeps_its_row(
    tmp_path: Path,
) -> None:
    base = make_tiny_checkpoint("bert", tmp_path / "base", classes=("toxicity", "threat"), seed=1)
    other = make_tiny_checkpoint("bert", tmp_path / "other", classes=("toxicity",), seed=2)
    ours, theirs = _state(base), _state(other)

    blended = blend_checkpoints(base, other, 0.25)["state_dict"]

    name = "bert.encoder.layer.0.attention.self.query.weight"
    expected = ours[name].float() * 0.75 + theirs[name].float() * 0.25
    assert torch.allclose(blended[name].float(), expected, atol=1e-3)
    assert not torch.equal(blended[name], ours[name])
    head = blended["classifier.weight"]
    assert torch.allclose(
        head[0].float(), ours["classifier.weight"][0] * 0.75 + theirs["classifier.weight"][0] * 0.25
    )
    assert torch.equal(head[1], ours["classifier.weight"][1])  # threat: base's row, untouched
    assert set(blended) == set(ours)


def test_blend__the_ends_are_the_two_models(tmp_path: Path) -> None:
    base = make_tiny_checkpoint("bert", tmp_path / "base", classes=("toxicity",), seed=1)
    other = make_tiny_checkpoint("bert", tmp_path / "other", classes=("toxicity",), seed=2)
    for weight, source in ((0.0, base), (1.0, other)):
        blended = blend_checkpoints(base, other, weight)["state_dict"]
        assert all(
            torch.allclose(tensor.float(), _state(source)[name].float())
            for name, tensor in blended.items()
        )


def test_blend__a_written_folder_loads_through_detoxify_and_scores_between(
    tmp_path: Path,
) -> None:
    base = make_tiny_checkpoint("bert", tmp_path / "base", classes=("toxicity",), seed=1)
    other = make_tiny_checkpoint("bert", tmp_path / "other", classes=("toxicity",), seed=2)
    written = write_blend(base.parent, other.parent, 0.5, tmp_path / "blend")

    assert written == tmp_path / "blend" / CHECKPOINT_NAME
    loaded = torch.load(written, map_location="cpu", weights_only=False)
    assert loaded["config"]["replyguard"]["blend"]["weight"] == 0.5
    scorer = load_scorer(str(written), model_dir=tmp_path, threads=1)
    scores = scorer.score(["you are a fool", "thanks for the report"])
    assert all(0.0 <= s["toxicity"] <= 1.0 for s in scores)


def test_blend__other_architectures_and_no_shared_label_are_refused(tmp_path: Path) -> None:
    base = make_tiny_checkpoint("bert", tmp_path / "base", classes=("toxicity",))
    roberta = make_tiny_checkpoint("roberta", tmp_path / "roberta", classes=("toxicity",))
    threat_only = make_tiny_checkpoint("bert", tmp_path / "threat", classes=("threat",))

    with pytest.raises(ValueError, match="not the same architecture"):
        blend_checkpoints(base, roberta, 0.5)
    with pytest.raises(ValueError, match="nothing to blend"):
        blend_checkpoints(base, threat_only, 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        blend_checkpoints(base, base, 1.5)


def test_blend_models_command__writes_a_loadable_folder_and_names_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli.main import main

    base = make_tiny_checkpoint("bert", tmp_path / "base", classes=("toxicity",), seed=1)
    other = make_tiny_checkpoint("bert", tmp_path / "other", classes=("toxicity",), seed=2)
    out = tmp_path / "blend"

    code = main(
        ["blend-models", str(base.parent), str(other.parent), "--weight", "0.4", "--out", str(out)]
    )

    assert code == 0
    assert (out / CHECKPOINT_NAME).is_file() and (out / "hf" / "vocab.txt").is_file()
    assert "moved 0.4 of the way" in capsys.readouterr().out
    assert (
        main(
            ["blend-models", str(tmp_path), str(other.parent), "--weight", "0.4", "--out", str(out)]
        )
        == 1
    )
    assert "holds no model.ckpt; give a model folder" in capsys.readouterr().err
    assert (
        main(
            [
                "blend-models",
                str(base.parent),
                str(other.parent),
                "--weight",
                "2",
                "--out",
                str(out),
            ]
        )
        == 1
    )
    assert "between 0 and 1" in capsys.readouterr().err


def test_staged_folder__replaces_keeps_a_folder_that_appeared_or_leaves_nothing_on_error(
    tmp_path: Path,
) -> None:
    from moderation.model_build import staged_folder

    dest = tmp_path / "model"
    with staged_folder(dest) as staging:
        (staging / CHECKPOINT_NAME).write_text("first")
    with staged_folder(dest) as staging:
        (staging / CHECKPOINT_NAME).write_text("second")
    assert (dest / CHECKPOINT_NAME).read_text() == "second"

    with staged_folder(dest, replace=False) as staging:  # another process got there first
        (staging / CHECKPOINT_NAME).write_text("third")
    assert (dest / CHECKPOINT_NAME).read_text() == "second"

    with pytest.raises(RuntimeError), staged_folder(dest) as staging:
        (staging / CHECKPOINT_NAME).write_text("half")
        raise RuntimeError("failed midway")
    assert (dest / CHECKPOINT_NAME).read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
