"""``GET /v1/models``: the live and shadow models the workers run, the models promoted per
site or for every site and whether the workers have loaded them, and, per site, how each
shadow model would have decided against the live decisions and against the moderators, and
the scoring time it adds. For moderators of the site and admins; no SQL here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from moderation.comparison import against_moderators, share
from moderation.domain import ModelInfo
from service.store.promotions import PromotedModels
from service.store.shadows import LiveModel, ShadowFigures, ShadowModel
from service.times import iso
from service.web import keys
from service.web.api.common import authenticate, private, query_sites

routes = web.RouteTableDef()


@routes.get("/v1/models")
async def get_models(request: web.Request) -> web.Response:
    """``?site=`` narrows the figures to one site; without it, every site the caller covers
    where a shadow model scored comments."""
    principal = await authenticate(request)
    site_id, sites = await query_sites(request, principal)
    store = request.app[keys.SHADOWS]
    live, shadows = await store.models(request.app[keys.SETTINGS].worker_stale_after)
    by_site: dict[str, list[dict[str, Any]]] = {site_id: []} if site_id is not None else {}
    for figures in await store.figures(sites):
        by_site.setdefault(figures.site_id, []).append(_figures_json(figures))
    promotions = request.app[keys.PROMOTIONS]
    in_force = await promotions.in_force()
    reports = await promotions.worker_reports(request.app[keys.SETTINGS].worker_stale_after)
    return private(
        {
            "live": [_live_json(m) for m in live],
            "shadows": [_shadow_json(s) for s in shadows],
            "promoted": _promoted_json(in_force, reports, sites),
            "sites": [{"site": site, "shadows": items} for site, items in by_site.items()],
        }
    )


def _promoted_json(
    in_force: PromotedModels,
    reports: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
    sites: Sequence[str] | None,
) -> dict[str, Any]:
    """The promoted models the caller may see, and per spec how many workers loaded it, are
    loading it or failed to (with the first error): a promotion is live once loaded."""
    visible = {
        site: spec for site, spec in in_force.sites.items() if sites is None or site in sites
    }
    states: dict[str, dict[str, Any]] = {}
    for _worker, promoted in reports:
        for item in promoted:
            spec = str(item.get("spec"))
            if spec != in_force.every_site and spec not in visible.values():
                continue
            entry = states.setdefault(
                spec, {"spec": spec, "loaded": 0, "loading": 0, "failed": 0, "model": None}
            )
            state = item.get("state")
            if state in ("loaded", "loading", "failed"):
                entry[state] += 1
            if item.get("model_name"):
                entry["model"] = f"{item['model_name']}@{item['model_version']}"
            if item.get("error") and "error" not in entry:
                entry["error"] = item["error"]
    return {
        "every_site": in_force.every_site,
        "sites": dict(sorted(visible.items())),
        "workers": [states[spec] for spec in sorted(states)],
    }


def _model_json(model: ModelInfo) -> dict[str, Any]:
    return {"model": f"{model.name}@{model.version}", "name": model.name, "version": model.version}


def _live_json(live: LiveModel) -> dict[str, Any]:
    return {**_model_json(live.model), "workers": live.workers}


def _shadow_json(shadow: ShadowModel) -> dict[str, Any]:
    model = (
        _model_json(shadow.model)
        if shadow.model is not None
        else {"model": None, "name": None, "version": None}
    )
    return {
        "spec": shadow.spec,
        "state": shadow.state,
        **model,
        "error": shadow.error,
        "workers": shadow.workers,
        "scored": shadow.scored,
        "failures": shadow.failures,
        "skipped": shadow.skipped,
    }


def _figures_json(figures: ShadowFigures) -> dict[str, Any]:
    ms = figures.ms_per_comment
    return {
        **_model_json(figures.model),
        "comments": figures.comments,
        "first_scored_at": iso(figures.first_scored_at),
        "last_scored_at": iso(figures.last_scored_at),
        "ms_per_comment": None if ms is None else round(ms, 2),
        "verdicts": dict(figures.verdicts),
        "against_live": {
            "compared": figures.compared_with_live,
            "agreeing": figures.agreeing_with_live,
            "agreement": share(figures.agreeing_with_live, figures.compared_with_live),
        },
        "against_moderators": against_moderators(figures.moderated),
    }
