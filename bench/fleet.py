"""Shared by ``faults.py`` and ``soak.py``: a PostgreSQL cluster of the bench's own, a fresh
database in it, and replyguard web and worker processes that are started, watched, killed
and started again.

Each process is a real ``python -m service web|worker``, as an operator runs it. A slot
keeps one such process alive: when it exits, the slot starts another (at once after an
exit the bench caused, after a second otherwise) until the fleet is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

REPO = Path(__file__).resolve().parents[1]
SITE = "bench"
#: The shared cluster other engineers' tests run against: never restarted from here.
SHARED_PORT = 5432


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


# --- PostgreSQL ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """A ``pg_ctlcluster`` cluster (Debian's postgresql-common) this bench may restart."""

    version: str
    name: str
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def ensure(cls, name: str, port: int) -> Cluster:
        """Create the cluster if missing (trust auth, 127.0.0.1 only), start it if down."""
        if port == SHARED_PORT or name == "main":
            raise SystemExit(f"refusing to use cluster {name!r} on port {port}: it is shared")
        versions = sorted(
            os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")]
        )
        if not versions:
            raise SystemExit("no PostgreSQL installed (/etc/postgresql is empty)")
        existing = _clusters()
        if name in existing:
            version, found_port = existing[name]
            if found_port != port:
                raise SystemExit(f"cluster {name!r} exists on port {found_port}, not {port}")
        else:
            version = versions[-1]
            _run(["pg_createcluster", version, name, "--port", str(port), "--", "--auth=trust"])
        cluster = cls(version, name, port)
        if not _ready(port):
            _run(cluster._ctl("start"))
        deadline = time.monotonic() + 60
        while not _ready(port):
            if time.monotonic() > deadline:
                raise SystemExit(f"cluster {name!r} did not come up on port {port}")
            time.sleep(0.5)
        return cluster

    def _ctl(self, *action: str) -> list[str]:
        return ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, *action]

    async def ctl(self, *action: str) -> float:
        """Run ``pg_ctlcluster VERSION NAME ACTION...``; returns the seconds it took."""
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *self._ctl(*action), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        if proc.returncode != 0:
            raise RuntimeError(f"pg_ctlcluster {' '.join(action)} failed: {err.decode()}")
        return time.monotonic() - started


def _clusters() -> dict[str, tuple[str, int]]:
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    found = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            found[parts[1]] = (parts[0], int(parts[2]))
    return found


def _ready(port: int) -> bool:
    probe = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.run(probe, check=False).returncode == 0


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


async def fresh_database(admin_url: str, name: str, policy: dict[str, Any]) -> str:
    """Drop and create database ``name``, apply ``schema.sql`` and add the bench's site."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_db(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute((REPO / "schema.sql").read_text())
        await conn.execute(
            "INSERT INTO sites (id, name, allowed_origins, policy)"
            " VALUES ($1, 'Bench', '{}', CAST($2 AS jsonb))",
            SITE,
            json.dumps(policy),
        )
    finally:
        await conn.close()
    return url


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# --- replyguard processes -----------------------------------------------------------------


@dataclass
class Slot:
    """One web or worker process kept running; what happened to each of its processes."""

    role: str
    index: int
    port: int | None
    log: IO[bytes]
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    #: Why the bench is about to end the current process ("kill", "term"), else None.
    planned: str | None = None
    starts: int = 0
    exits: list[tuple[str, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.role}{self.index}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "service", self.role]
        if self.port is not None:
            # /readyz and /metrics are not read here: any free port for the operations listener.
            cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--ops-port", "0"]
        return cmd

    def unplanned_exits(self) -> list[int]:
        return [code for why, code in self.exits if why == "crash"]


class Fleet:
    """``webs`` web processes on the given ports and ``workers`` workers, kept running."""

    def __init__(self, env: dict[str, str], run_dir: Path, ports: list[int], workers: int):
        self.env = env
        run_dir.mkdir(parents=True, exist_ok=True)
        self.webs = [
            Slot("web", i, port, (run_dir / f"web{i}.log").open("ab"))
            for i, port in enumerate(ports)
        ]
        self.workers = [
            Slot("worker", i, None, (run_dir / f"worker{i}.log").open("ab")) for i in range(workers)
        ]
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def slots(self) -> list[Slot]:
        return [*self.webs, *self.workers]

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(s), name=s.name) for s in self.slots]

    async def _keep(self, slot: Slot) -> None:
        while not self._stopping:
            slot.proc = await asyncio.create_subprocess_exec(
                *slot.command(),
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=slot.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            slot.started_at = time.monotonic()
            slot.starts += 1
            code = await slot.proc.wait()
            why = slot.planned or ("stop" if self._stopping else "crash")
            slot.planned = None
            slot.exits.append((why, code))
            if why == "crash" and not self._stopping:
                await asyncio.sleep(1.0)

    def kill(self, slot: Slot) -> None:
        """SIGKILL the slot's process; the slot starts a new one at once."""
        assert slot.proc is not None
        slot.planned = "kill"
        slot.proc.send_signal(signal.SIGKILL)

    async def terminate(self, slot: Slot, within: float) -> float:
        """SIGTERM the slot's process and wait for it to exit (SIGKILL after ``within``
        seconds); returns how long it took. The slot then starts a new one."""
        proc = slot.proc
        assert proc is not None
        slot.planned = "term"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            slot.planned = "term-killed"
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        return time.monotonic() - started

    async def wait_web(self, slot: Slot, within: float) -> bool:
        """Whether the slot's web process answers /healthz within ``within`` seconds."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(slot.base + "/healthz", timeout=_timeout(2)) as r:
                        if r.status == 200:
                            return True
                await asyncio.sleep(0.2)
        return False

    async def stop(self, within: float = 30.0) -> None:
        """SIGTERM every process, SIGKILL what is left after ``within`` seconds."""
        self._stopping = True
        live = [s.proc for s in self.slots if s.proc is not None and s.proc.returncode is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in live)), within)
        for proc in live:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for slot in self.slots:
            slot.log.close()


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB, from /proc (None when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment for replyguard processes: the database, no rate limits in the way
    of a bench driving everything from 127.0.0.1, and any ``REPLYGUARD_*`` overrides."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
        "REPLYGUARD_LOG_LEVEL": "WARNING",
        "REPLYGUARD_RATE_PER_NETWORK": "1000000",
        "REPLYGUARD_RATE_PER_AUTHOR": "1000000",
        "REPLYGUARD_RATE_PER_SITE": "1000000",
    }
    env.update({f"REPLYGUARD_{k.upper()}": v for k, v in settings.items()})
    return env
