"""Settings from the environment: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings


def test_load_settings__defaults_without_environment() -> None:
    s = load_settings({})
    assert s.database_url is None
    assert (s.host, s.port, s.model, s.batch_size) == ("127.0.0.1", 8080, "default", 32)
    assert s.models_path == Path("replyguard-data/models")
    assert s.webhook_retention_days == 30
    assert load_settings({"REPLYGUARD_WEBHOOK_RETENTION_DAYS": "90"}).webhook_retention_days == 90


def test_load_settings__reads_and_converts_variables() -> None:
    s = load_settings(
        {
            "DATABASE_URL": "postgresql://u:secret@db:5432/rg",
            "REPLYGUARD_PORT": "9000",
            "REPLYGUARD_POLL_INTERVAL": "0.5",
            "REPLYGUARD_LOG_LEVEL": "debug",
            "REPLYGUARD_SCORER_PRECISION": "BF16",
            "REPLYGUARD_DATA_DIR": "/srv/rg",
        }
    )
    assert (s.port, s.poll_interval, s.log_level, s.scorer_precision) == (
        9000,
        0.5,
        "DEBUG",
        "bf16",
    )
    assert s.models_path == Path("/srv/rg/models")
    assert "u:secret@" not in repr(s)
    assert s.database_display == "postgresql://u:***@db:5432/rg"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REPLYGUARD_PORT": "eighty"}, "REPLYGUARD_PORT='eighty': expected a whole number"),
        ({"REPLYGUARD_BATCH_SIZE": "0"}, "REPLYGUARD_BATCH_SIZE='0': expected a positive number"),
        ({"REPLYGUARD_POLL_INTERVAL": "-1"}, "REPLYGUARD_POLL_INTERVAL='-1'"),
        ({"REPLYGUARD_LOG_FORMAT": "xml"}, "expected one of text, json"),
        ({"REPLYGUARD_SCORER_PRECISION": "int8"}, "expected one of auto, fp32, bf16"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must look like postgresql://"),
        ({"REPLYGUARD_WEBHOOK_RETENTION_DAYS": "0"}, "expected a positive number"),
        ({"REPLYGUARD_WEBHOOK_RETENTION_DAYS": "1.5"}, "expected a whole number"),
        (
            {"REPLYGUARD_MODEL": "original", "REPLYGUARD_SHADOW_MODELS": "unbiased,original"},
            "REPLYGUARD_SHADOW_MODELS names the live model (original)",
        ),
    ],
)
def test_load_settings__bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert message in str(caught.value)


def test_load_settings__listeners_and_slow_client_timeouts() -> None:
    s = load_settings({})
    # Operators' endpoints on loopback by default; stalled clients cut off within 30 s.
    assert (s.ops_host, s.ops_port) == ("127.0.0.1", 8081)
    assert s.header_timeout <= 30 and s.body_timeout <= 30
    s = load_settings(
        {
            "REPLYGUARD_OPS_HOST": "10.0.0.2",
            "REPLYGUARD_OPS_PORT": "0",
            "REPLYGUARD_HEADER_TIMEOUT": "2.5",
            "REPLYGUARD_BODY_TIMEOUT": "5",
        }
    )
    assert (s.ops_host, s.ops_port, s.header_timeout, s.body_timeout) == ("10.0.0.2", 0, 2.5, 5)
    with pytest.raises(SettingsError, match="REPLYGUARD_BODY_TIMEOUT='0'"):
        load_settings({"REPLYGUARD_BODY_TIMEOUT": "0"})


def test_load_settings__shadow_models_are_a_list_of_model_specs() -> None:
    assert load_settings({}).shadow_model_specs == ()
    s = load_settings({"REPLYGUARD_SHADOW_MODELS": " unbiased, /models/candidate.ckpt,,unbiased "})
    assert s.shadow_model_specs == ("unbiased", "/models/candidate.ckpt")
