"""Install sets: a web or webhook node runs without the ``scoring`` extra (torch,
transformers, Detoxify); the commands that need the model say how to install it.

The import graph is checked in a fresh interpreter, since this one has imported torch long
ago. ``tests/integration/test_install_sets_web.py`` runs ``web`` itself without the extra.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.cli.extras import SCORING_MODULES
from tests.no_scoring import REPO, env_without_scoring

#: What a web, deliver or staff command imports, at import time or inside the functions it
#: runs, and building the parser and both web apps (create_app does no I/O).
_WEB_SIDE = """
import sys
import service.cli.main, service.cli.healthcheck, service.cli.schema, service.cli.users
import service.cli.staff, service.cli.model, service.web.app, service.web.serving
import service.webhooks.deliverer, service.store.db, service.store.schema
import service.queue.scoring
from service.cli.main import build_parser
from service.settings import load_settings
from service.web.app import create_app, create_ops_app

build_parser().parse_args(["web", "--port", "1"])
create_ops_app(create_app(load_settings({}, database_url="postgresql://u@127.0.0.1:1/db")))
heavy = %r
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_web_side__imports_none_of_the_scoring_packages() -> None:
    heavy = (*SCORING_MODULES, "numpy", "sentence_transformers", "sklearn", "scipy")
    done = subprocess.run(
        [sys.executable, "-c", _WEB_SIDE % (heavy,)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == []


_COMMANDS = [
    ["serve"],
    ["worker"],
    ["train", "--train", "train.csv", "--val", "val.csv"],
    ["evaluate", "--data", "data.csv"],
    ["download-model", "original"],
    ["blend-models", "a", "b", "--weight", "0.5", "--out", "c"],
]


@pytest.mark.parametrize("command", _COMMANDS, ids=lambda c: c[0])
def test_model_commands__without_the_scoring_extra_stop_with_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    env = env_without_scoring(tmp_path)
    env["REPLYGUARD_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "service", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 78 (EX_CONFIG), so serve does not restart it; nothing started, no embedded database.
    assert done.returncode == 78, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: replyguard {command[0]} needs the model")
    assert "no torch, transformers, detoxify" in line
    assert "pip install 'replyguard[scoring]'" in line
    assert not (tmp_path / "data").exists()


def test_deliver_and_staff_commands__do_not_ask_for_the_scoring_extra(tmp_path: Path) -> None:
    env = env_without_scoring(tmp_path)
    env["REPLYGUARD_DATA_DIR"] = str(tmp_path / "data")
    # With no database anywhere, create-token stops at that, not at a missing package.
    done = subprocess.run(
        [sys.executable, "-m", "service", "create-token", "--role", "admin"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: no replyguard database found")
    assert "scoring" not in done.stderr
