"""JSON endpoints for moderators working a queue together; the moderator's page drives
them, and so may any client with a bearer token. No SQL here.

- ``GET  /v1/queue/summary``: counts per status, the oldest waiting, the busiest articles
- ``GET  /v1/changes``: status changes since a time, and who has which comment open
- ``POST /v1/claims``, ``DELETE /v1/claims/{comment}``: open (claim) and leave a comment
- ``POST /v1/decisions/reopen``: put decided comments back in the held queue (undo)
- ``POST /v1/sites/{site}/policy/preview``: what a proposed policy would change
- ``GET  /v1/sites/{site}/calibration``: per label, how the moderators' decisions on held
  comments match the scores, and the thresholds that would have matched them best
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final, cast

from aiohttp import web

from moderation.calibration import (
    HOLD_REJECTED_SHARE,
    MIN_DECISIONS,
    MIN_DECISIONS_ABOVE,
    REJECT_REJECTED_SHARE,
    STEP,
    Calibration,
    LabelCalibration,
    calibrate,
)
from moderation.domain import DETOXIFY_LABELS, STATUSES, Status
from moderation.errors import FieldError
from moderation.policy import Policy, Thresholds, decide
from moderation.text import count_links, normalise_for_scoring
from service.errors import InvalidInput, NotFound
from service.store.review import Change, Claim, DecidedSample
from service.store.values import Site
from service.times import iso
from service.web import keys
from service.web.api.common import (
    authenticate,
    bulk_ids,
    path_comment,
    path_site,
    private,
    require_admin,
    require_site_staff,
)
from service.web.validation import (
    ARTICLE_ID,
    ARTICLE_ID_RULE,
    CALIBRATION_DEFAULT,
    CALIBRATION_MAX,
    MAX_REASON_CHARS,
    PREVIEW_MAX,
    SLUG,
    Fields,
    query_choice,
    query_int,
    query_time,
    read_json_object,
)

MAX_CHANGES: Final = 500
#: Polls ask again from this long before their last answer: an audit row is stamped when
#: its transaction starts and becomes visible when it commits.
CHANGES_OVERLAP_SECONDS: Final = 15.0
PREVIEW_DEFAULT: Final = 200
PREVIEW_EXAMPLES: Final = 20

routes = web.RouteTableDef()


def _query_site(request: web.Request) -> str | None:
    site_id = request.query.get("site") or None
    if site_id is not None and not SLUG.match(site_id):
        raise NotFound(f"No site {site_id!r}.")
    return site_id


def _claim_json(claim: Claim) -> dict[str, Any]:
    return {
        "comment_id": str(claim.comment_id),
        "holder": claim.actor,
        "claimed_at": iso(claim.claimed_at),
        "expires_at": iso(claim.expires_at),
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "audit_id": change.audit_id,
        "comment_id": str(change.comment_id),
        "site_id": change.site_id,
        "article_id": change.article_id,
        "from_status": change.from_status,
        "to_status": change.to_status,
        "status": change.status,
        "actor": {"kind": change.actor_kind, "name": change.actor},
        "at": iso(change.at),
    }


@routes.get("/v1/queue/summary")
async def queue_summary(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    site_id = _query_site(request)
    article_id = request.query.get("article") or None
    if article_id is not None and not ARTICLE_ID.match(article_id):
        raise InvalidInput([FieldError("article", f"must be {ARTICLE_ID_RULE}")])
    status = cast(Status, query_choice(request, "status", STATUSES, "held"))
    review = request.app[keys.REVIEW]
    summary = await review.summary(principal, site_id=site_id, article_id=article_id)
    articles = await review.waiting_articles(principal, site_id=site_id, status=status)
    return private(
        {
            "counts": summary.counts,
            "oldest_seconds": summary.oldest_seconds,
            "articles": [
                {
                    "site_id": a.site_id,
                    "id": a.article_id,
                    "title": a.title,
                    "waiting": a.waiting,
                    "oldest_seconds": a.oldest_seconds,
                }
                for a in articles
            ],
        }
    )


@routes.get("/v1/changes")
async def changes(request: web.Request) -> web.Response:
    """Poll with ``since`` set to the last answer's ``now``; the answer repeats a few
    seconds of changes (see ``CHANGES_OVERLAP_SECONDS``), so drop audit ids already seen."""
    principal = await authenticate(request)
    site_id = _query_site(request)
    since = query_time(request, "since")
    if since is not None:
        since -= timedelta(seconds=CHANGES_OVERLAP_SECONDS)
    found = await request.app[keys.REVIEW].changes(
        principal, site_id=site_id, since=since, limit=MAX_CHANGES
    )
    return private(
        {
            "now": iso(found.now),
            "items": [_change_json(c) for c in found.items],
            "truncated": len(found.items) >= MAX_CHANGES,
            "claims": [_claim_json(c) for c in found.claims],
        }
    )


@routes.post("/v1/claims")
async def claim(request: web.Request) -> web.Response:
    """Open a comment for review: it is yours for a few minutes unless someone else's
    claim is live, in which case the answer names them (``mine`` false)."""
    principal = await authenticate(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("comment_id",))
    comment_id = f.uuid("comment_id", required=True)
    f.done()
    assert comment_id is not None
    comment = await request.app[keys.COMMENTS].get(comment_id)
    if not principal.may_see(comment.site_id):
        raise NotFound("No such comment.")
    held = await request.app[keys.REVIEW].claim(
        principal, comment, request.app[keys.SETTINGS].claim_seconds
    )
    return private({**_claim_json(held), "mine": held.actor == principal.actor})


@routes.delete("/v1/claims/{comment}")
async def release_claim(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    await request.app[keys.REVIEW].release(principal, path_comment(request))
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


@routes.post("/v1/decisions/reopen")
async def reopen(request: web.Request) -> web.Response:
    """Back to ``held``: the undo of an approval or rejection, or a second look."""
    principal = await authenticate(request)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("ids", "reason"))
    reason = f.text("reason", max_chars=MAX_REASON_CHARS)
    ids = bulk_ids(f)
    f.done()
    results, missing = await request.app[keys.COMMENTS].decide(
        principal, ids, "held", reason or "reopened"
    )
    return private(
        {
            "items": [{"id": str(r.id), "status": r.status, "changed": r.changed} for r in results],
            "not_found": [str(m) for m in missing],
        }
    )


def compare_policies(
    current: Policy, proposed: Policy, samples: Sequence[DecidedSample]
) -> dict[str, Any]:
    """Re-decide each sample from its stored scores under both policies and count the
    differences. CPU work: run it off the event loop."""
    transitions: Counter[tuple[str, str]] = Counter()
    examples: list[dict[str, Any]] = []
    for sample in samples:
        text = normalise_for_scoring(sample.body)
        links = count_links(sample.body)
        before = decide(current, sample.scores, text=text, links=links, model=sample.model)
        after = decide(proposed, sample.scores, text=text, links=links, model=sample.model)
        if before.verdict == after.verdict:
            continue
        transitions[(before.verdict, after.verdict)] += 1
        if len(examples) < PREVIEW_EXAMPLES:
            examples.append(
                {
                    "id": str(sample.id),
                    "body": sample.body[:280],
                    "status": sample.status,
                    "from": before.verdict,
                    "to": after.verdict,
                    "rule": after.rule,
                    "reason": after.explanation["reason"],
                }
            )
    return {
        "considered": len(samples),
        "changed": sum(transitions.values()),
        "transitions": [
            {"from": a, "to": b, "count": n} for (a, b), n in sorted(transitions.items())
        ],
        "examples": examples,
    }


@routes.post("/v1/sites/{site}/policy/preview")
async def policy_preview(request: web.Request) -> web.Response:
    """How many of the site's last N decided comments a proposed policy would decide
    differently from the current one, re-run on their stored scores. Changes nothing."""
    principal = await authenticate(request)
    site_id = path_site(request)
    if not principal.may_see(site_id):
        raise NotFound(f"No site {site_id!r}.")
    require_admin(principal, site_id)
    data = await read_json_object(request, request.app[keys.SETTINGS].max_request_bytes)
    f = Fields(data)
    f.only(("policy", "last"))
    last = f.raw("last")
    if last is None:
        last = PREVIEW_DEFAULT
    elif type(last) is not int or not 1 <= last <= PREVIEW_MAX:
        f.problem("last", f"must be a whole number from 1 to {PREVIEW_MAX}")
        last = PREVIEW_DEFAULT
    proposed = f.policy("policy")
    f.done()
    site = await request.app[keys.SITES].get(site_id)
    samples = await request.app[keys.REVIEW].recent_decided(site_id, last)
    result = await asyncio.to_thread(compare_policies, site.policy, proposed, samples)
    return private({**result, "last": last, "policy_version": site.policy.version})


# --- calibration --------------------------------------------------------------------------


async def site_calibration(app: web.Application, site_id: str, last: int) -> Calibration:
    """Calibration of the site's ``last`` most recent decisions (the API and the site page
    show the same one). CPU work runs off the event loop."""
    decisions = await app[keys.REVIEW].moderator_decisions(site_id, last)
    return await asyncio.to_thread(calibrate, decisions)


def _thresholds_json(limits: Thresholds | None) -> dict[str, float | None] | None:
    return None if limits is None else {"hold_at": limits.hold_at, "reject_at": limits.reject_at}


def _label_json(found: LabelCalibration, current: Thresholds | None) -> dict[str, Any]:
    return {
        "decisions": found.decisions,
        "rejected": found.rejected,
        "roc_auc": None if found.roc_auc is None else round(found.roc_auc, 4),
        "current": _thresholds_json(current),
        "suggested": _thresholds_json(found.suggested),
        "note": found.note,
        "curve": [
            {
                "threshold": p.threshold,
                "precision": round(p.precision, 4),
                "recall": round(p.recall, 4),
                "count": p.count,
            }
            for p in found.curve
        ],
    }


def calibration_json(site: Site, found: Calibration, label: str | None) -> dict[str, Any]:
    """The answer of ``GET /v1/sites/{site}/calibration``: the rules the suggestions follow
    beside the figures, so a reader can tell "not enough decisions" from "none qualifies"."""
    return {
        "site_id": site.id,
        "policy_version": site.policy.version,
        "model": None
        if found.model is None
        else {"name": found.model.name, "version": found.model.version},
        "decisions": found.decisions,
        "other_models": found.left_out,
        "rules": {
            "min_decisions": MIN_DECISIONS,
            "min_decisions_above": MIN_DECISIONS_ABOVE,
            "hold_rejected_share": HOLD_REJECTED_SHARE,
            "reject_rejected_share": REJECT_REJECTED_SHARE,
            "step": STEP,
        },
        "labels": {
            name: _label_json(figures, site.policy.thresholds.get(name))
            for name, figures in found.labels.items()
            if label is None or name == label
        },
    }


@routes.get("/v1/sites/{site}/calibration")
async def calibration(request: web.Request) -> web.Response:
    """How the scores of the comments the model held match what moderators then did with
    them, per label, and the thresholds that would have matched (see
    ``moderation.calibration``). ``label``: one label only; ``last``: how many of the most
    recent decisions to read. Changes nothing: an admin applies a suggestion through
    ``PUT /v1/sites/{site}``, after a preview."""
    principal = await authenticate(request)
    site_id = path_site(request)
    require_site_staff(principal, site_id)
    label = query_choice(request, "label", DETOXIFY_LABELS, None)
    last = query_int(request, "last", default=CALIBRATION_DEFAULT, low=1, high=CALIBRATION_MAX)
    site = await request.app[keys.SITES].get(site_id)
    found = await site_calibration(request.app, site_id, last)
    return private(calibration_json(site, found, label))
