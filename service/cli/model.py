"""The model commands of ``replyguard``: ``train``, ``evaluate`` and ``download-model``.

``train --from-decisions --site S`` makes a site's candidate model from its moderators'
decisions (``moderation.site_training``): this module reads them from the database and the
site's ``hold_at`` for toxicity, and hands plain values to the domain.

``evaluate`` scores with the model the worker would use (``REPLYGUARD_MODEL``,
``REPLYGUARD_MODEL_DIR``, ``REPLYGUARD_SCORER_THREADS``, ``REPLYGUARD_SCORER_PRECISION``).
``download-model`` is the one command that uses the network: it stores a Detoxify release
and its Hugging Face config/tokenizer files as a model folder, so workers load it offline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moderation.domain import MAIN_LABEL, ModeratorDecision
from service.cli.common import EXIT_CONFIG, admin_engine, existing_database, sites_exist
from service.cli.extras import scoring_installed
from service.cli.progress import add_quiet_flag, progress_bar
from service.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from moderation.training import TrainSettings

__all__ = ["add_model_commands"]

#: The Hugging Face files a Detoxify model folder needs, by tokenizer family.
_HF_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
)


def add_model_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``train``, ``evaluate`` and ``download-model``; each sets ``func``."""
    train = subparsers.add_parser(
        "train",
        help="fine-tune the default model (all-MiniLM-L6-v2) on labeled data",
        description="Fine-tune all-MiniLM-L6-v2 as a classifier over --labels and write a "
        "Detoxify-format model folder with its model card. With --data-dir the rows come from "
        "the shared labeled sources (mapping in moderation/training_data.py); else from --train "
        "and --val. MODEL_CARD.md in the default model's folder gives the command that made it. "
        "With --from-decisions --site S it fine-tunes the configured model (REPLYGUARD_MODEL, or "
        "--init-from) on the site's moderator decisions plus a sample of --data-dir, holds out "
        "the newest 20% of the decisions and reports both models on them.",
    )
    train.add_argument(
        "--from-decisions",
        action="store_true",
        help="learn from a site's moderator decisions (needs --site and --data-dir)",
    )
    train.add_argument("--site", default=None, help="the site whose decisions to learn from")
    train.add_argument(
        "--decision-weight",
        type=int,
        default=None,
        help="times each decision is used (default: enough for the decisions to make about a "
        "quarter of the training rows, up to a cap: see the README)",
    )
    train.add_argument("--data-dir", type=Path, default=None, help="shared labeled data folder")
    train.add_argument(
        "--extra", type=Path, action="append", default=[], help="hand-written CSV (repeatable)"
    )
    train.add_argument("--extra-repeat", type=int, default=1, help="times each --extra row is used")
    train.add_argument(
        "--exclude", type=Path, action="append", default=[], help="held-out CSV to keep out"
    )
    train.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="LABEL:SOURCE[,SOURCE]",
        help="with --data-dir: rows of these sources leave LABEL masked (repeatable; sources as "
        "the card's row counts name them, e.g. toxicity:hatexplain)",
    )
    train.add_argument(
        "--select-on",
        default="",
        metavar="SET:LABEL[,SET:LABEL]",
        help="validation figures whose mean picks the best step (default: all of them), e.g. "
        "olid_val:toxicity,hatexplain_val:identity_attack",
    )
    train.add_argument(
        "--labels",
        default="toxicity",
        help="comma-separated labels (Detoxify names; --from-decisions keeps the starting model's)",
    )
    train.add_argument("--train", type=Path, default=None, help="CSV: text and label columns")
    train.add_argument("--val", type=Path, default=None, help="validation CSV (best step)")
    train.add_argument(
        "--test", type=Path, action="append", default=[], help="test CSV (repeatable)"
    )
    train.add_argument("--out", type=Path, default=None, help="model folder to write")
    train.add_argument(
        "--rows",
        type=int,
        default=None,
        help=f"N training rows: a seeded sample of --data-dir's, or --train's first (0: all; "
        f"default {_ROWS:,}, with --from-decisions {_DECISION_ROWS:,})",
    )
    train.add_argument("--max-length", type=int, default=64, help="tokens per text")
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--eval-every", type=int, default=50, help="steps between validations")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=None, help="torch threads")
    train.add_argument(
        "--init-from", type=Path, default=None, help="model folder to continue training from"
    )
    train.add_argument(
        "--heads-only",
        action="store_true",
        help="keep --init-from's encoder and head rows; train only the new labels' rows",
    )
    train.add_argument(
        "--head-lrs",
        default="0.001,0.003,0.01",
        help="learning rates tried with --heads-only (comma-separated; best by validation)",
    )
    train.add_argument(
        "--stop-after", type=float, default=None, help="stop early after this many seconds"
    )
    train.add_argument("--fp32", action="store_true", help="store fp32 (default: fp16)")
    train.set_defaults(func=cmd_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a labeled CSV and print ROC-AUC, precision/recall/F1 per label",
        description="Score a labeled CSV (text plus one 0/1 column per label; a lone 'label' "
        "column means toxicity) with the configured model (REPLYGUARD_MODEL).",
    )
    evaluate.add_argument("--data", type=Path, required=True, help="labeled CSV")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--precision-target",
        type=float,
        default=0.9,
        help="report the threshold that reaches this precision (default 0.9)",
    )
    evaluate.add_argument("--limit", type=int, default=None, help="score only the first N rows")
    add_quiet_flag(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    download = subparsers.add_parser(
        "download-model",
        help="fetch a Detoxify model (needs network) into the model folder",
        description="Fetch a Detoxify release checkpoint and its Hugging Face config and "
        "tokenizer files, and store them under REPLYGUARD_MODEL_DIR/NAME/ for offline use.",
    )
    download.add_argument("name", choices=("original", "unbiased", "multilingual"))
    download.add_argument("--force", action="store_true", help="replace a stored copy")
    download.set_defaults(func=cmd_download_model)

    blend = subparsers.add_parser(
        "blend-models",
        help="write a model whose every weight lies between two models' (same encoder)",
        description="Move every weight of BASE a share (--weight) of the way towards OTHER's, "
        "head rows for the labels both score; BASE's labels and tokenizer. Both must be "
        "fine-tunings of one architecture (the default model's line: see its model card).",
    )
    blend.add_argument("base", type=Path, help="model folder whose labels the blend keeps")
    blend.add_argument("other", type=Path, help="model folder to move towards")
    blend.add_argument("--weight", type=float, required=True, help="0 (BASE) to 1 (OTHER)")
    blend.add_argument("--out", type=Path, required=True, help="model folder to write")
    blend.set_defaults(func=cmd_blend_models)


#: Shared rows sampled for ``train``, and beside a site's decisions: with a few hundred
#: decisions, about a quarter of an hour on 2 CPU cores for the default model (README).
_ROWS = 16_000
_DECISION_ROWS = 3_000
#: The newest decisions read from a site (an offline read, bounded all the same).
_MAX_DECISIONS = 20_000


def _settings(args: argparse.Namespace) -> Settings:
    settings = getattr(args, "settings", None)
    return settings if isinstance(settings, Settings) else load_settings()


def cmd_train(args: argparse.Namespace) -> int:
    if not scoring_installed("train"):
        return EXIT_CONFIG
    from moderation.detox import DEFAULT_MODEL_DIR
    from moderation.training import train

    given = [args.train, args.val, *args.test, *args.extra, *args.exclude]
    for path in given:
        if path is not None and not path.is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return 2
    if args.heads_only and (args.init_from is None or args.from_decisions):
        print(
            "error: --heads-only keeps a trained model's encoder and trains only labels it lacks: "
            "give --init-from, and leave it out with --from-decisions (which tunes toxicity)",
            file=sys.stderr,
        )
        return 2
    try:
        head_rates = tuple(float(x) for x in args.head_lrs.split(",") if x.strip())
    except ValueError:
        head_rates = ()
    if not head_rates or any(not 0 < r < 1 for r in head_rates):
        print(
            f"error: --head-lrs: comma-separated rates in (0, 1), not {args.head_lrs!r}",
            file=sys.stderr,
        )
        return 2
    try:
        args.label_masks = _label_masks(args.mask)
    except ValueError as exc:
        print(f"error: --mask: {exc}", file=sys.stderr)
        return 2
    if args.from_decisions:
        return _train_from_decisions(args, head_rates)
    if args.data_dir is None and (args.train is None or args.val is None):
        print("error: give --data-dir, or both --train and --val", file=sys.stderr)
        return 2
    out_dir = args.out or DEFAULT_MODEL_DIR
    train(_train_settings(args, out_dir=out_dir, init_from=args.init_from, head_rates=head_rates))
    return 0


def _label_masks(given: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``--mask`` values (``label:source,source``) as ``TrainSettings.label_masks``."""
    from moderation.training_data import TRAIN_LABELS

    masks: dict[str, tuple[str, ...]] = {}
    for value in given:
        label, _, listed = value.partition(":")
        sources = tuple(s.strip() for s in listed.split(",") if s.strip())
        if label.strip() not in TRAIN_LABELS or not sources:
            raise ValueError(
                f"{value!r}: write LABEL:SOURCE[,SOURCE], LABEL one of {', '.join(TRAIN_LABELS)}"
            )
        masks[label.strip()] = masks.get(label.strip(), ()) + sources
    return tuple(masks.items())


def _train_settings(
    args: argparse.Namespace,
    *,
    out_dir: Path,
    init_from: Path | None,
    head_rates: tuple[float, ...],
) -> TrainSettings:
    """The ``TrainSettings`` the options give (``head_rates``: ``--head-lrs``, checked)."""
    from moderation.training import TrainSettings

    default_rows = _DECISION_ROWS if args.from_decisions else _ROWS
    return TrainSettings(
        train_csv=args.train,
        val_csv=args.val,
        out_dir=out_dir,
        test_csvs=tuple(args.test),
        data_dir=args.data_dir,
        extra_csvs=tuple(args.extra),
        extra_repeat=args.extra_repeat,
        exclude_csvs=tuple(args.exclude),
        labels=tuple(label.strip() for label in args.labels.split(",") if label.strip()),
        rows=(default_rows if args.rows is None else args.rows) or None,
        max_length=args.max_length,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        seed=args.seed,
        threads=args.threads,
        fp16=not args.fp32,
        stop_after_seconds=args.stop_after,
        init_from=init_from,
        heads_only=args.heads_only,
        label_masks=getattr(args, "label_masks", ()),
        select_on=tuple(k.strip() for k in args.select_on.split(",") if k.strip()),
        head_learning_rates=head_rates,
    )


def _train_from_decisions(args: argparse.Namespace, head_rates: tuple[float, ...]) -> int:
    """Check the options, the starting model, the database and the site before any training;
    each failure says what was wrong on one line."""
    from moderation.detox import ModelUnavailableError, resolve_model_folder
    from moderation.model_build import CHECKPOINT_NAME, CONFIG_DIR_NAME
    from moderation.site_training import TooFewDecisions, train_from_decisions

    if args.site is None or args.data_dir is None:
        print(
            "error: --from-decisions needs --site SITE (whose decisions) and --data-dir DIR "
            "(the shared labeled data trained beside them, see moderation/training_data.py)",
            file=sys.stderr,
        )
        return 2
    settings = _settings(args)
    start: Path | None = args.init_from
    if start is None:
        try:
            folder = resolve_model_folder(settings.model, model_dir=settings.models_path)
        except ModelUnavailableError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_CONFIG
        start = folder.checkpoint.parent
    if not (start / CHECKPOINT_NAME).is_file() or not (start / CONFIG_DIR_NAME).is_dir():
        print(
            f"error: the starting model {start} is not a replyguard model folder "
            f"({CHECKPOINT_NAME} and {CONFIG_DIR_NAME}/): start from the default model or an "
            "earlier candidate (--init-from FOLDER, or REPLYGUARD_MODEL)",
            file=sys.stderr,
        )
        return 2
    out_dir: Path = args.out or settings.models_path / f"candidate-{args.site}"
    if out_dir.resolve() == start.resolve():
        print(
            f"error: --out {out_dir} is the starting model's folder: name another", file=sys.stderr
        )
        return 2
    database = existing_database(settings)
    if database is None:
        return 2
    found = asyncio.run(_site_decisions(database, args.site))
    if found is None:
        return 2
    hold_at, decisions = found
    try:
        train_from_decisions(
            args.site,
            decisions,
            _train_settings(args, out_dir=out_dir, init_from=start, head_rates=head_rates),
            hold_at=hold_at,
            weight=args.decision_weight,
            out=sys.stdout,
        )
    except TooFewDecisions as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out_dir}: use it as REPLYGUARD_MODEL={out_dir.resolve()} or as a shadow model")
    return 0


async def _site_decisions(
    settings: Settings, site_id: str
) -> tuple[float | None, list[ModeratorDecision]] | None:
    """The site's toxicity ``hold_at`` and its newest decisions; None (said) if no such site."""
    from service.store.decisions import DecisionStore
    from service.store.sites import SiteStore

    async with admin_engine(settings) as engine:
        if not await sites_exist(engine, [site_id]):
            return None
        site = await SiteStore(engine).get(site_id)
        decisions = await DecisionStore(engine).site_decisions(site_id, _MAX_DECISIONS)
    limits = site.policy.thresholds.get(MAIN_LABEL)
    return (None if limits is None else limits.hold_at), decisions


def cmd_evaluate(args: argparse.Namespace) -> int:
    if not scoring_installed("evaluate"):
        return EXIT_CONFIG
    from moderation.detox import load_scorer
    from moderation.errors import ReplyguardError
    from moderation.evaluation import evaluate, read_labeled_csv, report_json, report_text

    try:
        settings = _settings(args)
        data = read_labeled_csv(args.data, limit=args.limit)
        scorer = load_scorer(
            settings.model,
            model_dir=settings.models_path,
            threads=settings.scorer_threads,
            precision=settings.scorer_precision,
        )
        quiet = args.quiet or args.json
        with progress_bar(len(data.texts), "scoring", unit="rows", quiet=quiet) as bar:
            reports = evaluate(
                scorer, data, precision_target=args.precision_target, progress=bar.update
            )
    except (OSError, ValueError, SettingsError, ReplyguardError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        payload = report_json(reports)
        for entry in payload.values():
            entry["model"] = {"name": scorer.model.name, "version": scorer.model.version}
        print(json.dumps(payload))
    else:
        title = (
            f"{args.data} scored by {scorer.model.name} {scorer.model.version} "
            f"({len(data.texts)} rows)"
        )
        print(report_text(reports, title=title))
    return 0


def cmd_download_model(args: argparse.Namespace) -> int:
    if not scoring_installed("download-model"):
        return EXIT_CONFIG
    settings = _settings(args)
    dest = settings.models_path / args.name
    if dest.is_dir() and any(dest.glob("*.ckpt")) and not args.force:
        print(f"{args.name} is already stored in {dest} (--force to fetch it again)")
        return 0
    try:
        folder = download_detoxify_model(args.name, dest)
    except _OfflineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"stored Detoxify {args.name!r} in {folder}; use it with REPLYGUARD_MODEL={args.name}")
    return 0


def cmd_blend_models(args: argparse.Namespace) -> int:
    if not scoring_installed("blend-models"):
        return EXIT_CONFIG
    from moderation.blending import write_blend
    from moderation.model_build import CHECKPOINT_NAME

    for folder in (args.base, args.other):
        if not (folder / CHECKPOINT_NAME).is_file():
            print(
                f"error: {folder} holds no {CHECKPOINT_NAME}; give a model folder", file=sys.stderr
            )
            return 1
    try:
        checkpoint = write_blend(args.base, args.other, args.weight, args.out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {checkpoint}: {args.base} moved {args.weight} of the way towards {args.other}")
    return 0


class _OfflineError(RuntimeError):
    pass


def download_detoxify_model(name: str, dest: Path) -> Path:
    """Fetch Detoxify's ``name`` release and its hub files into the model folder ``dest``.

    Reuses torch's hub cache (``$TORCH_HOME/hub/checkpoints``) and the Hugging Face cache when
    they hold the files, so a machine with filled caches needs no network.
    """
    import torch
    from detoxify.detoxify import MODEL_URLS

    from moderation.model_build import staged_folder

    url = MODEL_URLS[name]
    filename = url.rsplit("/", 1)[-1]
    with staged_folder(dest) as staging:
        checkpoint = staging / filename
        cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
        if cached.is_file():
            shutil.copyfile(cached, checkpoint)
        else:
            try:
                torch.hub.download_url_to_file(url, str(checkpoint), progress=True)
            except OSError as error:
                raise _OfflineError(
                    f"could not fetch {url} ({error}). download-model needs network access, "
                    f"or {filename} in {cached.parent}/ and {name}'s config and tokenizer in "
                    "the Hugging Face cache; or copy a model folder made elsewhere to "
                    f"{dest}/"
                ) from error
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
        arch: Mapping[str, Any] = loaded["config"]["arch"]["args"]
        classes: list[str] = list(loaded["config"]["dataset"]["args"]["classes"])
        del loaded
        _fetch_hub_files(str(arch["model_type"]), staging / "hf")
        _set_num_labels(staging / "hf" / "config.json", int(arch["num_classes"]), classes)
    return dest


def _fetch_hub_files(repo_id: str, target: Path) -> None:
    from huggingface_hub import snapshot_download

    patterns = list(_HF_FILES)
    try:
        snapshot = snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True)
    except Exception:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise _OfflineError(
                f"{repo_id} is not in the Hugging Face cache and HF_HUB_OFFLINE is set"
            ) from None
        try:
            snapshot = snapshot_download(repo_id, allow_patterns=patterns)
        except Exception as error:
            raise _OfflineError(
                f"could not fetch the config and tokenizer of {repo_id} from the Hugging Face "
                f"hub ({type(error).__name__}: {error}). download-model needs network access."
            ) from error
    target.mkdir(parents=True, exist_ok=True)
    for name in _HF_FILES:
        source = Path(snapshot) / name
        if source.is_file():
            shutil.copyfile(source, target / name)
    if not (target / "config.json").is_file():
        raise _OfflineError(f"{repo_id} on the Hugging Face hub has no config.json")


def _set_num_labels(config_path: Path, num_classes: int, classes: list[str]) -> None:
    """Detoxify passes this config.json to the model as is: it must carry the head's size."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    names = {
        str(i): (classes[i] if i < len(classes) else f"output_{i}") for i in range(num_classes)
    }
    config["id2label"] = names
    config["label2id"] = {v: int(k) for k, v in names.items()}
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
