"""Free TCP ports on loopback for tests that start real listeners."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now (another process could still take it first)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
