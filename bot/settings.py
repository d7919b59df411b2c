"""One settings object, read from the environment (prefix ``SIGNALDESK_``) and ``.env``.

Slack and Discord use their platforms' conventional variable names (``SLACK_BOT_TOKEN``,
``DISCORD_TOKEN`` …). Every field is listed in ``.env.example``; a test keeps them in step.
Each secret may instead be read from a file named by ``<NAME>_FILE`` (Docker secrets,
systemd credentials), and ``--env-file PATH`` reads another file than ``./.env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError


def _plain(name: str) -> AliasChoices:
    """A field read from an unprefixed, conventional variable (e.g. SLACK_BOT_TOKEN)."""
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SIGNALDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        validate_default=True,
        populate_by_name=True,
    )

    # storage
    database: str = Field(
        "signaldesk.db",
        description=(
            "SQLite file path, or :memory: for a throwaway database, or a postgresql:// URL "
            "(pip install 'signaldesk[postgresql]'; docs/scale.md)."
        ),
    )

    # polling
    poll_interval: int = Field(900, ge=30, description="Default seconds between polls of a feed.")
    max_backoff: int = Field(
        86_400, ge=60, description="Longest wait in seconds after repeated feed failures."
    )
    first_poll_limit: int = Field(
        3, ge=0, le=50, description="A newly added feed briefs only this many newest entries."
    )
    concurrency: int = Field(
        600,
        ge=1,
        le=5000,
        description="Most fetches in flight at once, across all hosts; the service runs "
        "as many as keep its event loop quick (bot.inflight). 625 checks/s at a 0.6 s "
        "round trip, hanging feeds included, need about 600 (Little's law).",
    )
    per_host_concurrency: int = Field(
        2, ge=1, le=100, description="Fetches in flight at once to one host (politeness)."
    )
    failure_notice_after: int = Field(
        5, ge=1, description="Consecutive failures before a channel is told a feed is failing."
    )

    # fetching
    fetch_timeout: float = Field(20.0, gt=0, le=300, description="Seconds for one whole fetch.")
    connect_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds to open a connection: a host that does not accept gives up "
        "the worker early, not after the whole fetch timeout.",
    )
    first_byte_timeout: float = Field(
        8.0,
        gt=0,
        le=300,
        description="Seconds a server may send nothing (before its answer, or mid-body) "
        "before the fetch gives up: a server that accepts and hangs holds a worker this "
        "long, not the whole fetch timeout.",
    )
    workers: int | None = Field(
        None,
        ge=0,
        le=16,
        description="Worker processes for feed parsing and article extraction (the second "
        "core; each task under SIGNALDESK_WORK_TIMEOUT). 0 = in threads of the one process. "
        "Empty: 2 with two or more cores, 0 on one core or with a :memory: database.",
    )
    work_timeout: float = Field(
        20.0,
        gt=0,
        le=600,
        description="Seconds one parse or extraction may take in a worker process; past "
        "it the worker is replaced and the feed or entry fails with that reason.",
    )
    memory_budget: int = Field(
        96,
        ge=16,
        le=4096,
        description="Megabytes for what grows with the news: the cluster index of recent "
        "stories (half), the condenser's analysis cache (a quarter) and the bytes parsed "
        "at once (a quarter, at ~15x a body's size).",
    )
    max_response_bytes: int = Field(
        5_000_000, ge=10_000, description="Largest feed or page body accepted (decompressed)."
    )
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed per fetch.")
    allow_private_networks: bool = Field(
        False,
        description="Allow feeds on loopback/private addresses (self-hosted feeds, the demo).",
    )
    user_agent: str = Field(
        "SignalDesk/0.1 (+https://github.com/signaldesk/signaldesk)",
        description="User-Agent sent with every request.",
    )
    fetch_pages: bool = Field(
        True, description="Fetch linked article pages (else use the feed's own text)."
    )

    # briefing
    cluster_window_hours: int = Field(
        72, ge=1, description="How far back a new entry may join an existing story."
    )
    keep_text_days: int = Field(
        30,
        ge=0,
        description="Days the full text of feed items and articles is kept once their "
        "story is quiet (0 = forever). Briefings, titles and links are kept regardless.",
    )

    # optional LLM condenser (any OpenAI-compatible chat-completions API)
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible API base URL (e.g. https://api.openai.com/v1, "
        "http://localhost:11434/v1): enables the LLM condenser.",
    )
    llm_model: str = Field(
        "", description="Model name sent with each request (required with a URL)."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="Sent as a Bearer token; leave empty for local servers."
    )
    llm_timeout: float = Field(
        60.0, gt=0, le=600, description="Seconds for one whole LLM request, then extractive."
    )
    llm_daily_tokens: int = Field(
        200_000, ge=0, description="Prompt + completion tokens per UTC day; then extractive."
    )
    llm_max_tokens: int = Field(
        1500,
        ge=256,
        le=32_000,
        description="Most tokens one model answer may use (a full briefing is about 1,200).",
    )

    # delivery
    delivery_retry_max: int = Field(
        3600, ge=1, description="Longest wait in seconds between retries of a failed post."
    )
    delivery_settle: float = Field(
        20.0,
        ge=0,
        le=600,
        description="Seconds a post whose answer was lost (timeout, crash) may still land: "
        "the outbox looks for it only after this, then sends it again if it is not there.",
    )

    # logging
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field(
        "text", description="text (for people) or json (one object a line, for collectors)."
    )

    # health and metrics
    http_metrics: str | None = Field(
        None,
        description="host:port to serve /healthz, /readyz and Prometheus /metrics on "
        "(e.g. 127.0.0.1:9108); unset: no listener.",
    )
    healthcheck_stale_after: float = Field(
        120.0,
        ge=5,
        description="Seconds without a scheduler tick after which the service counts as hung.",
    )

    # Slack (conventional names)
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=_plain("SLACK_BOT_TOKEN"), description="Bot token (xoxb-…)."
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=_plain("SLACK_SIGNING_SECRET"),
        description="Verifies requests in HTTP mode.",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=_plain("SLACK_APP_TOKEN"),
        description="App-level token (xapp-…): enables Socket Mode.",
    )
    slack_api_url: str | None = Field(
        None, description="Slack Web API base URL (tests point it at a local server)."
    )
    slack_host: str = Field(
        "0.0.0.0", description="Slack HTTP mode: address to listen on for /slack/events."
    )
    slack_port: int = Field(
        3000, ge=0, le=65535, description="Slack HTTP mode: port to listen on (0 = any free)."
    )
    slack_admin_users: str = Field(
        "",
        description="Comma-separated Slack user ids with admin rights, besides workspace "
        "admins and owners.",
    )
    slack_client_id: str | None = Field(
        None,
        validation_alias=_plain("SLACK_CLIENT_ID"),
        description="OAuth client id: enables multi-workspace install (HTTP mode).",
    )
    slack_client_secret: SecretStr | None = Field(
        None,
        validation_alias=_plain("SLACK_CLIENT_SECRET"),
        description="OAuth client secret (with SLACK_CLIENT_ID).",
    )
    slack_marketplace_app: bool = Field(
        False,
        description="With SLACK_CLIENT_ID: the app is approved for the Slack Marketplace, so "
        "its history look-ups after a crash may read 200 messages a page; otherwise Slack "
        "allows a distributed app 15 a page, once a minute.",
    )

    # Discord (conventional names)
    discord_token: SecretStr | None = Field(
        None, validation_alias=_plain("DISCORD_TOKEN"), description="Bot token."
    )
    discord_guild_id: int | None = Field(
        None,
        validation_alias=_plain("DISCORD_GUILD_ID"),
        description="Sync commands to this server only (fast during setup).",
    )
    discord_api_url: str | None = Field(
        None, description="Discord REST base URL (tests point it at a local server)."
    )

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value

    @field_validator("http_metrics")
    @classmethod
    def _http_metrics(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be host:port, such as 127.0.0.1:9108")
        return f"{host.strip('[]')}:{int(port)}"

    @property
    def http_metrics_address(self) -> tuple[str, int] | None:
        if self.http_metrics is None:
            return None
        host, _, port = self.http_metrics.rpartition(":")
        return host, int(port)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a file path or :memory:")
        return value

    @field_validator("keep_text_days")
    @classmethod
    def _keep_text_days(cls, value: int, info: ValidationInfo) -> int:
        # A story that can still gain a source is condensed again from its sources' text.
        window = info.data.get("cluster_window_hours", 0)
        if value and value * 24 <= window:
            raise ValueError(
                f"must be 0 (keep forever) or more than the cluster window "
                f"({window} hours): a story that can still grow needs its sources' text"
            )
        return value

    @field_validator("llm_base_url")
    @classmethod
    def _llm_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.openai.com/v1")
        return value

    @field_validator("llm_model")
    @classmethod
    def _llm_model(cls, value: str, info: ValidationInfo) -> str:
        # Checked here rather than at the first request: a missing model would otherwise
        # surface only as a fallback to the extractive condenser on every story.
        value = value.strip()
        if info.data.get("llm_base_url") and not value:
            raise ValueError("is required when SIGNALDESK_LLM_BASE_URL is set")
        return value

    @property
    def database_path(self) -> Path | None:
        return None if self.database == ":memory:" else Path(self.database)


def env_name(field: str) -> str:
    """The environment variable a settings field is read from."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return "SIGNALDESK_" + field.upper()


def secret_fields() -> list[str]:
    """The settings that hold secrets (tokens, keys): each may come from a file."""
    return [
        name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
    ]


def _secrets_from_files(environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """``<NAME>_FILE`` for each secret ``<NAME>`` (``SLACK_BOT_TOKEN_FILE``,
    ``DISCORD_TOKEN_FILE`` …), the convention of Docker secrets and systemd credentials:
    the secret is the file's content, without its trailing newline."""
    found: dict[str, SecretStr] = {}
    for field in secret_fields():
        name = env_name(field)
        path = environ.get(name + "_FILE", "").strip()
        if not path:
            continue
        if environ.get(name, "").strip():
            raise ConfigError(f"both {name} and {name}_FILE are set: keep one of them")
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                f"{name}_FILE: cannot read {path} ({reason}); point it at the file "
                "holding the secret"
            ) from None
        if not value.strip():
            raise ConfigError(f"{name}_FILE: {path} is empty; it should hold the secret")
        found[field] = SecretStr(value)
    return found


def load_settings(
    env_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Read and validate settings: the environment, secrets from ``<NAME>_FILE`` files,
    then ``env_file`` (``.env`` in the working directory when not given). A bad value
    raises ``ConfigError`` with one line naming the variable, what is wrong, and the
    value's expected form."""
    if env_file is not None and not Path(env_file).is_file():
        raise ConfigError(f"env file {env_file} does not exist (check the --env-file path)")
    values: dict[str, object] = {
        **_secrets_from_files(os.environ if environ is None else environ),
        **overrides,
    }
    if env_file is not None:
        values["_env_file"] = str(env_file)
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        name = env_name(field) if field in Settings.model_fields else field
        raise ConfigError(
            f"setting {name} is invalid: {first['msg']} (check your environment or .env file)"
        ) from None
