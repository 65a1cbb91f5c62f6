"""Weight blending: one model whose every weight lies between two fine-tunings of one encoder.

Two models fine-tuned from the same start (here: the one-label ``replyguard-minilm`` and the
4-label default model that was warm-started from it) can be averaged weight by weight; the
blend often generalises better than either to text unlike their training data (Wortsman et
al., "Robust fine-tuning of zero-shot models", 2022). ``blend_checkpoints`` takes every weight
of ``base`` and moves it ``weight`` of the way towards ``other``'s. The classification head is
blended row by row for the labels both models score; a label only ``base`` scores keeps its
row. The result is a Detoxify checkpoint of ``base``'s shape and labels, loaded by Detoxify's
own code like any other.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from moderation.model_build import CHECKPOINT_NAME, CONFIG_DIR_NAME, staged_folder
from moderation.training import loaded_labels


def blend_checkpoints(base: Path, other: Path, weight: float) -> dict[str, Any]:
    """``base``'s checkpoint with every weight moved ``weight`` (0-1) towards ``other``'s.

    Raises ValueError when the two do not share an architecture (a tensor missing from
    ``other`` or of another shape, except the head's rows) or share no label.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0 and 1, not {weight}")
    ours = torch.load(base, map_location="cpu", weights_only=False)
    theirs = torch.load(other, map_location="cpu", weights_only=False)
    labels, other_labels = loaded_labels(ours), loaded_labels(theirs)
    shared = [label for label in labels if label in other_labels]
    if not shared:
        raise ValueError(
            f"{other} scores none of {base}'s labels ({', '.join(labels)}): nothing to blend"
        )
    state: dict[str, torch.Tensor] = {}
    for name, tensor in ours["state_dict"].items():
        if name.startswith("classifier."):
            continue
        given = theirs["state_dict"].get(name)
        if given is None or given.shape != tensor.shape:
            raise ValueError(
                f"{other} is not the same architecture as {base}: its {name!r} is "
                f"{'missing' if given is None else tuple(given.shape)}, not {tuple(tensor.shape)}"
            )
        state[name] = _between(tensor, given, weight)
    for name in ("classifier.weight", "classifier.bias"):
        head = ours["state_dict"][name].clone()
        for label in shared:
            row, other_row = labels.index(label), other_labels.index(label)
            head[row] = _between(head[row], theirs["state_dict"][name][other_row], weight)
        state[name] = head
    config = dict(ours["config"])
    notes = dict(config.get("replyguard") or {})
    notes["blend"] = {
        "base": base.parent.name,
        "other": other.parent.name,
        "weight": weight,
        "labels_blended": shared,
    }
    config["replyguard"] = notes
    return {"config": config, "state_dict": state}


def write_blend(base_folder: Path, other_folder: Path, weight: float, dest: Path) -> Path:
    """Write the blend of two model folders as a model folder (``base``'s ``hf/`` beside it).

    The folder is written beside ``dest`` and renamed into place. Returns the checkpoint.
    """
    checkpoint = blend_checkpoints(
        base_folder / CHECKPOINT_NAME, other_folder / CHECKPOINT_NAME, weight
    )
    with staged_folder(dest) as staging:
        shutil.copytree(base_folder / CONFIG_DIR_NAME, staging / CONFIG_DIR_NAME)
        torch.save(checkpoint, staging / CHECKPOINT_NAME)
    return dest / CHECKPOINT_NAME


def _between(ours: torch.Tensor, theirs: torch.Tensor, weight: float) -> torch.Tensor:
    """``ours`` moved ``weight`` of the way to ``theirs``, computed in fp32, stored as ours."""
    if not ours.is_floating_point():
        return ours.clone()
    blended = ours.float() * (1.0 - weight) + theirs.float() * weight
    return blended.to(ours.dtype)
