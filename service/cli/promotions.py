"""``replyguard promote``, ``rollback``, ``promotions`` and ``rescore``: changing the model a
site's comments are scored by, and measuring it on the site's past comments.

``promote`` and ``rollback`` do what ``POST /v1/models/promote`` and ``/rollback`` do, as
``cli:<os user>``: the running workers pick the change up within seconds. ``rescore`` scores a
site's decided comments again with the model in force for it now and stores those scores
beside the others (role ``rescore``): it changes no decision. These commands reach the
database ``serve`` uses (``service.cli.common.existing_database``) and never make one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from service.cli.common import (
    EXIT_CONFIG,
    admin_engine,
    cli_actor,
    existing_database,
    sites_exist,
)
from service.cli.extras import scoring_installed
from service.cli.progress import add_quiet_flag, progress_bar
from service.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["add_promotion_commands"]

_VERDICTS = ("approved", "held", "rejected")


def add_promotion_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    p = subparsers.add_parser(
        "promote",
        help="make a model score a site's comments (or every site's) from now on; running "
        "workers pick it up within seconds",
    )
    p.add_argument("model", help="default, original, unbiased, multilingual or a model path")
    p.add_argument("--site", default=None, help="the site (default: every site)")
    p.set_defaults(func=cmd_promote)
    p = subparsers.add_parser(
        "rollback", help="restore the model a site (or every site) had before its last change"
    )
    p.add_argument("--site", default=None, help="the site (default: every site)")
    p.set_defaults(func=cmd_rollback)
    p = subparsers.add_parser(
        "promotions", help="show model promotions and rollbacks, newest first"
    )
    p.add_argument("--site", default=None, help="that site's and the every-site ones")
    p.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 500)")
    p.set_defaults(func=cmd_promotions)
    p = subparsers.add_parser(
        "rescore",
        help="score a site's decided comments again with its model in force, for analysis: "
        "stores the scores beside the others and changes no decision",
    )
    p.add_argument("--site", required=True, help="the site")
    p.add_argument(
        "--since", required=True, help="comments created from this time (2026-11-01 or ISO)"
    )
    p.add_argument("--until", default=None, help="and before this time (default: now)")
    p.add_argument("--batch-size", type=int, default=64, help="comments per batch (default 64)")
    add_quiet_flag(p)
    p.set_defaults(func=cmd_rescore)


def cmd_promote(args: argparse.Namespace) -> int:
    from moderation.model_specs import spec_problem

    settings = existing_database(args.settings)
    if settings is None:
        return 2
    problem = spec_problem(args.model, model_dir=settings.models_path)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(_change(settings, args.site, args.model))


def cmd_rollback(args: argparse.Namespace) -> int:
    settings = existing_database(args.settings)
    if settings is None:
        return 2
    return asyncio.run(_change(settings, args.site, None))


async def _change(settings: Settings, site_id: str | None, model: str | None) -> int:
    """Promote ``model`` (None: roll back) for ``site_id`` (None: every site)."""
    from service.errors import Conflict
    from service.store.promotions import PromotionStore

    async with admin_engine(settings) as engine:
        if site_id is not None and not await sites_exist(engine, [site_id]):
            return 2
        store = PromotionStore(engine)
        try:
            if model is None:
                made = await store.rollback(site_id, cli_actor())
            else:
                made = await store.promote(site_id, model, cli_actor())
        except Conflict as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    scope = "every site" if site_id is None else f"site {site_id}"
    now = made.model or (
        "the every-site model" if site_id is not None else f"{settings.model} (configured)"
    )
    print(
        f"{'promoted' if made.action == 'promote' else 'rolled back'}: {scope} is scored by "
        f"{now} (was {made.previous or 'the model before: none promoted'}); running workers "
        "pick it up within seconds. GET /v1/models shows when they have loaded it; "
        f"`replyguard rollback{'' if site_id is None else ' --site ' + site_id}` undoes it."
    )
    return 0


def cmd_promotions(args: argparse.Namespace) -> int:
    from service.store.promotions import PromotionStore

    settings = existing_database(args.settings)
    if settings is None:
        return 2
    if not 1 <= args.limit <= 500:
        print("error: --limit must be from 1 to 500", file=sys.stderr)
        return 2

    async def history() -> int:
        async with admin_engine(settings) as engine:
            if args.site is not None and not await sites_exist(engine, [args.site]):
                return 2
            changes = await PromotionStore(engine).history(
                None if args.site is None else [args.site], args.limit
            )
        if not changes:
            print(f"no model was ever promoted; every site is scored by {settings.model}")
        for c in changes:
            when = c.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
            print(
                f"{c.id:>5}  {when}  {c.action:<8}  {c.site_id or '(every site)':<16}  "
                f"{c.model or '-'}  (was {c.previous or '-'})  by {c.actor}"
            )
        return 0

    return asyncio.run(history())


def _time(value: str, name: str) -> datetime:
    """A date (midnight UTC) or an ISO time (UTC when it has no offset)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r}: write a date (2026-11-01) or an ISO time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def cmd_rescore(args: argparse.Namespace) -> int:
    if not scoring_installed("rescore"):
        return EXIT_CONFIG
    try:
        since = _time(args.since, "--since")
        until = _time(args.until, "--until") if args.until else datetime.now(UTC)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if since >= until:
        print("error: --since must be before --until", file=sys.stderr)
        return 2
    if not 1 <= args.batch_size <= 1000:
        print("error: --batch-size must be from 1 to 1000", file=sys.stderr)
        return 2
    settings = existing_database(args.settings)
    if settings is None:
        return 2
    return asyncio.run(_rescore(settings, args, since, until))


async def _rescore(
    settings: Settings, args: argparse.Namespace, since: datetime, until: datetime
) -> int:
    async with admin_engine(settings) as engine:
        if not await sites_exist(engine, [args.site]):
            return 2
        return await _rescore_site(engine, settings, args, since, until)


async def _rescore_site(
    engine: AsyncEngine,
    settings: Settings,
    args: argparse.Namespace,
    since: datetime,
    until: datetime,
) -> int:
    from moderation.detox import load_scorer
    from moderation.languages import detect_languages, languages_of
    from moderation.text import normalise_for_scoring
    from service.store.promotions import PromotionStore
    from service.store.shadows import ShadowScore, ShadowStore

    promoted = (await PromotionStore(engine).in_force()).spec_for(args.site)
    spec = promoted or settings.model
    scorer = await asyncio.to_thread(
        load_scorer,
        spec,
        model_dir=settings.models_path,
        threads=settings.scorer_threads,
        precision=settings.scorer_precision,
    )
    model, model_languages = scorer.model, languages_of(scorer)
    store = ShadowStore(engine)
    total = await store.count_past(args.site, since, until)
    print(
        f"rescoring {total:,} decided comments of site {args.site} created from "
        f"{since.isoformat()} to {until.isoformat()} with {model.name}@{model.version} "
        f"({'promoted' if promoted else 'configured'}: {spec}); no decision changes",
        file=sys.stderr,
    )
    pairs: Counter[tuple[str, str]] = Counter()
    written = 0
    after = None
    with progress_bar(total, "rescoring", unit="comments", quiet=args.quiet) as bar:
        while True:
            jobs, after = await store.past_comments(
                args.site, since, until, after=after, limit=args.batch_size
            )
            if not jobs:
                break
            texts = [normalise_for_scoring(j.body) for j in jobs]
            started = time.perf_counter()
            scores = await asyncio.to_thread(scorer.score, texts)
            ms = (time.perf_counter() - started) * 1000 / len(jobs)
            guesses = await asyncio.to_thread(detect_languages, texts)
            scored = []
            for job, text, result, guess in zip(jobs, texts, scores, guesses, strict=True):
                verdict = job.decide(
                    result,
                    text=text,
                    model=model,
                    language=guess,
                    model_languages=model_languages,
                ).verdict
                pairs[job.status, verdict] += 1
                scored.append(ShadowScore(job.comment_id, result, verdict))
            written += await store.record(model, scored, ms, role="rescore")
            bar.update(len(jobs))
            if after is None:
                break
    _print_summary(pairs, written)
    return 0


def _print_summary(pairs: Counter[tuple[str, str]], written: int) -> None:
    done = sum(pairs.values())
    if not done:
        print("no decided comments in that time: nothing rescored")
        return
    print(
        f"rescored {done:,} comments; {written:,} scores stored (the rest were already "
        "stored for this model)"
    )
    print("status now".ljust(18) + "".join(f"{'model: ' + v:>18}" for v in _VERDICTS))
    for status in _VERDICTS:
        row = [pairs[status, verdict] for verdict in _VERDICTS]
        if any(row):
            print(f"{status:<18}" + "".join(f"{n:>18,}" for n in row))
    # Published or not is what a reader sees: the model agrees when it would publish what
    # is published now, and keep back what is not.
    agreeing = sum(
        n
        for (status, verdict), n in pairs.items()
        if (status == "approved") == (verdict == "approved")
    )
    print(f"published or not as now: {agreeing:,} of {done:,} ({agreeing / done:.1%})")
