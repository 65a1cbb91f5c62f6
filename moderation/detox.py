"""The Detoxify scorer: Detoxify's own loading code, offline, with length-bucketed batches.

Loading goes through ``detoxify.Detoxify(checkpoint=..., huggingface_config_path=...)``. One
detail of Detoxify's loader needs help offline: it builds the model config from the
checkpoint's ``model_type`` (a hub id such as ``bert-base-uncased`` in Detoxify's releases,
``"hf"`` in replyguard's) even when a config folder is given. While loading, the scorer wraps
Detoxify's ``get_model_and_tokenizer`` so that ``model_type`` is the local config folder; the
rest is Detoxify's code.

Scoring does what ``Detoxify.predict`` does (tokenise with truncation, run the model, sigmoid
per class) faster: texts are sorted by token count and cut into sub-batches with little
padding, run under ``torch.inference_mode``, and the results put back in input order.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

import torch

from moderation.domain import ModelInfo
from moderation.errors import ReplyguardError
from moderation.languages import DEFAULT_MODEL_LANGUAGES, declared_languages, languages_for_model
from moderation.model_build import CHECKPOINT_NAME, CONFIG_DIR_NAME, build_minilm_checkpoint
from moderation.model_specs import NAMED_MODELS
from moderation.offline import offline_hub
from moderation.scoring import Scorer

__all__ = [
    "DEFAULT_MODEL_DIR",
    "NAMED_MODELS",
    "DetoxifyScorer",
    "ModelUnavailableError",
    "Precision",
    "PrecisionUnavailableError",
    "load_scorer",
    "offline_hub",
    "resolve_model_folder",
]

log = logging.getLogger(__name__)

#: The trained default model shipped in the package.
DEFAULT_MODEL_DIR: Final = Path(__file__).resolve().parent / "default_model"
_UNTRAINED_DIR_NAME: Final = "default-untrained"

Precision = Literal["fp32", "int8", "bf16"]
PRECISIONS: Final[tuple[str, ...]] = get_args(Precision)

#: How far a precision mode's scores may stray from fp32's on the shared test data.
MAX_SCORE_DIFFERENCE: Final = 0.02
#: Largest |int8 - fp32| score measured by bench/scoring.py on the default model.
_INT8_MEASURED_DIFFERENCE: Final = 0.53

_LOAD_LOCK = threading.Lock()


class ModelUnavailableError(ReplyguardError):
    """The model asked for is not on this machine (or its files are incomplete)."""


class PrecisionUnavailableError(ReplyguardError):
    """The precision asked for is unknown, or this CPU cannot run it faithfully."""


@dataclass(frozen=True, slots=True)
class ModelFolder:
    """Where a model's checkpoint and Hugging Face config/tokenizer folder lie."""

    name: str
    checkpoint: Path
    config_dir: Path


def checkpoint_version(path: Path) -> str:
    """A short hash of the checkpoint file: a new checkpoint means a new model version."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:12]


def resolve_model_folder(
    spec: str, *, model_dir: Path, config_dir: Path | None = None
) -> ModelFolder:
    """Find the files for ``spec``: ``default``, a Detoxify model name, or a checkpoint path."""
    if spec == "default":
        return _default_folder(model_dir)
    if spec in NAMED_MODELS:
        folder = model_dir / spec
        try:
            checkpoint = _find_checkpoint(folder)
        except ModelUnavailableError:
            raise ModelUnavailableError(
                f"Detoxify model {spec!r} is not in {folder}. Run `replyguard download-model "
                f"{spec}` on a machine with network access (or copy its folder there)."
            ) from None
        return ModelFolder(f"detoxify-{spec}", checkpoint, _config_dir_for(checkpoint, config_dir))
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelUnavailableError(
            f"REPLYGUARD_MODEL={spec!r} is neither default, {', '.join(NAMED_MODELS)} "
            "nor an existing checkpoint file or model folder"
        )
    checkpoint = _find_checkpoint(path) if path.is_dir() else path
    name = checkpoint.parent.name if checkpoint.name == CHECKPOINT_NAME else checkpoint.stem
    return ModelFolder(name, checkpoint, _config_dir_for(checkpoint, config_dir))


def load_scorer(
    spec: str,
    *,
    model_dir: Path,
    threads: int | None,
    precision: str = "fp32",
    config_dir: Path | None = None,
) -> Scorer:
    """Load the model named by ``spec`` through Detoxify, fully offline; once per process.

    ``spec``: ``default`` (the model shipped in the package), ``original`` / ``unbiased`` /
    ``multilingual`` (from ``model_dir/NAME/``), or a path to a Detoxify-format checkpoint (its
    config/tokenizer folder ``hf/`` beside it, the folder holding it, or ``config_dir``).
    ``threads`` sets torch's thread count (None leaves torch's default). ``precision``:
    ``fp32``, ``bf16`` (autocast, where the CPU has bf16 instructions) or ``auto`` (bf16 where
    offered, else fp32). ``int8`` (dynamic quantisation of the linear layers) is refused: its
    scores stray too far from fp32's (``MAX_SCORE_DIFFERENCE``); ``DetoxifyScorer`` still runs
    it, for measurement.
    """
    mode = _check_precision(precision)
    folder = resolve_model_folder(spec, model_dir=model_dir, config_dir=config_dir)
    return DetoxifyScorer.from_folder(folder, threads=threads, precision=mode)


class DetoxifyScorer:
    """A Detoxify model behind the ``Scorer`` protocol, batching by length."""

    def __init__(
        self,
        detoxify: Any,
        *,
        model: ModelInfo,
        precision: Precision = "fp32",
        max_batch: int = 64,
        max_batch_tokens: int = 4096,
        max_padding: float = 0.1,
        languages: Sequence[str] = DEFAULT_MODEL_LANGUAGES,
    ) -> None:
        self._model_info = model
        self._languages = tuple(languages)
        self._tokenizer = detoxify.tokenizer
        self._labels: tuple[str, ...] = tuple(detoxify.class_names)
        self._precision = precision
        self._max_batch = max_batch
        self._max_batch_tokens = max_batch_tokens
        self._max_padding = max_padding
        net = detoxify.model.eval().float()
        limit = int(getattr(self._tokenizer, "model_max_length", 512) or 512)
        self._max_length = min(limit, 512)
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self._net = _apply_precision(net, precision)
        #: Token counts of the last ``score`` call: (real tokens, tokens run including padding).
        self.last_tokens: tuple[int, int] = (0, 0)

    @classmethod
    def from_folder(
        cls, folder: ModelFolder, *, threads: int | None, precision: Precision = "fp32"
    ) -> DetoxifyScorer:
        """Load a model folder through ``detoxify.Detoxify``."""
        if threads is not None:
            torch.set_num_threads(max(1, threads))
        detoxify = load_detoxify(folder)
        version = checkpoint_version(folder.checkpoint)
        if precision != "fp32":
            version = f"{version}+{precision}"
        languages = languages_for_model(folder.name, declared_languages(folder.checkpoint.parent))
        scorer = cls(
            detoxify,
            model=ModelInfo(folder.name, version),
            precision=precision,
            languages=languages,
        )
        log.info(
            "loaded model %s version %s (%d labels, languages %s, %s, %d threads)",
            folder.name,
            version,
            len(scorer.labels),
            ",".join(languages),
            precision,
            torch.get_num_threads(),
        )
        return scorer

    @property
    def model(self) -> ModelInfo:
        return self._model_info

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def languages(self) -> tuple[str, ...]:
        """ISO 639-1 codes of the languages the model reads (its card's, else by its name)."""
        return self._languages

    @property
    def precision(self) -> Precision:
        return self._precision

    @property
    def module(self) -> torch.nn.Module:
        """The torch module that runs (after quantisation, if any)."""
        return self._net

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        encoded = self._tokenizer(
            list(texts), truncation=True, max_length=self._max_length, padding=False
        )
        ids: list[list[int]] = encoded["input_ids"]
        results: list[dict[str, float]] = [{} for _ in ids]
        real = run = 0
        with torch.inference_mode(), self._autocast():
            for batch in length_batches(
                [len(x) for x in ids],
                max_batch=self._max_batch,
                max_tokens=self._max_batch_tokens,
                max_padding=self._max_padding,
            ):
                width = len(ids[batch[0]])
                input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, index in enumerate(batch):
                    seq = ids[index]
                    input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                    mask[row, : len(seq)] = 1
                    real += len(seq)
                run += len(batch) * width
                logits = self._net(input_ids=input_ids, attention_mask=mask)[0]
                probs = torch.sigmoid(logits.float())[:, : len(self._labels)].tolist()
                for row, index in enumerate(batch):
                    results[index] = dict(zip(self._labels, probs[row], strict=True))
        self.last_tokens = (real, run)
        return results

    def _autocast(self) -> Any:
        if self._precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)


def length_batches(
    lengths: Sequence[int], *, max_batch: int, max_tokens: int, max_padding: float
) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    A batch is padded to its first (longest) member; it is cut before it would exceed
    ``max_batch`` texts, ``max_tokens`` padded tokens, or a padding share of ``max_padding``.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    real = 0
    for index in order:
        n = lengths[index]
        if batch:
            width = lengths[batch[0]]
            size = len(batch) + 1
            padded = size * width
            if (
                size > max_batch
                or padded > max_tokens
                or (padded - real - n) > max_padding * padded
            ):
                yield batch
                batch, real = [], 0
        batch.append(index)
        real += n
    if batch:
        yield batch


def load_detoxify(folder: ModelFolder) -> Any:
    """``detoxify.Detoxify`` for a model folder, with no network access."""
    offline_hub()
    import detoxify.detoxify as detoxify_module
    import transformers

    hf_logging: Any = transformers.utils.logging
    hf_logging.disable_progress_bar()
    original = detoxify_module.get_model_and_tokenizer
    config_dir = folder.config_dir
    configured_labels = _config_num_labels(config_dir)

    def local_model_and_tokenizer(
        model_type: str,
        model_name: str,
        tokenizer_name: str,
        num_classes: int,
        state_dict: Any,
        huggingface_config_path: str | None = None,
    ) -> Any:
        # Detoxify passes the config folder's config.json to the model as is; when it lacks
        # the right label count, let Detoxify build the config from the folder instead.
        return original(
            model_type=str(config_dir),
            model_name=model_name,
            tokenizer_name=tokenizer_name,
            num_classes=num_classes,
            state_dict=state_dict,
            huggingface_config_path=(
                huggingface_config_path if configured_labels == num_classes else None
            ),
        )

    with _LOAD_LOCK:
        detoxify_module.get_model_and_tokenizer = local_model_and_tokenizer
        try:
            return detoxify_module.Detoxify(
                checkpoint=str(folder.checkpoint), huggingface_config_path=str(config_dir)
            )
        finally:
            detoxify_module.get_model_and_tokenizer = original


def cpu_supports_bf16() -> bool:
    """Whether the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _check_precision(precision: str) -> Precision:
    if precision == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    if precision not in PRECISIONS:
        raise PrecisionUnavailableError(
            f"unknown precision {precision!r}; choose one of auto, {', '.join(PRECISIONS)}"
        )
    if precision == "bf16" and not cpu_supports_bf16():
        raise PrecisionUnavailableError(
            "bf16 needs a CPU with AVX512-BF16 or AMX instructions, and this one has neither: "
            "use fp32"
        )
    if precision == "int8":
        raise PrecisionUnavailableError(
            "int8 is not offered: dynamic int8 quantisation moved the default model's scores "
            f"by up to {_INT8_MEASURED_DIFFERENCE} from fp32 on the shared test data, past the "
            f"{MAX_SCORE_DIFFERENCE} a precision mode may differ (see bench/README.md); use "
            "bf16 where the CPU has it, or fp32"
        )
    return cast(Precision, precision)


def _apply_precision(net: torch.nn.Module, precision: Precision) -> torch.nn.Module:
    if precision != "int8":
        return net
    # Dynamic quantisation: int8 weights for the linear layers, activations quantised per
    # batch. torch marks the eager quantisation API deprecated in favour of torchao, which
    # this project does not depend on; the call still works, and only its notice is hidden.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings(
            "ignore", message=r"torch\.quantize_per_tensor, .* are deprecated", category=UserWarning
        )
        from torch.ao.quantization import quantize_dynamic

        quantize: Any = quantize_dynamic
        quantized: torch.nn.Module = quantize(net, {torch.nn.Linear}, dtype=torch.qint8)
    return quantized


def _find_checkpoint(folder: Path) -> Path:
    preferred = folder / CHECKPOINT_NAME
    if preferred.is_file():
        return preferred
    found = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise ModelUnavailableError(f"{what} Detoxify checkpoint (*.ckpt) in {folder}")
    return found[0]


def _config_dir_for(checkpoint: Path, given: Path | None) -> Path:
    candidates = (
        [given] if given is not None else [checkpoint.parent / CONFIG_DIR_NAME, checkpoint.parent]
    )
    for candidate in candidates:
        if candidate is not None and (candidate / "config.json").is_file():
            return candidate
    where = " or ".join(str(c) for c in candidates if c is not None)
    raise ModelUnavailableError(
        f"no Hugging Face config folder (config.json and tokenizer files) for {checkpoint}: "
        f"looked in {where}"
    )


def _config_num_labels(config_dir: Path) -> int | None:
    import json

    try:
        config = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if "id2label" in config:
        return len(config["id2label"])
    num = config.get("num_labels")
    return int(num) if num is not None else None


def _default_folder(model_dir: Path) -> ModelFolder:
    shipped = DEFAULT_MODEL_DIR / CHECKPOINT_NAME
    if shipped.is_file():
        return ModelFolder("replyguard-minilm", shipped, _config_dir_for(shipped, None))
    folder = model_dir / _UNTRAINED_DIR_NAME
    checkpoint = folder / CHECKPOINT_NAME
    log.warning(
        "the trained default model is missing from %s: using all-MiniLM-L6-v2 with an "
        "UNTRAINED classification head from %s. Its scores are meaningless; decisions will "
        "follow the policy thresholds at random.",
        DEFAULT_MODEL_DIR,
        folder,
    )
    if not checkpoint.is_file():
        log.warning("building the untrained-head default checkpoint in %s (first use)", folder)
        build_minilm_checkpoint(
            folder, extra={"name": "replyguard-minilm-untrained"}, replace=False
        )
    return ModelFolder("replyguard-minilm-untrained", checkpoint, _config_dir_for(checkpoint, None))
