"""Model specs checked without loading anything: what the web process can tell of a model."""

from __future__ import annotations

from pathlib import Path

from moderation.model_specs import spec_problem


def test_spec_problem__names_what_is_missing_and_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "multilingual").mkdir()
    folder = tmp_path / "candidate"
    folder.mkdir()

    assert spec_problem("default", model_dir=tmp_path) is None
    assert spec_problem("multilingual", model_dir=tmp_path) is None
    assert spec_problem(str(folder), model_dir=tmp_path) is None
    assert "replyguard download-model unbiased" in str(spec_problem("unbiased", model_dir=tmp_path))
    for unknown in (str(tmp_path / "nowhere"), "0" * 500, "~no-such-user-here/model"):
        assert "nor a checkpoint file or model folder" in str(
            spec_problem(unknown, model_dir=tmp_path)
        ), unknown
