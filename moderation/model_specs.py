"""Model specs, as ``REPLYGUARD_MODEL``, the shadow models and promotions name models, checked
without loading anything (the web process may run without the scoring extra).

A spec is ``default`` (the model shipped in the package), one of Detoxify's released models
(``NAMED_MODELS``, stored under the models folder by ``replyguard download-model``) or a path
to a Detoxify checkpoint or a model folder holding one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["MAX_SPEC_CHARS", "NAMED_MODELS", "spec_problem"]

#: Detoxify's released models, stored by ``replyguard download-model`` under ``model_dir/NAME``.
NAMED_MODELS: Final = ("original", "unbiased", "multilingual")
MAX_SPEC_CHARS: Final = 500


def spec_problem(spec: str, *, model_dir: Path) -> str | None:
    """Why ``spec`` names no model this machine has (None: it does). A spec that passes may
    still fail to load (a broken checkpoint): the workers report that."""
    if spec == "default":
        return None
    if spec in NAMED_MODELS:
        if (model_dir / spec).is_dir():
            return None
        return (
            f"Detoxify model {spec!r} is not in {model_dir / spec}: run `replyguard "
            f"download-model {spec}` on a machine with network access, or copy its folder there"
        )
    try:
        if Path(spec).expanduser().exists():
            return None
    except (OSError, RuntimeError):  # a name too long for the file system; "~nobody"
        pass
    return (
        f"{spec!r} is neither default, {', '.join(NAMED_MODELS)} nor a checkpoint file or "
        "model folder on this server (give a path the workers can read too)"
    )
