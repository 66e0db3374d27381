"""Service settings: one pydantic-settings root with nested sections, read once and injected.

Sources, highest first: environment (``CLAIMBRIDGE_*``, nested with ``__``, e.g.
``CLAIMBRIDGE_WORKER__MAX_ATTEMPTS=8``), then the YAML settings file (``CLAIMBRIDGE_SETTINGS_FILE``,
default ``config/claimbridge.yaml``), then defaults. ``CLAIMBRIDGE_DATABASE_URL`` chooses the database.
Secrets are ``SecretStr``; with ``CLAIMBRIDGE_ENV=production`` placeholder secrets are refused.

Integration engineers' files (mappings, payers, rules) are not settings: see :mod:`app.config`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev-admin-token", "secret", "password"})
DEFAULT_SETTINGS_FILE = "config/claimbridge.yaml"


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url_problem(url: str, *, production: bool) -> str | None:
    """Why ``url`` may not carry a sign-in (OIDC issuer, its endpoints), or None: https always;
    plain http only on a loopback host (a local test provider) and never in production."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "is not a valid URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme != "http" or not host:
        return "is not an absolute https URL"
    if production:
        return f"must be https in production (http://{host})"
    if not _loopback(host):
        return f"must be https; plain http only on a loopback host (http://{host})"
    return None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    admin_token: SecretStr = SecretStr("dev-admin-token")
    public_base_url: str = "http://127.0.0.1:8000"
    # /metrics reuses the billing KPIs it computed for this long (they read every submitted claim)
    billing_metrics_seconds: float = Field(60.0, ge=0)


class IntakeSettings(_Section):
    max_body_bytes: int = Field(5_000_000, ge=1024)
    auth_cache_seconds: float = Field(5.0, ge=0)
    # What intake refuses before storing anything (app/intake/limits.py):
    max_events: int = Field(1000, ge=1)  # notification events per notification (more: 413)
    max_json_depth: int = Field(64, ge=8, le=512)  # nesting of the body's JSON (deeper: 400)
    validate_resources: bool = True  # each carried resource against the R4 JSON Schema (invalid: 400)


class WorkerSettings(_Section):
    max_attempts: int = Field(5, ge=1)
    backoff_base_seconds: float = Field(1.0, gt=0)
    backoff_cap_seconds: float = Field(300.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    poll_interval_seconds: float = Field(0.2, gt=0)
    batch_size: int = Field(20, ge=1)
    #: Pending inbox rows (acknowledged notifications) the expansion duty turns into jobs per transaction.
    expand_batch_size: int = Field(64, ge=1)
    #: Jobs of a batch committed in one transaction (a SAVEPOINT each only when a failure reruns the
    #: chunk); 1 = one transaction per job.
    jobs_per_commit: int = Field(20, ge=1)
    #: Smallest chunk whose resources are stored in the mirror together (``pipeline.gather_batch``,
    #: ADR 0026); a smaller one (a low arrival rate) runs each job's own gather, cheaper below ~10 jobs.
    batch_gather_min_jobs: int = Field(10, ge=2)
    #: Claim the next batch and run its step 1b (EHR fetches) while the current batch is processed.
    prefetch_ahead: bool = True
    #: Touched after every round of the worker loop (a liveness probe checks its age); None: off.
    heartbeat_file: Path | None = None


class DestinationPolicy(_Section):
    """Retry and circuit-breaker policy of one outbox destination (``clearinghouse``, ``ehr:<name>`` ...)."""

    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(1.0, gt=0)
    backoff_cap_seconds: float = Field(600.0, gt=0)
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(30.0, ge=0)


class OutboxSettings(_Section):
    max_attempts: int = Field(8, ge=1)
    backoff_cap_seconds: float = Field(600.0, gt=0)
    #: Per-destination policies; a destination not listed uses ``max_attempts`` / ``backoff_cap_seconds``.
    destinations: dict[str, DestinationPolicy] = {}

    def policy_for(self, destination: str) -> DestinationPolicy:
        default = DestinationPolicy(max_attempts=self.max_attempts, backoff_cap_seconds=self.backoff_cap_seconds)
        return self.destinations.get(destination, default)


class RelaySettings(_Section):
    """The outbox relay to NATS JetStream (``docs/deploy.md``); off while ``nats_url`` is empty."""

    nats_url: str = ""
    stream: str = "CLAIMBRIDGE"
    subject_prefix: str = "claimbridge"
    create_stream: bool = True
    duplicate_window_seconds: float = Field(120.0, gt=0)
    timeout_seconds: float = Field(5.0, gt=0)


class AdapterSettings(_Section):
    writeback: str = "folder"
    clearinghouse: str = "folder"
    out_dir: Path = Path("var/out")


class ClearinghouseApiSettings(_Section):
    """The HTTP clearinghouse API (``adapters.clearinghouse: http``): OAuth2 client credentials."""

    base_url: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    scope: str = ""
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    submit_path: str = "/claims"
    responses_path: str = "/responses"
    #: Real-time X12 eligibility: POST a 270, the 271 answers (payers with ``eligibility: {adapter: x12}``).
    #: Empty: the clearinghouse offers none (such payers then need their own ``x12_url``).
    eligibility_path: str = ""
    timeout_seconds: float = Field(30.0, gt=0)


class ClearinghouseSettings(_Section):
    """Batch submission of ready claims (837P) and pick-up of responses (999/277CA/835)."""

    #: How often the worker submits the claims that became ready (0: only ``claimbridge x12 submit``).
    submit_interval_seconds: float = Field(300.0, ge=0)
    #: A claim is submitted once it has been ready this long (lets same-day corrections land first).
    hold_seconds: float = Field(0.0, ge=0)
    max_claims_per_file: int = Field(5000, ge=1)
    #: How often the worker picks up response files (0: only ``claimbridge x12 ingest``).
    poll_interval_seconds: float = Field(60.0, ge=0)
    #: Folder transport: 837P files go to ``outbox_dir``, responses are read from ``inbox_dir``
    #: (defaults: ``<adapters.out_dir>/clearinghouse/837p`` and ``.../inbox``).
    outbox_dir: Path | None = None
    inbox_dir: Path | None = None
    #: A response file whose ingestion failed this many times (a bug, not a database outage) is
    #: quarantined: moved to ``<inbox_dir>/quarantine/`` (the API's file is no longer fetched).
    quarantine_after_attempts: int = Field(5, ge=1)
    api: ClearinghouseApiSettings = ClearinghouseApiSettings()


class EhrSettings(_Section):
    """Calls to registered EHRs (id-only fetch, notified pull, gap recovery, write-back)."""

    fetch_attempts: int = Field(2, ge=1)
    writeback_attempts: int = Field(2, ge=1)
    max_inline_retry_after_seconds: float = Field(2.0, ge=0)
    timeout_seconds: float = Field(10.0, gt=0)
    call_timeout_seconds: float = Field(60.0, gt=0)
    max_connections: int = Field(10, ge=1)
    heartbeat_tolerance: float = Field(2.0, ge=1)
    sweep_interval_seconds: float = Field(30.0, ge=0)
    gap_grace_seconds: float = Field(10.0, ge=0)
    pull_margin_seconds: float = Field(5.0, ge=0)
    pull_lookback_seconds: float = Field(3600.0, gt=0)
    #: A gap whose recovery failed this many times with a non-temporary error is marked ``failed``.
    recovery_max_attempts: int = Field(5, ge=1)
    writeback_ehr: str | None = None
    allow_insecure_endpoints: bool = False
    #: Key files published at /.well-known/jwks.json beside the registered EHRs' signing keys: the
    #: next key before a rotation, the previous one until its assertions have expired.
    published_key_files: tuple[Path, ...] = ()


ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?|http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?")


class WebSettings(_Section):
    """The SMART app and the console (:mod:`app.web`)."""

    #: A console session ends after this long without a request, and at the latest after ``session_max_minutes``.
    session_idle_minutes: float = Field(30.0, gt=0)
    session_max_minutes: float = Field(720.0, gt=0)
    #: A SMART launch must come back to ``/smart/callback`` within this long.
    launch_seconds: float = Field(600.0, gt=0)
    #: The SMART app's cookies (``cb_launch``, ``cb_smart``): ``lax`` (default), or ``none`` for an EHR
    #: that embeds the app in a cross-site iframe, where a browser does not send a Lax cookie: then
    #: ``SameSite=None; Secure; Partitioned`` (kept per embedding site). The console's stay Lax.
    smart_cookie_samesite: Literal["lax", "none"] = "lax"
    #: The EHR origins (``https://ehr.example.org``) that may frame the SMART app: its pages then send
    #: ``Content-Security-Policy: frame-ancestors 'self' <these>``, so no other site can frame a signed-in
    #: session (clickjacking). Required with ``smart_cookie_samesite: none``; with ``lax`` a cross-site
    #: frame gets no session cookie, and an empty list leaves framing unrestricted as before.
    smart_frame_ancestors: tuple[str, ...] = ()
    #: Scopes asked for when an EHR's SMART registration names none.
    default_scopes: str = "launch openid fhirUser patient/*.rs user/Encounter.rs"
    timeout_seconds: float = Field(10.0, gt=0)
    #: The console's what-if page: largest upload (all candidate files together), most stored
    #: encounters replayed in one request (more: use ``claimbridge diff``), and the server
    #: directories an engineer may point at as a candidate configuration (none: uploads only).
    whatif_max_upload_bytes: int = Field(512_000, ge=1024)
    whatif_max_encounters: int = Field(5_000, ge=1)
    candidate_config_roots: tuple[Path, ...] = ()
    #: Console sign-in: this many wrong passwords for one account name, or from one client address,
    #: within the window, and further attempts get a 429 page with ``Retry-After`` until it ends.
    sign_in_account_failures: int = Field(5, ge=1)
    sign_in_client_failures: int = Field(20, ge=1)
    sign_in_window_seconds: float = Field(300.0, gt=0)
    #: OIDC sign-in for the console (off while ``oidc_issuer`` is empty): a confidential client of the
    #: issuer (authorization code + PKCE, ``client_secret_basic``), redirect URI
    #: ``{api.public_base_url}/console/oidc/callback``. The console name is the ``oidc_name_claim`` (else
    #: ``sub``); the role is the ``oidc_role_claim`` (a string or a list; each value mapped through
    #: ``oidc_roles``, or taken as it is when it names a role; the highest wins; none: refused).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid profile"
    oidc_name_claim: str = "preferred_username"
    oidc_role_claim: str = "claimbridge_role"
    oidc_roles: dict[str, Literal["viewer", "engineer", "admin"]] = {}
    oidc_label: str = "single sign-on"

    @model_validator(mode="after")
    def _frame_ancestors(self) -> WebSettings:
        for origin in self.smart_frame_ancestors:
            if not ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"web.smart_frame_ancestors: {origin!r} is not an origin such as https://ehr.example.org"
                )
        if self.smart_cookie_samesite == "none" and not self.smart_frame_ancestors:
            raise ValueError(
                "web.smart_cookie_samesite: none needs web.smart_frame_ancestors "
                "(the EHR origins that may frame the app)"
            )
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> WebSettings:
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_client_secret.get_secret_value()):
            raise ValueError("web.oidc_issuer needs web.oidc_client_id and web.oidc_client_secret")
        if self.oidc_issuer and "openid" not in self.oidc_scopes.split():
            raise ValueError("web.oidc_scopes must include openid")
        return self


AdminScope = Literal["claims:read", "claims:write", "admin"]
ADMIN_SCOPES: tuple[AdminScope, ...] = ("claims:read", "claims:write", "admin")
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"  # noqa: S105 - a documented development default


class AdminToken(_Section):
    """One named admin bearer token and what it may do (``api.admin_token`` holds every scope)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    token: SecretStr
    scopes: tuple[AdminScope, ...] = ("claims:read",)


class SecuritySettings(_Section):
    """Credentials at rest, throttling, request limits and the outbound-URL (SSRF) policy (ADR security)."""

    #: Master key: keyed digests of subscription secrets, encryption of HMAC signing secrets at rest.
    #: Changing it invalidates every stored subscription credential (register them again).
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    #: Extra admin tokens with scopes (``claims:read``, ``claims:write``, ``admin``).
    admin_tokens: tuple[AdminToken, ...] = ()
    #: Minimum length of a subscription / client secret registered through the CLI.
    min_secret_length: int = Field(20, ge=12)
    #: Wrong credentials per client address within the window before it gets 429 (counted in the
    #: database, for every API process together; at most ``throttle_max_clients`` addresses kept).
    throttle_failures: int = Field(20, ge=1)
    throttle_window_seconds: float = Field(60.0, gt=0)
    throttle_max_clients: int = Field(10_000, ge=10)
    #: How long a process trusts that a key had no wrong credentials before reading the database
    #: again (0: read every time). Another process's block is seen within this time.
    throttle_cache_seconds: float = Field(1.0, ge=0, le=60)
    #: Body limits of every endpoint but ``/notifications`` (that one is ``intake.max_body_bytes``).
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_json_depth: int = Field(64, ge=8, le=1000)
    max_json_array_items: int = Field(20_000, ge=100)
    #: Bodies above this size count against ``max_large_bodies`` while they are read and handled.
    large_body_bytes: int = Field(256_000, ge=1024)
    max_large_bodies: int = Field(8, ge=1)
    large_body_wait_seconds: float = Field(10.0, ge=0)
    #: Hosts (``host`` or ``host:port``) outbound URLs from input or remote documents may name,
    #: beside the registered EHRs' base URLs. Loopback/link-local/metadata hosts only when listed here.
    allowed_hosts: tuple[str, ...] = ()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMBRIDGE_", env_nested_delimiter="__", extra="forbid", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/claimbridge.db"
    #: PostgreSQL: how long start-up waits for another process's migration (or a lock its own
    #: migration needs) before it exits with a message naming the holder (app.db.migrate).
    migration_lock_wait_seconds: float = Field(60.0, gt=0)
    config_dir: Path = Path("config")
    refdata_dir: Path = Path("var/refdata")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    api: ApiSettings = ApiSettings()
    intake: IntakeSettings = IntakeSettings()
    worker: WorkerSettings = WorkerSettings()
    outbox: OutboxSettings = OutboxSettings()
    adapters: AdapterSettings = AdapterSettings()
    relay: RelaySettings = RelaySettings()
    ehr: EhrSettings = EhrSettings()
    clearinghouse: ClearinghouseSettings = ClearinghouseSettings()
    web: WebSettings = WebSettings()
    security: SecuritySettings = SecuritySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("CLAIMBRIDGE_SETTINGS_FILE", DEFAULT_SETTINGS_FILE)
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file)
        return init_settings, env_settings, yaml_source

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        token = self.api.admin_token.get_secret_value().strip().lower()
        if self.env == "production" and token in PLACEHOLDER_SECRETS:
            raise ValueError("api.admin_token is a placeholder; set CLAIMBRIDGE_API__ADMIN_TOKEN in production")
        key = self.security.secret_key.get_secret_value()
        if self.env == "production" and (key == DEV_SECRET_KEY or len(key) < 32):
            raise ValueError(
                "security.secret_key must be set (32+ characters) in production: CLAIMBRIDGE_SECURITY__SECRET_KEY"
            )
        for extra in self.security.admin_tokens:
            value = extra.token.get_secret_value()
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < self.security.min_secret_length:
                raise ValueError(f"security.admin_tokens[{extra.name}] is a placeholder or too short")
        if self.web.oidc_issuer:
            problem = insecure_url_problem(self.web.oidc_issuer, production=self.env == "production")
            if problem:
                raise ValueError(f"web.oidc_issuer {problem}: CLAIMBRIDGE_WEB__OIDC_ISSUER")
        secret = self.clearinghouse.api.client_secret.get_secret_value().strip().lower()
        if self.env == "production" and self.adapters.clearinghouse == "http" and secret in PLACEHOLDER_SECRETS:
            raise ValueError("clearinghouse.api.client_secret is a placeholder; set it in production")
        return self

    @property
    def clearinghouse_outbox_dir(self) -> Path:
        return self.clearinghouse.outbox_dir or self.adapters.out_dir / "clearinghouse" / "837p"

    @property
    def clearinghouse_inbox_dir(self) -> Path:
        return self.clearinghouse.inbox_dir or self.adapters.out_dir / "clearinghouse" / "inbox"


def load_settings(**overrides: Any) -> Settings:
    """Read settings once (environment + YAML file); raise ``pydantic.ValidationError`` if invalid."""
    return Settings(**overrides)
