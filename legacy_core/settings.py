"""Settings of the legacy monolith: one object, built once, passed explicitly."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
# Plugin signing (exthost/trust): a public key as `sv keys:generate` prints it, a key id (the first 16 hex digits of
# the SHA-256 of the raw public key), an allow-list entry (a plugin name, optionally pinned to a key id).
_PUBLIC_KEY_PREFIX = "ed25519:"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_ALLOWED_PLUGIN = re.compile(r"[a-z][a-z0-9_]{1,39}(@[0-9a-f]{16})?")


class Settings(BaseSettings):
    """Every setting of the platform with its default and help; environment and `.env` override them."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True, env_nested_delimiter="__"
    )

    DATABASE_URL: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'sovereign.db'}",
        description="SQLAlchemy URL of the shared database; a SQLite file under data/ by default.",
    )
    DATA_DIR: Path = Field(default=DEFAULT_DATA_DIR, description="Root folder for files the platform keeps.")
    PLUGINS_DIR: Path = Field(default=Path("plugins"), description="Folder scanned for plugins/<name>/plugin.json.")
    EXTRA_FEATURES: list[str] = Field(
        default_factory=list,
        description="Features besides PaperTrail and Blog that plugins may take over, each the 'module:NAME' of a "
        'legacy_core.features.Feature declaration, e.g. EXTRA_FEATURES=\'["notes.feature:NOTES"]\'.',
    )
    PLUGIN_CONFIG: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-plugin config overrides, e.g. PLUGIN_CONFIG=\'{"hello": {"GREETING": "hi"}}\' or '
        "PLUGIN_CONFIG__hello__GREETING=hi; checked against each plugin's manifest.",
    )
    PLUGIN_ENTRY_POINTS: bool = Field(
        default=True,
        description="Also discover plugins of installed distributions (entry-point group sovereign.plugins).",
    )
    PLUGIN_POLL_SECONDS: float = Field(
        default=1.0, ge=0, description="How often a host re-reads the plugin registry for changes by other processes."
    )
    PLUGIN_ERROR_BUDGET: int = Field(
        default=20,
        ge=0,
        description="Unhandled errors of one plugin for one tenant within PLUGIN_ERROR_WINDOW_SECONDS after which the "
        "host disables it for that tenant in the registry (0 never disables).",
    )
    PLUGIN_ERROR_WINDOW_SECONDS: float = Field(
        default=60.0, gt=0, description="Window of PLUGIN_ERROR_BUDGET, in seconds."
    )
    ENVIRONMENT: Literal["production", "development"] = Field(
        default="production",
        description="Where this instance runs. 'production' (the default, so a forgotten setting fails closed) "
        "refuses plugins whose signature is not valid, trusted and allow-listed; 'development' (`make demo`, "
        "`make serve`) loads them with a warning. PLUGIN_SIGNATURES overrides the choice.",
    )
    PLUGIN_SIGNATURES: Literal["enforce", "warn", "off"] | None = Field(
        default=None,
        description="Plugin signature policy: 'enforce' loads only plugins whose signature is valid, by a key of "
        "PLUGIN_TRUSTED_KEYS, not revoked, and listed in PLUGIN_ALLOWLIST; 'warn' loads every plugin and notes "
        "what enforce would refuse; 'off' checks nothing. Unset: 'enforce', or 'warn' when ENVIRONMENT=development.",
    )
    PLUGIN_TRUSTED_KEYS: list[str] = Field(
        default_factory=list,
        description="Public keys whose plugin signatures are trusted, as `sv keys:generate` prints them "
        "('ed25519:<base64>'), e.g. PLUGIN_TRUSTED_KEYS='[\"ed25519:...\"]'.",
    )
    PLUGIN_ALLOWLIST: list[str] = Field(
        default_factory=list,
        description="Plugins allowed to load under PLUGIN_SIGNATURES=enforce, each a name or 'name@<key id>' (then "
        "only a signature by that key is accepted), e.g. "
        "PLUGIN_ALLOWLIST='[\"blog@3f2a9c0d1e2b4a5f\", \"papertrail\"]'.",
    )
    PLUGIN_REVOKED_KEYS: list[str] = Field(
        default_factory=list,
        description="Key ids (16 hex digits) whose signatures are refused even when their key is trusted.",
    )
    PLUGIN_ISOLATION: Literal["process", "inline"] | None = Field(
        default=None,
        description="Where plugin requests run: 'process' (each plugin in its own supervised gunicorn worker "
        "processes, with limits) or 'inline' (in the serving process). Unset: 'process' under `sv serve` and "
        "`exthost.wsgi`, 'inline' for platforms built in code (tests).",
    )
    PLUGIN_TRUSTED: list[str] = Field(
        default_factory=list,
        description='Plugins that run inline even when PLUGIN_ISOLATION=process, e.g. PLUGIN_TRUSTED=\'["blog"]\'.',
    )
    PLUGIN_LIMITS: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-plugin overrides of the manifest's limits, e.g. PLUGIN_LIMITS__papertrail__deadlineSeconds=10 "
        "(keys: deadlineSeconds, memoryMb, cpuSeconds, openFiles, workers, concurrency, maxRequests, "
        "fetchTimeoutSeconds, fetchMaxBytes; the last two apply inline too).",
    )
    FEATURE_FLAGS: dict[str, Any] = Field(
        default_factory=dict,
        description="Development overrides of the stored feature flags, in this process only, e.g. "
        'FEATURE_FLAGS=\'{"blog": "plugin", "papertrail": {"mode": "canary", "percent": 10}}\' or '
        "FEATURE_FLAGS__blog=shadow; a key 'feature:/route/rule' names one route.",
    )
    FLAGS_POLL_SECONDS: float = Field(
        default=1.0, ge=0, description="How often a worker checks the stored feature flags for a change."
    )
    SHADOW_QUEUE_SIZE: int = Field(
        default=1000, ge=1, description="Shadow samples waiting to run; when full, new samples are dropped (counted)."
    )
    SHADOW_RUNNER: Literal["process", "thread", "redis"] = Field(
        default="process",
        description="Where shadow samples are replayed: 'process', a child process per serving process at low CPU "
        "priority (callers never share the GIL with replays); 'redis', `sv shadow:worker` processes anywhere, fed "
        "through a Redis Stream (the serving machines do no replay work); or 'thread', worker threads in the serving "
        "process (tests).",
    )
    REDIS_URL: str = Field(
        default="redis://127.0.0.1:6379/0", description="The Redis server of SHADOW_RUNNER=redis."
    )
    SHADOW_STREAM: str = Field(
        default="sv:shadow",
        min_length=1,
        description="The Redis Stream shadow samples go to (SHADOW_RUNNER=redis); workers read it as one group.",
    )
    SHADOW_CLAIM_IDLE_SECONDS: float = Field(
        default=10.0,
        gt=0,
        description="A sample a worker took and has not acknowledged for this long (the worker died) is claimed "
        "and replayed by another worker; keep it above a batch's replay time and below "
        "SHADOW_MAX_SAMPLE_AGE_SECONDS.",
    )
    SHADOW_NICE: int = Field(default=10, ge=0, le=19, description="CPU niceness of the shadow child process.")
    SHADOW_WORKERS: int = Field(
        default=1, ge=1, description="Threads per process running shadow samples (SHADOW_RUNNER=thread)."
    )
    SHADOW_LOCK_TIMEOUT_MS: int = Field(
        default=100,
        ge=1,
        le=900,
        description="How long a shadow replay waits for a lock a live request holds before giving up (counted as "
        "skipped:contended); kept under PostgreSQL's deadlock_timeout (1 s), so a replay never wins a deadlock.",
    )
    SHADOW_CHILD_RESTARTS: int = Field(
        default=5,
        ge=0,
        description="How many times within 5 minutes a serving process starts a new shadow child after one died "
        "(its unrecorded samples are counted lost); past that, samples are dropped (counted) until the window has "
        "room.",
    )
    SHADOW_MAX_SAMPLE_AGE_SECONDS: float = Field(
        default=30.0,
        ge=0,
        description="A shadow sample older than this when its turn comes is dropped (counted as dropped:stale), not "
        "replayed; 0 keeps every sample.",
    )
    SHADOW_FLUSH_SECONDS: float = Field(
        default=2.0,
        gt=0,
        description="How often each process writes its shadow and canary counts to the shared database (and checks "
        "its shadow child), off the request path; also on shutdown.",
    )
    SHADOW_MAX_BODY_BYTES: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Largest request or response body a shadow sample copies; larger ones are skipped (counted).",
    )
    SHADOW_RULES_FILE: Path | None = Field(
        default=None,
        description="Noise rules of the comparison engine (TOML); the checked-in parity_tests/noise_rules.toml "
        "when unset.",
    )
    CANARY_FALLBACK: bool = Field(
        default=True,
        description="In canary mode, answer from legacy when the plugin raises or answers 5xx (counted).",
    )
    CANARY_BREAKER_FAILURES: int = Field(
        default=5,
        ge=0,
        description="Plugin failures of one feature within CANARY_BREAKER_WINDOW_SECONDS that send it back to "
        "legacy mode for every worker, with the reason recorded (0 never trips).",
    )
    CANARY_BREAKER_WINDOW_SECONDS: float = Field(
        default=30.0, gt=0, description="Window of CANARY_BREAKER_FAILURES, in seconds."
    )
    PARITY_RECORDINGS_DIR: Path | None = Field(
        default=None,
        description="Folder of the recorded sessions the switch gate requires (HAR files under <feature>/); "
        "parity_tests/recordings when unset.",
    )
    PARITY_DATABASE_URL: str | None = Field(
        default=None,
        description="PostgreSQL server on which the parity harness runs its cases, in databases of its own (a "
        "template and one per side, made with CREATE DATABASE ... TEMPLATE, never the deployment's); unset runs them "
        "on SQLite files in the workspace.",
    )
    PARITY_GATE_MIN_GENERATED: int = Field(
        default=500,
        ge=0,
        description="Generated parity cases a feature needs on its current code before `sv flags:set F plugin` or "
        "`retired` is allowed.",
    )
    PARITY_GATE_ALL_RECORDINGS: bool = Field(
        default=True,
        description="The switch gate also needs every recorded session of the feature to have matched on its "
        "current code (and at least one to exist).",
    )
    PARITY_GATE_MAX_MISMATCHES: int = Field(
        default=0,
        ge=0,
        description="Unexplained mismatches (parity cases, shadow mismatches and plugin failures) on a feature's "
        "current code the switch gate tolerates.",
    )
    PARITY_GATE_MIN_BRANCH_COVERAGE: float = Field(
        # What a default `sv parity:run` reaches on the bundled features, less a margin: PaperTrail 93%, Blog 80%
        # (docs/parity.md, Measured).
        default=75.0,
        ge=0,
        le=100,
        description="Percentage of the branches of a feature's legacy code (functions in legacy_core/<feature>/) "
        "that the parity runs on its current code must have reached, together, before the switch gate opens.",
    )
    PARITY_GATE_MAX_INCONCLUSIVE_PERCENT: float = Field(
        default=10.0,
        ge=0,
        le=100,
        description="Largest share (percent) of a feature's recorded sessions whose replay may be inconclusive (both "
        "sides agreed, but legacy did not answer as the recording says) while the switch gate opens; an "
        "inconclusive session neither passes nor fails it.",
    )
    RECORDING_DIR: Path | None = Field(
        default=None,
        description="Folder of the HAR files traffic recording writes (`sv parity:record`); DATA_DIR/recordings "
        "when unset.",
    )
    HEALTH_TIMEOUT_SECONDS: float = Field(
        default=2.0,
        gt=0,
        description="How long GET /health waits for its checks (database, registry, each enabled plugin's health "
        "hook); a check still running then counts as failed, and a hung one is not started again until it ends.",
    )
    METRICS_TOKEN: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics needs `Authorization: Bearer <token>` (or a platform admin's session); "
        "unset, /metrics is open to whoever reaches the server.",
    )
    PROMETHEUS_MULTIPROC_DIR: Path | None = Field(
        default=None,
        description="Folder where every process (gunicorn workers, shadow children) writes its Prometheus metrics "
        "so that /metrics sums them; prometheus_client reads it from the process environment, so export it before "
        "gunicorn starts, and empty the folder at each start.",
    )
    SECRET_KEY: str = Field(default="dev-only-secret-change-me", description="Flask secret key (flash messages).")
    AUTH_SESSION_COOKIE_NAME: str = Field(default="svg_session", description="Name of the session cookie.")
    AUTH_SESSION_TTL_HOURS: int = Field(default=720, ge=1, description="Lifetime of a login session in hours.")
    AUTH_COOKIE_SECURE: bool = Field(default=False, description="Mark the session cookie Secure (HTTPS only).")
    FT_PROJECT_TYPE_BLOG: bool = Field(default=True, description="Feature toggle: blog projects exist.")
    FT_PROJECT_TYPE_PAPERTRAIL: bool = Field(default=True, description="Feature toggle: PaperTrail projects exist.")
    PAPERTRAIL_DATA_ROOT: Path | None = Field(
        default=None, description="Folder of PaperTrail uploads; DATA_DIR/papertrail when unset."
    )
    MAX_CONTENT_LENGTH: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted, in bytes, except uploads and imports (their own limits below); "
        "a larger one is answered 413 before it is read.",
    )
    PAPERTRAIL_UPLOAD_MAX_BYTES: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest attachment accepted by an upload, in bytes."
    )
    PAPERTRAIL_IMPORT_MAX_BYTES: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Largest board bundle accepted by an import, in bytes."
    )
    BLOG_DATA_ROOT: Path | None = Field(
        default=None, description="Folder of the blog working clones; DATA_DIR/blog when unset."
    )
    BLOG_NETWORK_REMOTES: bool = Field(
        default=True,
        description="Accept network blog remotes (https, ssh, git); off allows local repositories only.",
    )
    BLOG_LOCAL_REMOTES_ROOT: Path | None = Field(
        default=None,
        description="Folder of the git repositories a blog may use as a local remote (absolute path or file:// URL, "
        "symlinks resolved, never inside DATA_DIR); unset refuses every local remote.",
    )
    BACKUP_DIR: Path | None = Field(
        default=None,
        description="Folder of database backups (`sv db:backup`, and the one `sv migrate:deploy`, "
        "`sv migrate:rollback` and `sv plugins:uninstall` take first); DATA_DIR/backups when unset.",
    )
    BACKUP_RETENTION: int = Field(
        default=10,
        ge=0,
        description="Backups kept in BACKUP_DIR: after each new one, the oldest beyond this many are deleted (the new "
        "one never is); 0 keeps them all.",
    )
    TENANT_DEFAULT: str = Field(default="tenant-0", description="Tenant used when a request names none.")
    LOG_LEVEL: str = Field(default="INFO", description="Level of the platform logger.")

    @field_validator(
        "DATA_DIR",
        "PLUGINS_DIR",
        "PAPERTRAIL_DATA_ROOT",
        "BLOG_DATA_ROOT",
        "BLOG_LOCAL_REMOTES_ROOT",
        "SHADOW_RULES_FILE",
        "PARITY_RECORDINGS_DIR",
        "RECORDING_DIR",
        "PROMETHEUS_MULTIPROC_DIR",
        "BACKUP_DIR",
    )
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Relative folders are taken from the working directory once, here: git and the upload code run with other
        # working directories, and must all mean the same folder.
        return value.expanduser().absolute() if value is not None else None

    @field_validator("DATABASE_URL")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(
                f"DATABASE_URL {value!r} is not a URL; use e.g. 'sqlite:///data/sovereign.db' "
                "or 'postgresql+psycopg://user@127.0.0.1:5432/db'"
            )
        return value

    @field_validator("PLUGIN_TRUSTED_KEYS")
    @classmethod
    def _public_keys(cls, values: list[str]) -> list[str]:
        for value in values:
            encoded = value.removeprefix(_PUBLIC_KEY_PREFIX)
            try:
                raw = base64.b64decode(encoded, validate=True) if value.startswith(_PUBLIC_KEY_PREFIX) else b""
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    f"{value!r} is not an ed25519 public key; use the 'ed25519:<base64 of 32 bytes>' line "
                    "`sv keys:generate` printed (also in its .pub file)"
                )
        return values

    @field_validator("PLUGIN_ALLOWLIST")
    @classmethod
    def _allowed_plugins(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _ALLOWED_PLUGIN.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not a plugin name or 'name@<key id>' (a key id is 16 lowercase hex digits, as "
                    "`sv keys:generate` and `sv plugins:list` show it)"
                )
        return values

    @field_validator("PLUGIN_REVOKED_KEYS")
    @classmethod
    def _key_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _KEY_ID.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not a key id; use the 16 lowercase hex digits `sv keys:generate` printed"
                )
        return values

    @property
    def plugin_signature_policy(self) -> Literal["enforce", "warn", "off"]:
        """PLUGIN_SIGNATURES, or its default: 'enforce', except 'warn' when ENVIRONMENT=development."""
        if self.PLUGIN_SIGNATURES is not None:
            return self.PLUGIN_SIGNATURES
        return "warn" if self.ENVIRONMENT == "development" else "enforce"

    @property
    def papertrail_root(self) -> Path:
        return self.PAPERTRAIL_DATA_ROOT or self.DATA_DIR / "papertrail"

    @property
    def blog_root(self) -> Path:
        return self.BLOG_DATA_ROOT or self.DATA_DIR / "blog"

    @property
    def backup_dir(self) -> Path:
        return self.BACKUP_DIR or self.DATA_DIR / "backups"

    @property
    def recording_dir(self) -> Path:
        return self.RECORDING_DIR or self.DATA_DIR / "recordings"

    def project_type_enabled(self, project_type: str) -> bool:
        """Whether the feature toggle of a project type is on."""
        toggles = {"blog": self.FT_PROJECT_TYPE_BLOG, "papertrail": self.FT_PROJECT_TYPE_PAPERTRAIL}
        return toggles.get(project_type, False)
