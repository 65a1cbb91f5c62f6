"""The ``replyguard`` command: serve, web, worker, create-token, create-user, migrate,
the staff commands (``service.cli.staff``), and the model commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from service import logs
from service.cli.common import (
    EXIT_CONFIG,
    admin_engine,
    cli_actor,
    existing_database,
    prepare,
    sites_exist,
    sites_for_role,
    with_database,
)
from service.cli.extras import scoring_installed
from service.cli.progress import add_quiet_flag, progress_bar
from service.errors import SchemaTooNewError
from service.settings import Settings, SettingsError, load_settings
from service.times import iso

if TYPE_CHECKING:
    from service.web import serving

log = logging.getLogger("replyguard")


# --- web ----------------------------------------------------------------------------------


def _listen_addresses(
    args: argparse.Namespace, *, probe: bool
) -> tuple[serving.Address, serving.Address] | None:
    """The public and operations addresses from the options and settings; with ``probe``,
    also check that both are free. None (after one line on stderr) if they cannot be had."""
    from service.web import serving

    try:
        addresses = serving.addresses(
            args.settings, args.host, args.port, args.ops_host, args.ops_port
        )
        for address in addresses if probe else ():
            serving.check_free(address)
    except serving.CannotListen as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    return addresses


def cmd_web(args: argparse.Namespace) -> int:
    from service.web import serving

    # A shared port (--reuse-port) is not "in use": then only binding can tell.
    addresses = _listen_addresses(args, probe=not args.reuse_port)
    if addresses is None:
        return EXIT_CONFIG
    settings = with_database(args.settings)
    asyncio.run(prepare(settings))
    # On SIGTERM/SIGINT it stops accepting and lets in-flight requests finish.
    try:
        asyncio.run(serving.run(settings, *addresses, reuse_port=args.reuse_port))
    except serving.CannotListen as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


# --- worker -------------------------------------------------------------------------------


async def _run_worker(settings: Settings) -> None:
    from moderation.detox import load_scorer
    from service.queue.live_models import LiveModels
    from service.queue.scoring import ScoringWorker
    from service.queue.shadows import ShadowScoring
    from service.store.db import create_engine
    from service.store.promotions import PromotionStore
    from service.waiting import stop_on_signals

    stop = stop_on_signals()
    engine = create_engine(settings, pool_size=3)
    # The shadow models' own pool: their writes never wait for, nor hold up, the live path's.
    shadow_engine = create_engine(settings, pool_size=1)
    deliverer: asyncio.Task[None] | None = None
    try:
        await prepare(settings)
        # Webhooks go out from every worker, starting before the model is loaded.
        deliverer = asyncio.create_task(_deliver_webhooks(settings, stop), name="webhooks")
        started = time.perf_counter()
        load = functools.partial(
            load_scorer,
            model_dir=settings.models_path,
            threads=settings.scorer_threads,
            precision=settings.scorer_precision,
        )
        scorer = await asyncio.to_thread(load, settings.model)
        log.info(
            "model %s@%s loaded in %.1fs (labels: %s)",
            scorer.model.name,
            scorer.model.version,
            time.perf_counter() - started,
            ", ".join(scorer.labels),
        )
        shadows = None
        if settings.shadow_model_specs:
            # Loaded by the worker in the background: scoring starts without waiting for them.
            shadows = ShadowScoring(
                shadow_engine,
                settings.shadow_model_specs,
                load,
                live=scorer.model,
                timeout=settings.job_lease,
            )
        # Models an admin promotes are read every few seconds and loaded beside this one.
        live_models = LiveModels(PromotionStore(engine), scorer, settings.model, load)
        await ScoringWorker(settings, engine, scorer, shadows=shadows, live_models=live_models).run(
            stop
        )
    finally:
        if deliverer is not None:
            stop.set()
            await deliverer
        await engine.dispose()
        await shadow_engine.dispose()


def cmd_worker(args: argparse.Namespace) -> int:
    if not scoring_installed("worker"):
        return EXIT_CONFIG
    from moderation.detox import ModelUnavailableError, PrecisionUnavailableError

    settings: Settings = args.settings
    try:
        asyncio.run(_run_worker(with_database(settings)))
    except (ModelUnavailableError, PrecisionUnavailableError) as error:
        log.error("cannot load the model: %s", error)
        return EXIT_CONFIG
    return 0


async def _deliver_webhooks(settings: Settings, stop: asyncio.Event) -> None:
    """The webhook deliverer, on its own connection pool. If it fails it starts again after
    a pause: a webhook fault must never stop the scoring beside it."""
    from service.store.db import create_engine
    from service.webhooks.deliverer import WebhookDeliverer

    engine = create_engine(settings, pool_size=min(settings.webhook_concurrency, 8))
    try:
        while not stop.is_set():
            try:
                await WebhookDeliverer(settings, engine).run(stop)
            except Exception:
                log.exception("the webhook deliverer failed; starting it again in 5 s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5.0)
    finally:
        await engine.dispose()


async def _run_deliverer(settings: Settings) -> None:
    from service.waiting import stop_on_signals

    stop = stop_on_signals()
    await prepare(settings)
    await _deliver_webhooks(settings, stop)


def cmd_deliver(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    asyncio.run(_run_deliverer(with_database(settings)))
    return 0


# --- serve: web and workers in one process tree ------------------------------------------


def _child(role: str, extra: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "service", role, *extra], env=env)


def _serve_specs(settings: Settings, listen: list[str]) -> list[tuple[str, list[str]]]:
    """The children ``serve`` runs: web processes, which share the public and operations
    ports (the kernel spreads connections over them), then the scoring workers."""
    webs = settings.web_process_count
    web_args = [*listen, "--reuse-port"] if webs > 1 else listen
    return [("web", web_args)] * webs + [("worker", [])] * settings.worker_processes


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the database if needed, then the web processes (one per core unless
    REPLYGUARD_WEB_PROCESSES says otherwise, sharing both ports) and the workers; restart
    any that die."""
    settings: Settings = args.settings
    # Without the scoring extra every worker would fail: say so once, before anything starts.
    if not scoring_installed("serve"):
        return EXIT_CONFIG
    # Ports first: a taken one is one line and a stop, before the database starts.
    addresses = _listen_addresses(args, probe=True)
    if addresses is None:
        return EXIT_CONFIG
    public, ops = addresses
    settings = with_database(settings)
    asyncio.run(prepare(settings))
    asyncio.run(_announce(settings))
    assert settings.database_url is not None
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    host, port = public.host, public.port
    listen = ["--host", host, "--port", str(port), "--ops-host", ops.host, "--ops-port"]
    specs = _serve_specs(settings, [*listen, str(ops.port)])

    stopping = False
    failed = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children = [_child(role, extra, env) for role, extra in specs]
    restarts = [0.0] * len(children)
    print(
        f"replyguard is starting on http://{host}:{port} with "
        f"{settings.web_process_count} web processes (Ctrl-C stops it); "
        f"/readyz and /metrics on http://{ops.host}:{ops.port}",
        flush=True,
    )
    while not stopping:
        time.sleep(0.2)
        for i, child in enumerate(children):
            if child.poll() is None or stopping:
                continue
            role, extra = specs[i]
            if child.returncode == EXIT_CONFIG:
                log.error("%s cannot start as configured (see above); stopping", role)
                stopping = True
                failed = True
                break
            # Back off a crash loop, but keep trying: the queue waits in PostgreSQL.
            wait = 1.0 if time.monotonic() - restarts[i] > 30 else 5.0
            log.error(
                "%s (pid %d) exited with %s; restarting in %.0fs",
                role,
                child.pid,
                child.returncode,
                wait,
            )
            time.sleep(wait)
            restarts[i] = time.monotonic()
            children[i] = _child(role, extra, env)
    log.info("stopping: asking %d processes to finish", len(children))
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + settings.shutdown_timeout + 5
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop in time; killing it", child.pid)
            child.kill()
            child.wait()
    return EXIT_CONFIG if failed else 0


async def _announce(settings: Settings) -> None:
    """On a first start, say how to get in."""
    from service.store.db import create_engine
    from service.store.tokens import TokenStore

    engine = create_engine(settings, pool_size=1)
    try:
        admins = await TokenStore(engine).admin_count()
    finally:
        await engine.dispose()
    if admins == 0:
        where = (
            ""
            if os.environ.get("DATABASE_URL")
            else (f" (run it from this folder, or with REPLYGUARD_DATA_DIR={settings.data_dir})")
        )
        print(
            "No admin token exists yet. Make one with:\n"
            f"    replyguard create-token --role admin{where}\n"
            "then create a site: PUT /v1/sites/{site} with 'Authorization: Bearer <token>'.\n"
            "People sign in to the moderator's page (/moderate) as users:\n"
            "    replyguard create-user NAME --role admin   (or --role moderator --site SITE)",
            flush=True,
        )


# --- tokens -------------------------------------------------------------------------------


async def _create_token(settings: Settings, role: str, sites: list[str], label: str) -> str | None:
    """The new token, or None (after saying why) when a site it names does not exist."""
    from service.store.tokens import TokenStore

    async with admin_engine(settings) as engine:
        if not await sites_exist(engine, sites):
            return None
        return await TokenStore(engine).create(
            "admin" if role == "admin" else "moderator", sites or None, label, actor=cli_actor()
        )


def cmd_create_token(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    sites: list[str] = args.site or []
    if not sites_for_role(args.role, sites, "token "):
        return 2
    database = existing_database(settings)
    if database is None:
        return 2
    token = asyncio.run(_create_token(database, args.role, sites, args.label))
    if token is None:
        return 2
    scope = "every site" if not sites else ", ".join(sites)
    kind = "an admin" if args.role == "admin" else "a moderator"
    print(f"Created {kind} token for {scope}. It is shown once; only its hash is stored:")
    print(token)
    return 0


def _author_filter(args: argparse.Namespace) -> dict[str, Any] | None:
    if bool(args.email) == bool(args.author_id):
        print("error: give exactly one of --email or --author-id", file=sys.stderr)
        return None
    if args.author_id:
        try:
            return {"author_id": bytes.fromhex(args.author_id)}
        except ValueError:
            print("error: --author-id is the hex id shown by export-author", file=sys.stderr)
            return None
    return {"email": args.email}


async def _with_authors(
    settings: Settings, action: str, who: dict[str, Any], *, quiet: bool = True
) -> Any:
    from service.store.authors import AuthorStore
    from service.store.db import create_engine

    engine = create_engine(settings, pool_size=1)
    try:
        store = AuthorStore(engine)
        if action == "export":
            return await store.comments(**who)
        with progress_bar(None, "erasing", unit="comments", quiet=quiet) as bar:

            def erased(done: int, total: int) -> None:
                bar.total = total
                bar.update(1)

            return await store.erase(**who, actor="erase-author", progress=erased)
    finally:
        await engine.dispose()


def cmd_export_author(args: argparse.Namespace) -> int:
    """All of an author's comments as JSON on stdout: an answer to an access request."""
    import json

    settings: Settings = args.settings
    who = _author_filter(args)
    database = existing_database(settings) if who is not None else None
    if who is None or database is None:
        return 2
    found = asyncio.run(_with_authors(database, "export", who))
    out = [
        {
            "author_id": key.hex() if key else None,
            "id": str(c.id),
            "site_id": c.site_id,
            "article_id": c.article_id,
            "parent_id": str(c.parent_id) if c.parent_id else None,
            "author_name": c.author_name,
            "author_email": c.author_email,
            "body": c.body,
            "status": c.status,
            "created_at": iso(c.created_at),
        }
        for c, key in found
    ]
    print(json.dumps({"comments": out}, indent=2, ensure_ascii=False))
    return 0


def cmd_erase_author(args: argparse.Namespace) -> int:
    """Erase an author's comments (words and personal fields); the audit trail records it."""
    settings: Settings = args.settings
    who = _author_filter(args)
    database = existing_database(settings) if who is not None else None
    if who is None or database is None:
        return 2
    count = asyncio.run(_with_authors(database, "erase", who, quiet=args.quiet))
    print(f"erased {count} comments")
    return 0


# --- entry point --------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("replyguard")
    except PackageNotFoundError:
        return "(version unknown: not installed as a package)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replyguard",
        description="Comment moderation for news sites. Configuration comes from the "
        "environment (DATABASE_URL, REPLYGUARD_*): see the README.",
    )
    parser.add_argument("--version", action="version", version=f"replyguard {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, func, text in (
        ("serve", cmd_serve, "web server and scoring workers in one process tree"),
        ("web", cmd_web, "the web server alone (any number of replicas)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--host", default=None, help="address to listen on (REPLYGUARD_HOST)")
        p.add_argument("--port", type=int, default=None, help="port (REPLYGUARD_PORT)")
        p.add_argument(
            "--ops-host",
            default=None,
            help="address of the operations listener: /readyz, /metrics (REPLYGUARD_OPS_HOST)",
        )
        p.add_argument("--ops-port", type=int, default=None, help="its port (REPLYGUARD_OPS_PORT)")
        if name == "web":
            p.add_argument(
                "--reuse-port", action="store_true", help="share the port (SO_REUSEPORT)"
            )
        p.set_defaults(func=func)
    sub.add_parser("worker", help="a scoring worker alone (any number)").set_defaults(
        func=cmd_worker
    )
    sub.add_parser(
        "deliver", help="a webhook deliverer alone, without a model (workers run one too)"
    ).set_defaults(func=cmd_deliver)
    p = sub.add_parser("create-token", help="make a moderator or admin API token")
    p.add_argument("--role", choices=("admin", "moderator"), required=True)
    p.add_argument("--site", action="append", help="a site the token covers (repeatable)")
    p.add_argument("--label", default="", help="a name for audit trails, e.g. the person's")
    p.set_defaults(func=cmd_create_token)
    for name, func, text in (
        ("export-author", cmd_export_author, "print all of an author's comments as JSON"),
        ("erase-author", cmd_erase_author, "erase an author's comments (audit kept)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--email", help="the author's email address")
        p.add_argument("--author-id", help="the author id (hex) from export-author")
        if name == "erase-author":
            add_quiet_flag(p)
        p.set_defaults(func=func)

    from service.cli.model import add_model_commands
    from service.cli.promotions import add_promotion_commands
    from service.cli.schema import add_schema_commands
    from service.cli.staff import add_staff_commands
    from service.cli.users import add_user_commands

    add_schema_commands(sub)
    add_model_commands(sub)
    add_user_commands(sub)
    add_staff_commands(sub)
    add_promotion_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format, args.command)
    args.settings = settings
    try:
        result: int = args.func(args)
    except SchemaTooNewError as error:
        log.error("replyguard %s refuses to run: %s", args.command, error)
        return EXIT_CONFIG
    return result
