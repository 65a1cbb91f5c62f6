"""A Python without the scoring extra, for subprocesses: what a web or webhook node that
installed ``replyguard`` without ``[scoring]`` looks like to the code.

The test environment has torch and the rest installed (the tests score with the real model),
so a ``sitecustomize`` module on the child's ``PYTHONPATH`` marks each scoring module absent
(``sys.modules[name] = None``): importing one raises ``ModuleNotFoundError`` and
``importlib.util.find_spec`` finds nothing, as on a node where it was never installed. CI's
``.ci/wheel`` checks the same against a real install without the extra.
"""

from __future__ import annotations

import os
from pathlib import Path

from service.cli.extras import SCORING_MODULES

REPO = Path(__file__).parents[1]


def env_without_scoring(folder: Path) -> dict[str, str]:
    """The environment for a child Python, run from ``REPO``'s code, in which none of the
    scoring extra's modules can be imported. Writes its ``sitecustomize.py`` in ``folder``;
    no DATABASE_URL (the caller sets one if it wants one)."""
    hook = folder / "no-scoring"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(
        f"import sys\nfor name in {SCORING_MODULES!r}:\n    sys.modules[name] = None\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join((str(hook), str(REPO)))
    return env
