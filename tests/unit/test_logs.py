"""Log lines: in JSON, ``extra=`` fields are keys of the object; in text, nothing changes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from service import logs


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _logged(capsys: pytest.CaptureFixture[str], fmt: str, **extra: object) -> str:
    logs.configure("INFO", fmt, "worker")
    logging.getLogger("service.queue.scoring").info("scored %d comments", 3, extra=extra)
    return capsys.readouterr().err


def test_json_logs__extra_fields_are_keys_and_odd_values_are_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = UUID("12345678-1234-5678-1234-567812345678")
    line = _logged(
        capsys,
        "json",
        count=3,
        ms=41.5,
        decided=True,
        endpoint_id=endpoint,
        path=Path("/tmp/x"),
        codes=(200, 503),
        ratio=float("nan"),
        status=None,
    )
    entry = json.loads(line)
    assert entry["message"] == "scored 3 comments"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "service.queue.scoring"
    assert {k: entry[k] for k in ("count", "ms", "decided", "codes", "status")} == {
        "count": 3,
        "ms": 41.5,
        "decided": True,
        "codes": [200, 503],
        "status": None,
    }
    assert entry["endpoint_id"] == str(endpoint)
    assert entry["path"] == "/tmp/x"
    assert entry["ratio"] == "nan"  # JSON has no NaN: written as a string, the line stays valid


def test_json_logs__standard_record_attributes_are_not_copied(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = json.loads(_logged(capsys, "json", site="daily"))
    assert entry["site"] == "daily"
    for attribute in ("args", "msg", "levelno", "pathname", "lineno", "funcName", "created"):
        assert attribute not in entry


def test_json_logs__the_lines_own_fields_win_over_an_extra_of_the_same_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = json.loads(_logged(capsys, "json", level="mine", time="mine"))
    assert entry["level"] == "INFO"
    assert entry["time"] != "mine"


def test_text_logs__extra_fields_leave_the_line_as_it_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _logged(capsys, "text", count=3, site="daily")
    assert line.rstrip("\n").endswith(
        f" INFO worker[{os.getpid()}] service.queue.scoring: scored 3 comments"
    )
    assert "daily" not in line
