"""Promoting a model and rolling it back, per site or for every site, and their history.

``POST /v1/models/promote {model, site?}`` and ``POST /v1/models/rollback {site?}`` are for
admins (of the site, or of every site for an every-site change); ``GET /v1/models/promotions``
for admins and the moderators of the sites it shows. The workers pick a change up within
seconds (``service.queue.live_models``); ``GET /v1/models`` shows whether they loaded it. No
SQL here (``service.store.promotions``).
"""

from __future__ import annotations

from aiohttp import web

from moderation.errors import FieldError
from moderation.model_specs import MAX_SPEC_CHARS, spec_problem
from service.errors import Forbidden, InvalidInput, NotFound
from service.store.values import Principal
from service.web import keys
from service.web.api.common import authenticate, private, query_sites
from service.web.validation import (
    PROMOTIONS_PAGE,
    SLUG,
    Fields,
    query_limit,
    read_json_object,
)

routes = web.RouteTableDef()


def _site_or_all(f: Fields) -> str | None:
    """The body's ``site`` (None: every site); the store checks that it exists."""
    site_id = f.text("site", max_chars=63)
    if site_id is not None and not SLUG.match(site_id):
        f.problem("site", "must be a site id")
        return None
    return site_id


def _check_scope(principal: Principal, site_id: str | None) -> None:
    if site_id is not None and not principal.may_see(site_id):
        # Another site's staff learn nothing of it: as if it did not exist.
        raise NotFound(f"No site {site_id!r}.")
    if principal.role != "admin":
        raise Forbidden("Models are promoted and rolled back with an admin token.")
    if site_id is None and principal.sites is not None:
        raise Forbidden(
            "This admin token covers only some sites: name one of them in 'site' (a change "
            "for every site needs an admin of every site)."
        )


def _no_site(site_id: str | None) -> InvalidInput:
    """The store found no such site: a field of the body, not the path, so 422."""
    return InvalidInput([FieldError("site", f"no site {site_id!r}")])


@routes.post("/v1/models/promote")
async def promote(request: web.Request) -> web.Response:
    """Put a model in force for a site or every site; 201 with the change made."""
    principal = await authenticate(request)
    settings = request.app[keys.SETTINGS]
    f = Fields(await read_json_object(request, settings.max_request_bytes))
    f.only(("model", "site"))
    spec = f.text("model", required=True, max_chars=MAX_SPEC_CHARS)
    site_id = _site_or_all(f)
    if spec is not None and (problem := spec_problem(spec, model_dir=settings.models_path)):
        f.problem("model", problem)
    f.done()
    assert spec is not None
    _check_scope(principal, site_id)
    try:
        made = await request.app[keys.PROMOTIONS].promote(site_id, spec, principal.actor)
    except NotFound:
        raise _no_site(site_id) from None
    return private(made.to_json(), status=201)


@routes.post("/v1/models/rollback")
async def rollback(request: web.Request) -> web.Response:
    """Restore the scope's model before its newest change; 201 with the change made."""
    principal = await authenticate(request)
    settings = request.app[keys.SETTINGS]
    f = Fields(await read_json_object(request, settings.max_request_bytes))
    f.only(("site",))
    site_id = _site_or_all(f)
    f.done()
    _check_scope(principal, site_id)
    try:
        made = await request.app[keys.PROMOTIONS].rollback(site_id, principal.actor)
    except NotFound:
        raise _no_site(site_id) from None
    return private(made.to_json(), status=201)


@routes.get("/v1/models/promotions")
async def promotions(request: web.Request) -> web.Response:
    """Every change, newest first: ``?site=`` narrows to that site's and the every-site ones;
    a moderator sees those of the sites their token covers."""
    principal = await authenticate(request)
    limit = query_limit(request, PROMOTIONS_PAGE)
    _, sites = await query_sites(request, principal)
    changes = await request.app[keys.PROMOTIONS].history(sites, limit)
    return private({"items": [c.to_json() for c in changes], "next_cursor": None})
