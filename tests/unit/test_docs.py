"""The README and what it describes stay in step: CI installs with the README's command, and
every setting is in the configuration table."""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path

from service.settings import Settings, env_name

REPO = Path(__file__).parents[2]
README = (REPO / "README.md").read_text()


def _pip_install(line: str) -> list[str]:
    """A ``pip install`` command's arguments, without quiet flags or an environment prefix."""
    words = shlex.split(line[line.index("pip install") :].split("#")[0])
    return [w for w in words if w != "-q"]


def test_ci__installs_with_the_readmes_command() -> None:
    quick_start = README[README.index("## Quick start") : README.index("## Tests")]
    [readme_line] = [x for x in quick_start.splitlines() if x.startswith("pip install")]
    ci_lines = [
        x for x in (REPO / ".ci/run").read_text().splitlines() if "pip install" in x and "-e" in x
    ]
    assert [_pip_install(x) for x in ci_lines] == [_pip_install(readme_line)]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in readme_line


def test_readme__lists_every_setting() -> None:
    start = README.index("## Configuration")
    table = README[start : README.index("\n## ", start)]
    # The table may shorten a family: `REPLYGUARD_RETRY_INITIAL`, `_MULTIPLIER`, `_MAX`.
    names = [env_name(f.name) for f in fields(Settings)]
    missing = [n for n in names if f"`{n}`" not in table and f"`_{n.split('_')[-1]}`" not in table]
    assert missing == []
