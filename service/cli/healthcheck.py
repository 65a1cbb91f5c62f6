"""The container's health check (the Dockerfile's ``HEALTHCHECK``): ``python -m
service.cli.healthcheck`` exits 0 when the container's main process does its job.

``serve`` and ``web`` are healthy while their public listener answers ``GET /healthz``.
``worker`` and ``deliver`` listen on nothing: they are healthy while they run (the container
stops, and its restart policy acts, when they exit). The role and any ``--host``/``--port``
come from the main process's command line (``/proc/1/cmdline``), so ``docker run IMAGE web
--port 9000`` is checked where it listens; otherwise ``REPLYGUARD_HOST``/``REPLYGUARD_PORT``.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

ROLES = ("serve", "web", "worker", "deliver")
#: Addresses that mean "every interface": the check asks over loopback instead.
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


def _option(args: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def health_url(cmdline: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The ``/healthz`` URL to ask for the process started as ``cmdline``; None for a role
    that listens on nothing."""
    roles = [arg for arg in cmdline if arg in ROLES]
    role = roles[0] if roles else "serve"  # the image's default command
    if role not in ("serve", "web"):
        return None
    host = _option(cmdline, "--host") or environ.get("REPLYGUARD_HOST", "")
    port = _option(cmdline, "--port") or environ.get("REPLYGUARD_PORT", "") or "8080"
    host = "127.0.0.1" if host.strip() in _WILDCARDS else host.strip()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port.strip()}/healthz"


def main(cmdline_file: Path = Path("/proc/1/cmdline"), timeout: float = 5.0) -> int:
    """0 if healthy, 1 (with the reason on stderr) if not."""
    cmdline = cmdline_file.read_bytes().decode(errors="replace").split("\0")
    url = health_url(cmdline, os.environ)
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            healthy = bool(response.status == 200)
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
