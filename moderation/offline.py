"""Keeping transformers and huggingface_hub off the network: replyguard loads every model
from files it has (the package's default, or a folder named in the settings), never a hub."""

from __future__ import annotations

import os


def offline_hub() -> None:
    """Keep transformers and huggingface_hub off the network.

    Both read these variables when first imported, so this runs before any import of them.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
