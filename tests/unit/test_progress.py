"""Progress bars: drawn on stderr for a person at a terminal, never into CI logs, pipes or
``--json`` output, and not with ``--quiet``."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from moderation.model_build import make_tiny_checkpoint
from service.cli.model import add_model_commands
from service.cli.progress import progress_bar
from service.settings import load_settings


class Terminal(io.StringIO):
    """A stderr that says it is a terminal and keeps what was drawn on it."""

    def isatty(self) -> bool:
        return True


def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """Make stderr a terminal. Called in the test itself: pytest's capture puts its own
    stderr back between a fixture's setup and the test."""
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    return screen


def test_progress_bar__drawn_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_a_terminal(monkeypatch)
    with progress_bar(3, "copying", unit="rows", quiet=False) as bar:
        bar.update(3)
    assert "copying" in terminal.getvalue()
    assert "3/3" in terminal.getvalue()


def test_progress_bar__quiet_draws_nothing_even_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = on_a_terminal(monkeypatch)
    with progress_bar(3, "copying", unit="rows", quiet=True) as bar:
        bar.update(3)
    assert terminal.getvalue() == ""


def test_progress_bar__nothing_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3, "copying", unit="rows", quiet=False) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def _evaluate(tmp_path: Path, *flags: str) -> int:
    checkpoint = make_tiny_checkpoint("bert", tmp_path / "tiny")
    data = tmp_path / "d.csv"
    data.write_text("text,label\nyou idiot,1\nnice day,0\nshut up,1\nthanks,0\n")
    env = {"REPLYGUARD_MODEL": str(checkpoint), "REPLYGUARD_DATA_DIR": str(tmp_path)}
    parser = argparse.ArgumentParser(prog="replyguard")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", "--data", str(data), *flags])
    args.settings = load_settings(env)
    code: int = args.func(args)
    return code


def test_cli_evaluate__bar_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_a_terminal(monkeypatch)
    assert _evaluate(tmp_path) == 0
    assert "scoring" in terminal.getvalue()
    assert "4/4" in terminal.getvalue()
    assert "ROC-AUC" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--json", "--quiet"])
def test_cli_evaluate__json_or_quiet_draw_no_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    terminal = on_a_terminal(monkeypatch)
    assert _evaluate(tmp_path, flag) == 0
    assert "scor" not in terminal.getvalue()
    if flag == "--json":
        json.loads(capsys.readouterr().out)


def test_cli_evaluate__stderr_clean_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _evaluate(tmp_path) == 0
    assert capsys.readouterr().err == ""
