"""The moderator's page templates, without a server or a database: every file parses, is
used and ships in the package; values are escaped however hostile; a missing value fails."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from jinja2 import UndefinedError, meta

from moderation.calibration import ModeratorDecision, calibrate
from moderation.domain import ModelInfo
from moderation.policy import Policy, Thresholds
from service.store.review import LiveSession, User
from service.store.values import Site
from service.store.webhooks import Endpoint
from service.web.pages import templating, views
from service.web.pages.charts import AXES, RULES, charts
from service.web.pages.templating import environment, render

REPO = Path(__file__).parents[2]
PAGES = REPO / "service/web/pages"
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _base(**context: Any) -> dict[str, Any]:
    """What base.html needs, as views._page passes it."""
    base = {
        "title": EVIL,
        "page": "test",
        "data": {"user": EVIL},
        "csrf": EVIL,
        "css_url": "/static/moderate.css?v=1",
        "script_url": "/static/moderate.js?v=1",
    }
    return base | context


def _header(name: str = EVIL) -> views.Header:
    user = User(id=1, name=name, role="admin", sites=frozenset({EVIL}))
    session = LiveSession(user=user, expires_at=NOW, last_seen_at=NOW)
    return views.Header.of(session, EVIL, site_link=EVIL)


def _endpoint() -> Endpoint:
    return Endpoint(
        id=uuid4(),
        url=f"https://hooks.example/{EVIL}",
        site_id="daily",
        events=("comment.held",),
        description=EVIL,
        enabled=False,
        disabled_reason=EVIL,
        disabled_at=NOW,
        disabled_by="ann",
        failing_since=NOW,
        previous_secret_until=None,
        created_by="ann",
        created_at=NOW,
        updated_at=NOW,
    )


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _assert_escaped(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_templates__every_file_parses() -> None:
    env = environment()
    names = env.list_templates()
    folder = PAGES / "templates"
    assert names == sorted(p.relative_to(folder).as_posix() for p in _files(folder))
    for name in names:
        env.get_template(name)  # compiles, or raises TemplateSyntaxError


def test_templates__every_file_is_used() -> None:
    """A page the views render, or a piece another template extends, includes or imports."""
    env = environment()
    views_source = (PAGES / "views.py").read_text()
    used = set(re.findall(r'"(\w+\.html)"', views_source))
    assert env.loader is not None
    for name in env.list_templates():
        source, _, _ = env.loader.get_source(env, name)
        used |= {t for t in meta.find_referenced_templates(env.parse(source)) if t}
    assert used == set(env.list_templates())


def test_templates__never_turn_escaping_off() -> None:
    for path in _files(PAGES / "templates"):
        source = path.read_text()
        assert not re.search(r"\|\s*safe\b|autoescape\s+false", source), path.name


def test_templates__ship_as_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service.web"]
    web = PAGES.parent
    shipped = {path for pattern in patterns for path in web.glob(pattern)}  # as setuptools
    for path in _files(PAGES / "templates"):
        assert path in shipped, f"{path} is not package data: add its folder to pyproject.toml"


def test_templates__escape_hostile_values_on_the_site_page() -> None:
    policy = Policy(
        thresholds={"toxicity": Thresholds(hold_at=0.5)},
        blocked_terms=(EVIL,),
        watched_terms=(EVIL, "scam"),
    )
    site = Site("daily", EVIL, (EVIL,), policy, NOW, NOW)
    model = ModelInfo(EVIL, EVIL)
    calibration = calibrate(
        [ModeratorDecision({"toxicity": i / 10}, i > 5, model) for i in range(10)]
    )
    html = render(
        "site.html",
        **_base(),
        header=_header(),
        site=site,
        origins=EVIL,
        updated=EVIL,
        policy=policy,
        links=EVIL,
        thresholds=[(EVIL, EVIL, EVIL)],
        admin=True,
        mode_choices=[(EVIL, EVIL)],
        form_rows=[(EVIL, EVIL, EVIL, EVIL)],
        policy_json=EVIL,
        max_links=EVIL,
        webhooks=[views.WebhookRow.of(_endpoint())],
        calibration=calibration,
        charts=charts(calibration, policy),
        axes=AXES,
        rules=RULES,
        calibration_last=5000,
        applied=EVIL,
    )
    _assert_escaped(html)
    assert '<textarea name="watched_terms" rows="4">&lt;script&gt;alert(1)' in html
    assert 'class="mark current-hold"' in html and '<polyline class="precision"' in html


def test_templates__escape_hostile_values_on_the_queue_and_sign_in() -> None:
    choices = [(EVIL, EVIL)]
    queue = render(
        "queue.html",
        **_base(),
        header=_header(),
        site_choices=choices,
        label_choices=choices,
        status_choices=choices,
        order_choices=choices,
        site=EVIL,
        article=EVIL,
        label=EVIL,
        status=EVIL,
        order=EVIL,
    )
    _assert_escaped(queue)
    assert 'class="who" title="&lt;script&gt;' in queue
    sign_in = render(
        "sign_in.html", **_base(), message=EVIL, note="", next_query=EVIL, token=EVIL, name=EVIL
    )
    _assert_escaped(sign_in)
    demo = render("demo.html", **_base(), site_id=EVIL, article_id=EVIL, missing=True, origin=EVIL)
    _assert_escaped(demo)


async def test_templates__compiled_once_then_rendered_without_reading_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await templating.compile_all()
    loader = environment().loader
    assert loader is not None

    def no_reads(*args: object) -> None:
        raise AssertionError("read a template file while rendering")

    monkeypatch.setattr(loader, "get_source", no_reads)
    page = render("refused.html", **_base())
    assert "CSRF token is missing or wrong" in page


def test_templates__a_missing_value_fails_loudly() -> None:
    with pytest.raises(UndefinedError, match="'name' is undefined"):
        render("sign_in.html", **_base(), message="", note="", next_query="", token="")
