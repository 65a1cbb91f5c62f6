"""Settings, read once from the environment into a frozen object.

Every variable is listed in the README. Secrets (the database password) never appear in the
object's repr. A wrong value stops the process at start with the variable's name and what
it should be, rather than failing later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from service.netaddr import parse_networks


class SettingsError(ValueError):
    """An environment variable with a value replyguard cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    #: postgresql://user:pass@host:port/db; None starts the embedded PostgreSQL.
    database_url: str | None = field(default=None, repr=False)
    data_dir: Path = Path("replyguard-data")
    host: str = "127.0.0.1"
    port: int = 8080
    #: Where /readyz and /metrics are served (and /healthz again): operators only.
    ops_host: str = "127.0.0.1"
    ops_port: int = 8081
    log_level: str = "INFO"
    log_format: str = "text"

    # Scoring.
    model: str = "default"
    model_dir: Path | None = None
    scorer_threads: int | None = None
    #: auto: bf16 where the CPU has AVX512-BF16 or AMX, else fp32. int8 is not offered:
    #: it moved the default model's scores by far more than 0.02 (bench/README.md).
    scorer_precision: str = "auto"
    #: Comma-separated model specs (as ``model`` takes) each worker also scores every comment
    #: with, after the live decision, to compare them; they never decide (service.queue.shadows).
    shadow_models: str = ""

    # Workers.
    worker_processes: int = 1
    batch_size: int = 32
    poll_interval: float = 2.0
    job_lease: float = 120.0
    max_attempts: int = 5
    retry_initial: float = 2.0
    retry_multiplier: float = 4.0
    retry_max: float = 600.0
    shutdown_timeout: float = 20.0

    # Input limits.
    max_body_chars: int = 5000
    max_body_bytes: int = 20000
    max_request_bytes: int = 64 * 1024
    max_name_chars: int = 80

    # Web.
    #: Seconds a connection may take to send a request's headers, counted from when it
    #: opens or from its last answer (so also how long an idle keep-alive connection lasts).
    header_timeout: float = 10.0
    #: Seconds a request's body may take to arrive once a handler reads it (then 408).
    body_timeout: float = 30.0
    #: Web processes ``serve`` starts, sharing its ports (SO_REUSEPORT); None: one per core.
    web_processes: int | None = None
    db_pool_size: int = 10
    statement_timeout_ms: int = 5000
    worker_stale_after: float = 60.0

    # Abuse (service.web.ratelimit): per-minute limits per client network (/24, /64), per
    # author and per site, and readers' reports per network per hour, all counted in
    # PostgreSQL so they hold across web replicas; proxies whose X-Forwarded-For is
    # believed; how long the same author may not post the same text again; how long
    # idempotency keys are kept.
    rate_per_network: int = 30
    rate_per_author: int = 10
    rate_per_site: int = 6000
    reports_per_network: int = 20
    trusted_proxies: str = ""
    duplicate_window: float = 300.0
    idempotency_keep: float = 86400.0

    # Webhooks (service.webhooks.deliverer). Allowed networks: comma-separated CIDRs the SSRF guard
    # lets through (e.g. 127.0.0.1/32 for tests); empty refuses every private address.
    webhook_allowed_networks: str = ""
    webhook_concurrency: int = 32
    webhook_per_endpoint: int = 4
    webhook_connect_timeout: float = 5.0
    webhook_timeout: float = 15.0
    webhook_lease: float = 60.0
    webhook_poll_interval: float = 1.0
    webhook_batch_size: int = 100
    webhook_disable_after: float = 5 * 86400.0
    webhook_secret_overlap: float = 86400.0
    #: Finished deliveries, their messages and outbox events are deleted this many days
    #: after their last attempt (the audit log is kept).
    webhook_retention_days: int = 30

    # The moderator's page (service.web.pages.views, service.web.sessions): sessions end after
    # session_idle seconds without use or session_max after sign-in; cookie_secure is
    # auto (Secure when the request came over https), always or never.
    session_idle: float = 1800.0
    session_max: float = 12 * 3600.0
    cookie_secure: str = "auto"
    sign_in_failure_delay: float = 0.5
    claim_seconds: float = 180.0
    live_poll_interval: float = 3.0

    @property
    def models_path(self) -> Path:
        """Where downloaded Detoxify models live (``<name>/`` each)."""
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"

    @property
    def shadow_model_specs(self) -> tuple[str, ...]:
        """``shadow_models`` as a list: each spec once, in the order given."""
        return tuple(dict.fromkeys(s.strip() for s in self.shadow_models.split(",") if s.strip()))

    @property
    def database_display(self) -> str:
        """The database URL with its password masked, for logs."""
        if self.database_url is None:
            return f"embedded PostgreSQL in {self.data_dir / 'postgres'}"
        parts = urlsplit(self.database_url)
        if not parts.password:
            return self.database_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def web_process_count(self) -> int:
        """How many web processes ``serve`` runs: the setting, or one per core."""
        return self.web_processes or os.cpu_count() or 1

    def with_database(self, url: str) -> Settings:
        return replace(self, database_url=url)


_ENV: dict[str, str] = {
    "database_url": "DATABASE_URL",
    "data_dir": "REPLYGUARD_DATA_DIR",
    "host": "REPLYGUARD_HOST",
    "port": "REPLYGUARD_PORT",
    "ops_host": "REPLYGUARD_OPS_HOST",
    "ops_port": "REPLYGUARD_OPS_PORT",
    "log_level": "REPLYGUARD_LOG_LEVEL",
    "log_format": "REPLYGUARD_LOG_FORMAT",
    "model": "REPLYGUARD_MODEL",
    "model_dir": "REPLYGUARD_MODEL_DIR",
    "scorer_threads": "REPLYGUARD_SCORER_THREADS",
    "scorer_precision": "REPLYGUARD_SCORER_PRECISION",
    "shadow_models": "REPLYGUARD_SHADOW_MODELS",
    "worker_processes": "REPLYGUARD_WORKERS",
    "batch_size": "REPLYGUARD_BATCH_SIZE",
    "poll_interval": "REPLYGUARD_POLL_INTERVAL",
    "job_lease": "REPLYGUARD_JOB_LEASE",
    "max_attempts": "REPLYGUARD_MAX_ATTEMPTS",
    "retry_initial": "REPLYGUARD_RETRY_INITIAL",
    "retry_multiplier": "REPLYGUARD_RETRY_MULTIPLIER",
    "retry_max": "REPLYGUARD_RETRY_MAX",
    "shutdown_timeout": "REPLYGUARD_SHUTDOWN_TIMEOUT",
    "max_body_chars": "REPLYGUARD_MAX_BODY_CHARS",
    "max_body_bytes": "REPLYGUARD_MAX_BODY_BYTES",
    "max_request_bytes": "REPLYGUARD_MAX_REQUEST_BYTES",
    "max_name_chars": "REPLYGUARD_MAX_NAME_CHARS",
    "header_timeout": "REPLYGUARD_HEADER_TIMEOUT",
    "body_timeout": "REPLYGUARD_BODY_TIMEOUT",
    "web_processes": "REPLYGUARD_WEB_PROCESSES",
    "db_pool_size": "REPLYGUARD_DB_POOL_SIZE",
    "statement_timeout_ms": "REPLYGUARD_STATEMENT_TIMEOUT_MS",
    "worker_stale_after": "REPLYGUARD_WORKER_STALE_AFTER",
    "rate_per_network": "REPLYGUARD_RATE_PER_NETWORK",
    "rate_per_author": "REPLYGUARD_RATE_PER_AUTHOR",
    "rate_per_site": "REPLYGUARD_RATE_PER_SITE",
    "reports_per_network": "REPLYGUARD_REPORTS_PER_NETWORK",
    "trusted_proxies": "REPLYGUARD_TRUSTED_PROXIES",
    "duplicate_window": "REPLYGUARD_DUPLICATE_WINDOW",
    "idempotency_keep": "REPLYGUARD_IDEMPOTENCY_KEEP",
    "webhook_allowed_networks": "REPLYGUARD_WEBHOOK_ALLOWED_NETWORKS",
    "webhook_concurrency": "REPLYGUARD_WEBHOOK_CONCURRENCY",
    "webhook_per_endpoint": "REPLYGUARD_WEBHOOK_PER_ENDPOINT",
    "webhook_connect_timeout": "REPLYGUARD_WEBHOOK_CONNECT_TIMEOUT",
    "webhook_timeout": "REPLYGUARD_WEBHOOK_TIMEOUT",
    "webhook_lease": "REPLYGUARD_WEBHOOK_LEASE",
    "webhook_poll_interval": "REPLYGUARD_WEBHOOK_POLL_INTERVAL",
    "webhook_batch_size": "REPLYGUARD_WEBHOOK_BATCH_SIZE",
    "webhook_disable_after": "REPLYGUARD_WEBHOOK_DISABLE_AFTER",
    "webhook_secret_overlap": "REPLYGUARD_WEBHOOK_SECRET_OVERLAP",
    "webhook_retention_days": "REPLYGUARD_WEBHOOK_RETENTION_DAYS",
    "session_idle": "REPLYGUARD_SESSION_IDLE",
    "session_max": "REPLYGUARD_SESSION_MAX",
    "cookie_secure": "REPLYGUARD_COOKIE_SECURE",
    "sign_in_failure_delay": "REPLYGUARD_SIGN_IN_FAILURE_DELAY",
    "claim_seconds": "REPLYGUARD_CLAIM_SECONDS",
    "live_poll_interval": "REPLYGUARD_LIVE_POLL_INTERVAL",
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "log_format": ("text", "json"),
    "scorer_precision": ("auto", "fp32", "bf16"),
    "cookie_secure": ("auto", "always", "never"),
}


def env_name(setting: str) -> str:
    """The environment variable behind a setting (for error messages and the README)."""
    return _ENV[setting]


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read every ``REPLYGUARD_*`` variable (and ``DATABASE_URL``); ``overrides`` win."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(_ENV[f.name], "").strip()
        if raw:
            values[f.name] = _parse(f.name, raw, type(f.default) if f.default is not None else str)
    values.update(overrides)
    settings = Settings(**values)
    _check(settings)
    return settings


def _parse(name: str, raw: str, kind: type) -> Any:
    var = _ENV[name]
    if name in ("model_dir", "data_dir"):
        return Path(raw).expanduser()
    if name in ("scorer_threads", "web_processes") or kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: expected a whole number") from None
        if value < (0 if name in ("port", "ops_port") else 1):
            raise SettingsError(f"{var}={raw!r}: expected a positive number")
        return value
    if kind is float:
        try:
            number = float(raw)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: expected a number of seconds") from None
        if number <= 0:
            raise SettingsError(f"{var}={raw!r}: expected a positive number")
        return number
    if name in _CHOICES:
        value_s = raw.upper() if name == "log_level" else raw.lower()
        if value_s not in _CHOICES[name]:
            raise SettingsError(f"{var}={raw!r}: expected one of {', '.join(_CHOICES[name])}")
        return value_s
    return raw


def _check(settings: Settings) -> None:
    url = settings.database_url
    if url is not None and urlsplit(url).scheme not in (
        "postgres",
        "postgresql",
        "postgresql+asyncpg",
    ):
        raise SettingsError(
            "DATABASE_URL must look like postgresql://user:password@host:5432/dbname "
            "(or be unset to use the embedded PostgreSQL)"
        )
    if settings.model in settings.shadow_model_specs:
        raise SettingsError(
            f"REPLYGUARD_SHADOW_MODELS names the live model ({settings.model}): a shadow is "
            "compared with the live model, so name other models there"
        )
    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as error:
        raise SettingsError(
            f"REPLYGUARD_TRUSTED_PROXIES: {error}; give comma-separated CIDRs"
        ) from None
    try:
        parse_networks(settings.webhook_allowed_networks)
    except ValueError as error:
        raise SettingsError(
            f"REPLYGUARD_WEBHOOK_ALLOWED_NETWORKS: {error}; give comma-separated CIDRs"
        ) from None
