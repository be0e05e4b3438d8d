# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend's settings: a YAML file validated at start, the database password from a file.

Every setting has a default except ``database.password_file`` (and the database's name and user,
which default to ``quadstats``). Unknown settings are errors, so a typo never goes unnoticed.
:func:`load_settings` raises :class:`ConfigError` with one ``setting <name>: <problem>`` line per
wrong setting. docs/backend.md lists every setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ansible_collections.quadstats.stack.services.common.config import (
    ConfigError,
    load_yaml_file,
    read_secret_file,
    validation_messages,
)

DEFAULT_CONFIG = "/etc/quadstats/backend.yml"
MIB = 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    host: str = Field("127.0.0.1", min_length=1, description="PostgreSQL host name, address or unix socket directory")
    port: int = Field(5432, ge=1, le=65535)
    dbname: str = Field("quadstats", min_length=1, max_length=63)
    user: str = Field("quadstats", min_length=1, max_length=63)
    password_file: Path | None = Field(None, description="file holding the password (LoadCredential); none: peer/trust")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    sslrootcert: Path | None = None
    connect_timeout: int = Field(10, ge=1, le=300, description="seconds")
    pool_min_size: int = Field(1, ge=0, le=100)
    pool_max_size: int = Field(10, ge=1, le=1000)
    migrate_on_start: bool = True


class ListenSettings(_Section):
    host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on its published port
    port: int = Field(8080, ge=1, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


class IngestSettings(_Section):
    max_body_bytes: int = Field(10 * MIB, ge=1024, le=1024 * MIB, description="largest request body as sent")
    max_decompressed_bytes: int = Field(64 * MIB, ge=1024, le=4096 * MIB, description="largest body after gzip/snappy")
    max_batch_items: int = Field(10_000, ge=1, le=1_000_000, description="metrics, journal lines or alerts per request")


class RetentionSettings(_Section):
    journal_days: int = Field(7, ge=1, le=36500, description="journal rows older than this are dropped")
    interval_seconds: int = Field(3600, ge=10, le=86400, description="how often the service drops old chunks")


class OverrideSettings(_Section):
    host: str = Field("*", min_length=1, description="host glob pattern")
    name: str = Field("*", min_length=1, description="metric name glob pattern")
    disk_threshold_percent: float | None = Field(None, ge=0, le=100)
    ping_minutes: float | None = Field(None, gt=0)
    sustained_seconds: int | None = Field(None, ge=0, le=7 * 86400)
    reminder_minutes: float | None = Field(None, ge=0, le=7 * 1440)


class AlertSettings(_Section):
    evaluation_interval_seconds: float = Field(30, ge=1, le=3600)
    disk_threshold_percent: float = Field(90, ge=0, le=100, description="a disk above this alerts")
    ping_default_minutes: float = Field(5, gt=0, description="a ping older than this alerts (unless it says otherwise)")
    sustained_seconds: int = Field(0, ge=0, le=7 * 86400, description="the condition must hold this long to fire")
    overrides: tuple[OverrideSettings, ...] = ()
    expire_after_days: float = Field(
        0, ge=0, le=3650, description="forget metrics not reported for this long (0: never), e.g. removed containers"
    )
    reminder_minutes: float = Field(
        0, ge=0, le=7 * 1440, description="repeat a firing, unmuted alert this often (0: never)"
    )
    alertmanager_resolve_minutes: float = Field(
        5,
        gt=0,
        le=1440,
        description="an Alertmanager-API alert without endsAt resolves this long after it was last sent",
    )
    database_unreachable_seconds: float = Field(
        120, ge=0, le=86400, description="Telegram message when the database is unreachable this long (0: never)"
    )

    def rules(self):
        from ansible_collections.quadstats.stack.services.backend.alerts.rules import Override, Rules  # noqa: PLC0415

        return Rules(
            self.disk_threshold_percent,
            self.ping_default_minutes,
            self.sustained_seconds,
            tuple(Override(**o.model_dump()) for o in self.overrides),
            self.expire_after_days,
            self.reminder_minutes,
            self.alertmanager_resolve_minutes,
        )


class ApiSettings(_Section):
    admin_token_file: Path | None = Field(
        None, description="file holding the admin API token (silences, maintenance windows); none: that API is off"
    )


class TelegramSettings(_Section):
    enabled: bool = False
    api_base_url: str = Field("https://api.telegram.org", pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    token_file: Path | None = Field(None, description="file holding the bot token (LoadCredential)")
    chat_id: str | int = ""
    ca_file: Path | None = Field(None, description="CA bundle to verify the API with (default: the system's)")
    timeout_seconds: float = Field(10, gt=0, le=120)
    max_attempts: int = Field(8, ge=1, le=100)
    poll_interval_seconds: float = Field(1, gt=0, le=60)


class PrometheusRelaySettings(_Section):
    url: str = Field(
        ...,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="Prometheus's remote-write receiver, e.g. https://10.89.0.12:9090/api/v1/write",
    )
    ca_file: Path | None = Field(None, description="CA bundle to verify Prometheus with (default: the system's)")
    server_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{1,253}$",
        description="the host name (or address) Prometheus's certificate is checked against, instead of the URL's",
    )
    queue_batches: int = Field(1000, ge=1, le=100_000, description="batches kept while Prometheus is away")
    queue_bytes: int = Field(
        64 * MIB, ge=1024, le=4096 * MIB, description="their bodies' size (as received) kept at most; the oldest go"
    )
    max_attempts: int = Field(4, ge=1, le=100, description="tries per batch on connection errors and 5xx")
    backoff_seconds: float = Field(1, gt=0, le=60, description="first wait between tries (doubling, up to 10 s)")
    timeout_seconds: float = Field(10, gt=0, le=120)


class OidcSettings(_Section):
    discovery_url: str = Field(
        ...,
        pattern=r"^https://[^/?#]+(/[^?#]*)?$",
        description="the issuer's https://…/.well-known/openid-configuration",
    )
    client_id: str = Field(..., min_length=1, max_length=512)
    client_secret_file: Path = Field(..., description="file holding the client secret (LoadCredential)")
    ca_file: Path | None = Field(None, description="CA bundle to verify the issuer with (default: the system's)")
    scopes: str = Field("openid email profile", pattern=r"(^|.* )openid( .*|$)", description="must include openid")
    allowed_emails: tuple[str, ...] = Field((), description="e-mail addresses that may log in (case-insensitive)")
    require_verified_email: bool = Field(True, description="refuse e-mails the issuer does not call verified")
    button_label: str = Field("Log in with single sign-on", min_length=1, max_length=80)
    timeout_seconds: float = Field(10, gt=0, le=120)

    def allows(self, email: str | None) -> bool:
        """Whether ``email`` is on the allow-list (case-insensitive)."""
        return bool(email) and email.lower() in {allowed.lower() for allowed in self.allowed_emails}


class WebSettings(_Section):
    enabled: bool = Field(False, description="serve the web pages and their login")
    session_key_file: Path | None = Field(None, description="file holding the key that signs cookies (>= 32 bytes)")
    session_lifetime_minutes: int = Field(
        720, ge=5, le=90 * 24 * 60, description="a session ends this long after login"
    )
    secure_cookies: bool = Field(False, description="always mark cookies Secure (behind a TLS proxy); else on HTTPS")
    admin_username: str = Field("admin", min_length=1, max_length=64, pattern=r"^[^\s:]+$")
    admin_password_file: Path | None = Field(
        None, description="the local admin's first password (none: no local login)"
    )
    login_max_failures: int = Field(10, ge=1, le=1000, description="failed logins per client address before a lockout")
    login_lockout_minutes: int = Field(15, ge=1, le=1440)
    oidc: OidcSettings | None = None


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    listen: ListenSettings = ListenSettings()
    ingest: IngestSettings = IngestSettings()
    retention: RetentionSettings = RetentionSettings()
    alerts: AlertSettings = AlertSettings()
    api: ApiSettings = ApiSettings()
    telegram: TelegramSettings = TelegramSettings()
    web: WebSettings = WebSettings()
    prometheus_relay: PrometheusRelaySettings | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+(/[^?#]*[^/?#])?$",
        max_length=200,
        description="the service's URL as users reach it (no / at the end): Telegram links, the OIDC redirect URI",
    )


def parse_settings(data: dict) -> Settings:
    """Validate a settings mapping; :class:`ConfigError` lists every wrong setting."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(validation_messages(exc))) from None
    db = settings.database
    if db.pool_min_size > db.pool_max_size:
        raise ConfigError("setting database.pool_min_size: must not exceed database.pool_max_size")
    if settings.api.admin_token_file is not None:
        admin_token(settings)
    tls = settings.listen
    if (tls.tls_cert_file is None) != (tls.tls_key_file is None):
        raise ConfigError("settings listen.tls_cert_file and listen.tls_key_file: give both or neither")
    for name, path in (("listen.tls_cert_file", tls.tls_cert_file), ("listen.tls_key_file", tls.tls_key_file)):
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"setting {name}: {path} does not exist or is not readable")
    tg = settings.telegram
    if tg.enabled and (tg.token_file is None or tg.chat_id in ("", None)):
        raise ConfigError("settings telegram.token_file and telegram.chat_id: both are needed when telegram.enabled")
    if tg.ca_file is not None and not os.access(tg.ca_file, os.R_OK):
        raise ConfigError(f"setting telegram.ca_file: {tg.ca_file} does not exist or is not readable")
    relay = settings.prometheus_relay
    if relay is not None:
        if relay.ca_file is not None and not os.access(relay.ca_file, os.R_OK):
            raise ConfigError(f"setting prometheus_relay.ca_file: {relay.ca_file} does not exist or is not readable")
        if not relay.url.startswith("https://") and (relay.ca_file is not None or relay.server_name is not None):
            raise ConfigError(
                "settings prometheus_relay.ca_file and prometheus_relay.server_name: only for an https:// url"
            )
    _check_web(settings.web)
    return settings


MIN_SESSION_KEY_BYTES = 32


def _check_web(web: WebSettings) -> None:
    for name, path in (
        ("web.admin_password_file", web.admin_password_file),
        ("web.oidc.ca_file", web.oidc and web.oidc.ca_file),
    ):
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"setting {name}: {path} does not exist or is not readable")
    if not web.enabled:
        return
    if web.session_key_file is None:
        raise ConfigError("setting web.session_key_file: needed when web.enabled (a file with >= 32 random bytes)")
    if len(session_key(web).encode()) < MIN_SESSION_KEY_BYTES:
        raise ConfigError(f"setting web.session_key_file: the key must be at least {MIN_SESSION_KEY_BYTES} bytes")
    if web.admin_password_file is None and web.oidc is None:
        raise ConfigError("settings web.admin_password_file and web.oidc: web.enabled needs at least one way to log in")
    if web.oidc is not None:
        oidc_client_secret(web.oidc)
        if not web.oidc.allowed_emails:
            raise ConfigError("setting web.oidc.allowed_emails: list the e-mail addresses that may log in")
        for email in web.oidc.allowed_emails:
            if email.count("@") != 1 or email.strip() != email:
                raise ConfigError(f"setting web.oidc.allowed_emails: {email!r} is not an e-mail address")


def session_key(web: WebSettings) -> str:
    return read_secret_file(web.session_key_file, "web.session_key_file")


def oidc_client_secret(oidc: OidcSettings) -> str:
    return read_secret_file(oidc.client_secret_file, "web.oidc.client_secret_file")


def admin_first_password(web: WebSettings) -> str:
    return read_secret_file(web.admin_password_file, "web.admin_password_file")


def telegram_token(settings: Settings) -> str:
    return read_secret_file(settings.telegram.token_file, "telegram.token_file")


MIN_ADMIN_TOKEN_CHARS = 24


def admin_token(settings: Settings) -> str | None:
    """The admin API token (None when ``api.admin_token_file`` is not set); short tokens are refused."""
    if settings.api.admin_token_file is None:
        return None
    token = read_secret_file(settings.api.admin_token_file, "api.admin_token_file").strip()
    if len(token) < MIN_ADMIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ConfigError(
            f"setting api.admin_token_file: the token must be at least {MIN_ADMIN_TOKEN_CHARS} characters without"
            " spaces (e.g. from: openssl rand -base64 32)"
        )
    return token


def load_settings(path: str | os.PathLike[str] = DEFAULT_CONFIG) -> Settings:
    return parse_settings(load_yaml_file(path))


def database_password(settings: Settings) -> str | None:
    """The database password from ``database.password_file`` (read at each call: credentials may rotate)."""
    if settings.database.password_file is None:
        return None
    return read_secret_file(settings.database.password_file, "database.password_file")


def conninfo(settings: Settings) -> str:
    """A libpq connection string for ``settings.database`` (password included when configured)."""
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415 - keep config parsing importable without psycopg

    db = settings.database
    params = {
        "host": db.host,
        "port": db.port,
        "dbname": db.dbname,
        "user": db.user,
        "sslmode": db.sslmode,
        "connect_timeout": db.connect_timeout,
        "application_name": "quadstats-backend",
    }
    if db.sslrootcert is not None:
        params["sslrootcert"] = str(db.sslrootcert)
    password = database_password(settings)
    if password is not None:
        params["password"] = password
    return make_conninfo("", **params)
