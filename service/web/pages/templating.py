"""The Jinja2 environment the HTML pages render through: one per process, built on first use.

Autoescaping is on for every template, so every value is escaped for HTML text and quoted
attributes alike; no template marks a value safe (a test checks), so site names, terms,
webhook descriptions and sign-in names can never become markup. ``StrictUndefined`` makes
a name missing from a page's context fail loudly (in tests) instead of rendering as an
empty string.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined

#: The folder, inside this package, that holds the templates (shipped as package data).
TEMPLATES: Final = "templates"


@cache
def environment() -> Environment:
    """The environment, created once; it reads and compiles each template on its first use
    and keeps it."""
    return Environment(
        loader=PackageLoader("service.web.pages", TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        # The templates ship with the package and never change under a running process:
        # no stat of the file at every render.
        auto_reload=False,
        # Tags on a line of their own leave no blank line behind.
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_compiled = False


def _compile_all() -> None:
    env = environment()
    for name in env.list_templates():
        env.get_template(name)


async def compile_all() -> None:
    """Read and compile every template, once per process and in a thread, so the first page
    a process serves does not stall the event loop on file reads and compiling (tens of
    milliseconds)."""
    global _compiled
    if not _compiled:
        await asyncio.to_thread(_compile_all)
        _compiled = True


def render(template: str, /, **context: Any) -> str:
    """``template`` (a file name under ``templates/``) rendered with ``context``; any name,
    even ``template``, may be a context key. Without ``compile_all`` first, the template is
    read and compiled here on its first use."""
    return environment().get_template(template).render(context)
