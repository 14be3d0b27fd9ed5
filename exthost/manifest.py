"""The `plugin.json` manifest: its pydantic model, loading, JSON Schema and plugin config validation."""

from __future__ import annotations

import json
import keyword
import math
import pathlib
import re
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import nodesemver
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from exthost.errors import ManifestError, did_you_mean

MANIFEST_FILENAME = "plugin.json"
SDK_API_VERSIONS: tuple[int, ...] = (1,)
GRANTS = ("platform:user", "platform:admin", "project:viewer", "project:editor", "project:owner")
CONFIG_TYPES = ("string", "integer", "number", "boolean")
LEGACY_FEATURES = ("papertrail", "blog")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The platform's read-only views a plugin may ask for in access.platform: the platform table each one shows, without
# credentials (exthost revision 0007 creates them as sv_platform_<name>).
PLATFORM_VIEWS = ("users", "projects", "project_members", "tenants")
# Tables no plugin may own: the platform's (legacy_core.models, a test keeps this in step), the host's, the version
# tables and SQLite's own. A trailing '*' is a prefix.
PLATFORM_TABLES = ("auth_sessions", "project_members", "projects", "tenants", "user_roles", "users")
RESERVED_TABLES = (*PLATFORM_TABLES, "sv_*", "alembic_version*", "exthost_alembic_version", "sqlite_*")

# Regex bodies, matched with re.fullmatch (a `$` anchor would accept a trailing newline); the JSON Schema gets
# them anchored with ^...$.
_NAME = r"[a-z][a-z0-9_]{1,39}"
_DOTTED = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+"
_CONFIG_KEY = r"[A-Z][A-Z0-9_]*"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRY = rf"{_IDENT}(\.{_IDENT})*:{_IDENT}"
_LITERAL_SEGMENT = r"[A-Za-z0-9._~-]+"
_VARIABLE_SEGMENT = rf"<({_IDENT}:)?{_IDENT}>"
_MOUNT = rf"(/{_LITERAL_SEGMENT})(/({_LITERAL_SEGMENT}|{_VARIABLE_SEGMENT}))*"
_TABLE = r"[a-z][a-z0-9_]{0,62}"
_TABLE_PATTERN = r"[a-z][a-z0-9_]{0,61}_\*"
_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?"
_TOP = "(top level)"


def _anchored(body: str) -> str:
    return f"^{body}$"


def _show(value: Any) -> str:
    """`repr(value)`, cut short: an error line quotes the value, it does not dump it."""
    try:
        text = repr(value)
    except Exception:  # an int past the digit limit cannot even be printed
        return f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


# --- checks shared by the model and the helpers; each raises ValueError("<what>, got <value>; <fix>") ---


def _check_name(value: str) -> str:
    if re.fullmatch(_NAME, value) and not keyword.iskeyword(value):
        return value
    if keyword.iskeyword(value):
        raise ValueError(f"must not be a Python keyword (it names a module), got {value!r}; e.g. '{value}_plugin'")
    candidate = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")
    fits = re.fullmatch(_NAME, candidate) and not keyword.iskeyword(candidate)
    fix = f"use {candidate!r}" if fits else "e.g. 'myplugin'"
    raise ValueError(f"must be 2-40 characters of a-z, 0-9 and '_', starting with a letter, got {_show(value)}; {fix}")


def _semver_ok(parse: Callable[[str, bool], object], value: str, max_length: int) -> bool:
    if not value.strip() or len(value) > max_length or not value.isascii() or not value.isprintable():
        return False
    try:
        return parse(value, False) is not None
    except Exception:  # node-semver raises on inputs it cannot even tokenise (e.g. 5,000-digit numbers)
        return False


def _check_version(value: str) -> str:
    # node-semver also takes ' 1.2.3\n' and 'v1.2.3'; a manifest version is written exactly.
    if value == value.strip() and not value.startswith(("v", "V")) and _semver_ok(nodesemver.valid, value, 64):
        return value
    if re.fullmatch(r"[vV]?\d+(\.\d+)?", value.strip()):
        parts = value.strip().lstrip("vV").split(".")
        fix = f"use {'.'.join([*parts, '0', '0'][:3])!r}"
    elif value.strip().lstrip("vV") != value and _semver_ok(nodesemver.valid, value.strip().lstrip("vV"), 64):
        fix = f"use {value.strip().lstrip('vV')!r}"
    else:
        fix = "e.g. '1.0.0'"
    raise ValueError(f"must be a semantic version MAJOR.MINOR.PATCH, got {_show(value)}; {fix}")


def _check_range(value: str) -> str:
    if _semver_ok(nodesemver.valid_range, value, 256):
        return value
    raise ValueError(f"must be an npm-style semver range, got {_show(value)}; e.g. '>=0.1 <1' or '^1.2'")


def _check_entry(value: str) -> str:
    if re.fullmatch(_ENTRY, value) and not any(keyword.iskeyword(part) for part in re.split(r"[.:]", value)):
        return value
    module, colon, _ = value.partition(":")
    if not colon:
        fix = f"use '{module}:Plugin'" if re.fullmatch(rf"{_IDENT}(\.{_IDENT})*", module) else "e.g. 'plugin:Plugin'"
        raise ValueError(f"must be 'module:object' with a colon, got {_show(value)}; {fix}")
    if module.startswith(".") or ".." in module or "/" in module or "\\" in module:
        raise ValueError(
            f"module must be a dotted path inside the plugin folder (no leading '.', no '..', no '/'), "
            f"got {_show(value)}; e.g. 'handlers.app:Plugin'"
        )
    raise ValueError(
        f"module segments and object must be Python identifiers that are not keywords, got {_show(value)}; "
        "e.g. 'plugin:Plugin'"
    )


def _check_api(value: int) -> int:
    if value in SDK_API_VERSIONS:
        return value
    supported = ", ".join(map(str, SDK_API_VERSIONS))
    raise ValueError(f"unsupported SDK API {_show(value)}, got {_show(value)}; supported: {supported}")


def _check_feature(value: str | None, info: ValidationInfo) -> str | None:
    # The deployment's features (built-in plus EXTRA_FEATURES) come in the validation context.
    known = tuple((info.context or {}).get("features") or LEGACY_FEATURES)
    if value is None or value in known:
        return value
    choices = ", ".join(map(repr, known))
    raise ValueError(
        f"unknown legacy feature, got {_show(value)}{did_you_mean(value, known)}; one of {choices}, or leave it out"
    )


def _check_mount(value: str, kind: Literal["api", "web"]) -> str:
    example = "'/api/myplugin'" if kind == "api" else "'/myplugin'"
    if kind == "api" and not value.startswith("/api/"):
        raise ValueError(f"must start with '/api/', got {_show(value)}; e.g. {example}")
    if kind == "web" and not value.startswith("/"):
        raise ValueError(f"must start with '/', got {_show(value)}; e.g. {example}")
    if kind == "web" and value.split("/")[1] == "api":
        raise ValueError(f"must not be under '/api' (the api mount's place), got {_show(value)}; e.g. {example}")
    if value.endswith("/"):
        fix = f"use {value.rstrip('/')!r}" if value.rstrip("/") else f"e.g. {example}"
        raise ValueError(f"must not end with '/', got {_show(value)}; {fix}")
    if "//" in value:
        raise ValueError(f"must not contain '//', got {_show(value)}; use {re.sub('/+', '/', value)!r}")
    segments = value[1:].split("/")
    if re.fullmatch(_VARIABLE_SEGMENT, segments[0]):
        raise ValueError(f"the first segment must be literal, got {_show(value)}; e.g. {example}")
    for segment in segments:
        literal = re.fullmatch(_LITERAL_SEGMENT, segment) and segment not in (".", "..")
        if not literal and not re.fullmatch(_VARIABLE_SEGMENT, segment):
            raise ValueError(
                f"segment {segment!r} is neither literal (A-Z a-z 0-9 . _ ~ -) nor a variable '<name>' or "
                f"'<converter:name>', got {_show(value)}; e.g. '/api/myplugin/<int:item_id>'"
            )
    return value


def _check_dotted(what: str, example: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if re.fullmatch(_DOTTED, value):
            return value
        lowered = value.strip().lower()
        fix = f"use {lowered!r}" if re.fullmatch(_DOTTED, lowered) else f"e.g. {example!r}"
        raise ValueError(
            f"{what} must be dotted lower-case segments (a-z first, then a-z, 0-9, '_'), got {_show(value)}; {fix}"
        )

    return check


def _check_config_key(value: str) -> str:
    if re.fullmatch(_CONFIG_KEY, value):
        return value
    candidate = re.sub(r"[^A-Z0-9_]+", "_", value.upper()).strip("_")
    fix = f"use {candidate!r}" if re.fullmatch(_CONFIG_KEY, candidate) else "e.g. 'MAX_ITEMS'"
    raise ValueError(f"option name must be upper case (A-Z first, then A-Z, 0-9, '_'), got {_show(value)}; {fix}")


def tables_overlap(first: str, second: str) -> bool:
    """Whether two table names or `prefix*` patterns can name one table."""
    a, b = first.rstrip("*"), second.rstrip("*")
    if first.endswith("*") and second.endswith("*"):
        return a.startswith(b) or b.startswith(a)
    if first.endswith("*"):
        return b.startswith(a)
    if second.endswith("*"):
        return a.startswith(b)
    return a == b


def table_matches(pattern: str, table: str) -> bool:
    """Whether `table` is the name `pattern`, or starts with a `prefix_*` pattern's prefix."""
    return table.startswith(pattern[:-1]) if pattern.endswith("*") else table == pattern


def _check_table(value: str) -> str:
    if not (re.fullmatch(_TABLE, value) or re.fullmatch(_TABLE_PATTERN, value)):
        candidate = re.sub(r"[^a-z0-9_*]+", "_", value.strip().lower()).strip("_")
        fits = re.fullmatch(_TABLE, candidate) or re.fullmatch(_TABLE_PATTERN, candidate)
        fix = f"use {candidate!r}" if fits else "e.g. 'myplugin_items' or 'myplugin_*'"
        raise ValueError(
            f"must be a table name (a-z first, then a-z, 0-9, '_') or a prefix pattern ending in '_*', "
            f"got {_show(value)}; {fix}"
        )
    taken = [reserved for reserved in RESERVED_TABLES if tables_overlap(value, reserved)]
    if taken:
        what = "a platform table" if taken[0] in PLATFORM_TABLES else "the host's or the database's own tables"
        raise ValueError(
            f"may not claim {what} ({taken[0]!r}), got {_show(value)}; name the plugin's own tables, "
            "e.g. 'myplugin_*' (platform data is read through access.platform)"
        )
    return value


def _relative_path_problem(relative: str) -> str | None:
    """Why `relative` cannot name a place inside a plugin folder, or None when it can."""
    if not relative.strip():
        return "is empty"
    if "\x00" in relative:
        return "contains a NUL character"
    if relative.startswith(("/", "\\")) or pathlib.PureWindowsPath(relative).drive:
        return "is an absolute path"
    if ".." in re.split(r"[\\/]", relative):
        return "climbs out of the plugin folder with '..'"
    return None


def _check_migrations(value: str) -> str:
    problem = _relative_path_problem(value)
    if problem is None:
        return value
    raise ValueError(f"{problem}, got {_show(value)}; use a folder inside the plugin, e.g. 'migrations'")


_TYPE_HINTS = {
    "string": "a string",
    "integer": "a whole number like 42",
    "number": "a finite number like 1.5",
    "boolean": "true or false",
}


def _type_problem(type_: str, value: Any) -> str | None:
    """Why `value` does not fit a config option of `type_`, or None when it does."""
    fits = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        "boolean": isinstance(value, bool),
    }[type_]
    if fits:
        return None
    aside = " (true/false are booleans, not numbers)" if isinstance(value, bool) else ""
    return f"must be {_TYPE_HINTS[type_]} for type {type_!r}{aside}, got {_show(value)}"


_HOST_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = rf"{_HOST_LABEL}(\.{_HOST_LABEL})*"
_FETCH_HOST = rf"(\*\.)?{_HOSTNAME}(:[0-9]{{1,5}})?|[0-9.]+(:[0-9]{{1,5}})?|\[[0-9a-f:.]+\](:[0-9]{{1,5}})?"


def _check_fetch_host(value: str) -> str:
    """`host`, `host:port`, `*.domain[:port]`, an IPv4 address or a bracketed IPv6 one, each with an optional port;
    no scheme, no path, lower case."""
    from exthost.fetch import parse_allowed_host

    problem = parse_allowed_host(value)[1]
    if problem is None:
        return value
    raise ValueError(f"{problem}, got {_show(value)}")


PluginName = Annotated[str, AfterValidator(_check_name)]
SemverRange = Annotated[str, AfterValidator(_check_range)]
ConfigKey = Annotated[str, AfterValidator(_check_config_key)]
EventName = Annotated[
    str,
    AfterValidator(_check_dotted("event name", "blog.post_published")),
    Field(json_schema_extra={"pattern": _anchored(_DOTTED)}),
]


class _Strict(BaseModel):
    # strict: a manifest says 1, not "1", and true is not an integer
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Capability(_Strict):
    """A permission the plugin checks with `caps.require`, and who holds it by default."""

    name: Annotated[str, AfterValidator(_check_dotted("capability name", "myplugin.items.write"))] = Field(
        description="'<plugin name>.' then dotted lower-case segments.",
        examples=["myplugin.items.write"],
        json_schema_extra={"pattern": _anchored(_DOTTED)},
    )
    grant: str | None = Field(
        default=None,
        description="Role that holds it by default; null: only platform admins and explicit grants.",
        examples=["project:editor"],
        json_schema_extra={"enum": [*GRANTS, None]},
    )
    description: str = Field(
        default="", description="What holding it allows, shown to administrators.", examples=["Edit posts."]
    )

    @field_validator("grant")
    @classmethod
    def _grant_known(cls, value: str | None) -> str | None:
        if value is None or value in GRANTS:
            return value
        raise ValueError(
            f"unknown grant, got {_show(value)}{did_you_mean(value, GRANTS)}; "
            f"one of {', '.join(map(repr, GRANTS))}, or null for platform admins only"
        )


class Sovereign(_Strict):
    """What the plugin needs from the host, and where its code starts."""

    engine: SemverRange = Field(
        description="npm-style semver range of Sovereign host versions the plugin runs on.", examples=[">=0.1 <1"]
    )
    entry: Annotated[str, AfterValidator(_check_entry)] = Field(
        description="'dotted.module:object', the module relative to the plugin folder.",
        examples=["plugin:Plugin"],
        json_schema_extra={"pattern": _anchored(_ENTRY)},
    )
    api: Annotated[int, AfterValidator(_check_api)] = Field(
        description="Plugin SDK API version the plugin is written against.",
        examples=[SDK_API_VERSIONS[-1]],
        json_schema_extra={"enum": list(SDK_API_VERSIONS)},
    )
    feature: Annotated[str | None, AfterValidator(_check_feature)] = Field(
        default=None,
        description="The legacy feature this plugin reimplements, if any.",
        examples=["blog"],
        # The built-in features or one a deployment declares (EXTRA_FEATURES): checked against the deployment's.
        json_schema_extra={"pattern": "^[a-z][a-z0-9_]{0,31}$"},
    )

    @property
    def entry_module(self) -> str:
        """The module part of `entry`, relative to the plugin folder."""
        return self.entry.partition(":")[0]

    @property
    def entry_attr(self) -> str:
        """The object part of `entry`."""
        return self.entry.partition(":")[2]


def _check_mounts(value: str | list[str] | None, kind: Literal["api", "web"]) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value if value is None else _check_mount(value, kind)
    if not value:
        raise ValueError(
            f"must name at least one prefix, got []; e.g. {'/api/myplugin' if kind == 'api' else '/myplugin'!r}"
        )
    for prefix in value:
        _check_mount(prefix, kind)
    doubled = sorted({prefix for prefix in value if value.count(prefix) > 1})
    if doubled:
        raise ValueError(f"lists a prefix twice, got {_show(doubled)}; keep one of each")
    return value


class Mounts(_Strict):
    """URL prefixes the plugin serves; at least one is required. Each kind takes one prefix or a list of them."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["api"]}, {"required": ["web"]}]})

    api: Annotated[str | list[str] | None, AfterValidator(lambda v: _check_mounts(v, "api"))] = Field(
        default=None,
        description="Prefix (or list of prefixes) of the plugin's JSON API, under /api/.",
        examples=["/api/myplugin"],
        json_schema_extra={
            "anyOf": [
                {"type": "string", "pattern": _anchored(rf"/api{_MOUNT}")},
                {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _anchored(rf"/api{_MOUNT}")}},
                {"type": "null"},
            ]
        },
    )
    web: Annotated[str | list[str] | None, AfterValidator(lambda v: _check_mounts(v, "web"))] = Field(
        default=None,
        description="Prefix (or list of prefixes) of the plugin's pages, outside /api.",
        examples=["/myplugin"],
        json_schema_extra={
            "anyOf": [
                {"type": "string", "pattern": _anchored(_MOUNT)},
                {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _anchored(_MOUNT)}},
                {"type": "null"},
            ]
        },
    )

    @model_validator(mode="after")
    def _one_mount(self) -> Mounts:
        if self.api is None and self.web is None:
            raise ValueError("must set at least one of 'api' and 'web', got neither; e.g. {\"api\": \"/api/myplugin\"}")
        return self

    def prefixes(self) -> list[str]:
        """The prefixes that are set, api first."""
        found: list[str] = []
        for value in (self.api, self.web):
            if isinstance(value, str):
                found.append(value)
            elif value is not None:
                found.extend(value)
        return found


class ConfigOption(_Strict):
    """One setting of the plugin, set per deployment with PLUGIN_CONFIG__<plugin>__<KEY>."""

    type: Literal["string", "integer", "number", "boolean"] = Field(
        description="Type of the value.", examples=["integer"]
    )
    default: Any = Field(default=None, description="Value when unset; null makes the option required.")
    help: str = Field(
        default="", description="What the option changes, shown in docs and errors.", examples=["Items per page."]
    )
    enum: list[Any] | None = Field(
        default=None,
        description="The only values allowed, each of the option's type.",
        examples=[["draft", "published"]],
    )
    minimum: int | float | None = Field(
        default=None, description="Smallest value allowed (integer and number options).", examples=[1]
    )
    maximum: int | float | None = Field(
        default=None, description="Largest value allowed (integer and number options).", examples=[500]
    )

    @field_validator("default")
    @classmethod
    def _default_fits(cls, value: Any, info: ValidationInfo) -> Any:
        type_ = info.data.get("type")
        problem = None if value is None or type_ is None else _type_problem(type_, value)
        if problem is None:
            return value
        if type_ == "integer" and isinstance(value, bool):
            fix = 'write 1 or 0, or declare "type": "boolean"'
        elif type_ == "integer" and isinstance(value, float) and value.is_integer():
            fix = f"write {int(value)}"
        else:
            fix = 'change the default or its "type"'
        raise ValueError(f"{problem}; {fix}")

    @model_validator(mode="after")
    def _constraints_fit(self) -> ConfigOption:
        if self.enum is not None:
            if not self.enum:
                raise ValueError('enum: is empty; list the allowed values, or drop "enum"')
            for index, choice in enumerate(self.enum):
                problem = _type_problem(self.type, choice)
                if problem is not None:
                    raise ValueError(f"enum[{index}]: {problem}; make every choice a {self.type}")
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and self.type not in ("integer", "number"):
            raise ValueError(f'minimum/maximum apply to integer and number options, not {self.type!r}; drop them')
        for bound in ("minimum", "maximum"):
            value = getattr(self, bound)
            if value is not None and (isinstance(value, bool) or not math.isfinite(value)):
                raise ValueError(f"{bound}: must be a finite number, got {_show(value)}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum!r} is above maximum {self.maximum!r}; swap them")
        if self.default is not None:
            problem = option_problem(self, self.default)
            if problem is not None:
                raise ValueError(f"default: {problem}; change the default or the constraint")
        return self


def option_problem(option: ConfigOption, value: Any) -> str | None:
    """Why `value` (already of a JSON type) does not fit `option`: its type, its enum, its bounds; None when it does."""
    problem = _type_problem(option.type, value)
    if problem is not None:
        return problem
    if option.enum is not None and value not in option.enum:
        choices = ", ".join(repr(choice) for choice in option.enum)
        hint = did_you_mean(value, [str(c) for c in option.enum]) if isinstance(value, str) else ""
        return f"must be one of {choices}, got {_show(value)}{hint}"
    if option.minimum is not None and value < option.minimum:
        return f"must be at least {option.minimum!r}, got {_show(value)}"
    if option.maximum is not None and value > option.maximum:
        return f"must be at most {option.maximum!r}, got {_show(value)}"
    return None


class Requires(_Strict):
    """Other plugins this one needs (hard) or uses when present (soft)."""

    hard: dict[PluginName, SemverRange] = Field(
        default={},
        description="Plugins that must be enabled first: name -> semver range.",
        examples=[{"accounts": ">=1 <2"}],
        json_schema_extra={"propertyNames": {"pattern": _anchored(_NAME)}},
    )
    soft: dict[PluginName, SemverRange] = Field(
        default={},
        description="Plugins used when present: name -> semver range.",
        examples=[{"search": "^0.3"}],
        json_schema_extra={"propertyNames": {"pattern": _anchored(_NAME)}},
    )

    @field_validator("soft")
    @classmethod
    def _not_both(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        both = sorted(set(value) & set(info.data.get("hard", {})))
        if both:
            raise ValueError(f"also listed in requires.hard, got {_show(both)}; keep each plugin in one of them")
        return value


class Events(_Strict):
    """Host events the plugin listens to."""

    subscribe: list[EventName] = Field(
        default=[], description="Event names, 'domain.event'.", examples=[["blog.post_published"]]
    )


class Limits(_Strict):
    """What one plugin may use when it runs in worker processes (PLUGIN_ISOLATION=process), and the caps of its
    ctx.fetch (inline too); every key optional.

    Deployments override them per plugin with PLUGIN_LIMITS (same keys); see docs/operations.md.
    """

    deadlineSeconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="Per request: past it the worker is killed and replaced, caller gets 504.",
    )
    memoryMb: int = Field(
        default=1024, ge=64, le=65536, description="Address space of each worker process (RLIMIT_AS), in MiB."
    )
    cpuSeconds: int = Field(
        default=300, ge=1, le=86400, description="CPU time of each worker process (RLIMIT_CPU) before it is killed."
    )
    openFiles: int = Field(
        default=256, ge=16, le=65536, description="Open files of each worker process (RLIMIT_NOFILE)."
    )
    workers: int = Field(default=2, ge=1, le=64, description="Worker processes serving the plugin.")
    concurrency: int = Field(
        default=2,
        ge=1,
        le=1024,
        description="Requests of this plugin one serving process runs at once; more are answered 503 at once.",
    )
    maxRequests: int = Field(
        default=0,
        ge=0,
        le=10**7,
        description="A worker is replaced after this many requests (0: never; a new worker imports the plugin again).",
    )
    fetchTimeoutSeconds: int = Field(
        default=10,
        ge=1,
        le=300,
        description="ctx.fetch (inline too): connecting, each read and the whole answer each within this many seconds.",
    )
    fetchMaxBytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="ctx.fetch (inline too): an answer body larger than this is refused (FetchFailed).",
    )


def _check_platform(value: str) -> str:
    if value in PLATFORM_VIEWS:
        return value
    if value in PLATFORM_TABLES:
        raise ValueError(
            f"is not a platform view the SDK grants, got {_show(value)} (it holds credentials or sessions); "
            f"one of {', '.join(map(repr, PLATFORM_VIEWS))}"
        )
    raise ValueError(
        f"unknown platform view, got {_show(value)}{did_you_mean(value, PLATFORM_VIEWS)}; "
        f"one of {', '.join(map(repr, PLATFORM_VIEWS))}"
    )


def _unique(value: list[str]) -> list[str]:
    doubled = sorted({item for item in value if value.count(item) > 1})
    if doubled:
        raise ValueError(f"lists a name twice, got {_show(doubled)}; keep one of each")
    return value


class Access(_Strict):
    """What the plugin may reach outside itself: with `ctx.db`, its own tables and read-only views of platform data
    (everything else is refused: SQLite's authorizer, a PostgreSQL role per plugin); with `ctx.fetch`, the hosts
    listed."""

    tables: Annotated[list[Annotated[str, AfterValidator(_check_table)]], AfterValidator(_unique)] = Field(
        default=[],
        description="The plugin's own tables: names, or prefix patterns ending in '_*'; read and written freely.",
        examples=[["myplugin_*"]],
        json_schema_extra={
            "items": {"type": "string", "pattern": _anchored(f"({_TABLE}|{_TABLE_PATTERN})")},
            "uniqueItems": True,
        },
    )
    platform: Annotated[list[Annotated[str, AfterValidator(_check_platform)]], AfterValidator(_unique)] = Field(
        default=[],
        description=(
            "Platform data the plugin reads, each through its read-only view sv_platform_<name> (users come "
            "without credentials); the SDK's project checks (ctx.auth.require_project) need projects and "
            "project_members."
        ),
        examples=[["projects", "project_members"]],
        json_schema_extra={"items": {"enum": list(PLATFORM_VIEWS)}, "uniqueItems": True},
    )
    fetch: Annotated[list[Annotated[str, AfterValidator(_check_fetch_host)]], AfterValidator(_unique)] = Field(
        default=[],
        description="Hosts ctx.fetch may call: 'host', 'host:port' or '*.domain'; no scheme, no path.",
        examples=[["api.example.org", "*.cdn.example.org", "hooks.example.org:8443"]],
        json_schema_extra={"items": {"type": "string", "pattern": _anchored(_FETCH_HOST)}},
    )

    @model_validator(mode="after")
    def _no_overlap(self) -> Access:
        for index, pattern in enumerate(self.tables):
            for other in self.tables[index + 1 :]:
                if tables_overlap(pattern, other):
                    raise ValueError(
                        f"tables {pattern!r} and {other!r} overlap, got {_show(self.tables)}; keep the wider one"
                    )
        return self

    def owns(self, table: str) -> bool:
        """Whether `table` is one of the plugin's own tables."""
        return any(table_matches(pattern, table) for pattern in self.tables)


class Manifest(_Strict):
    """A plugin's `plugin.json`."""

    name: PluginName = Field(
        description="Plugin name, also its Python module namespace.",
        examples=["myplugin"],
        json_schema_extra={"pattern": _anchored(_NAME)},
    )
    version: Annotated[str, AfterValidator(_check_version)] = Field(
        description="Plugin version, strict semver.", examples=["0.1.0"]
    )
    description: str = Field(
        default="", description="One line on what the plugin does.", examples=["Blog posts kept in git."]
    )
    author: str = Field(default="", description="Who maintains the plugin.", examples=["Jane Doe <jane@example.org>"])
    license: str = Field(default="", description="SPDX license identifier.", examples=["MIT"])
    sovereign: Sovereign = Field(
        description="Host requirements and entry point.",
        examples=[{"engine": ">=0.1 <1", "entry": "plugin:Plugin", "api": 1}],
    )
    mounts: Mounts = Field(description="URL prefixes the plugin serves.", examples=[{"api": "/api/myplugin"}])
    capabilities: list[Capability] = Field(
        default=[],
        description='Capabilities the plugin declares; a plain string is shorthand for {"name": ...}.',
        examples=[["myplugin.read"]],
    )
    events: Events = Field(
        default=Events(),
        description="Host events the plugin subscribes to.",
        examples=[{"subscribe": ["project.deleted"]}],
    )
    migrations: Annotated[str | None, AfterValidator(lambda v: v if v is None else _check_migrations(v))] = Field(
        default=None, description="Folder of the plugin's alembic revisions.", examples=["migrations"]
    )
    config: dict[ConfigKey, ConfigOption] = Field(
        default={},
        description="Options of the plugin by upper-case name.",
        examples=[{"MAX_ITEMS": {"type": "integer", "default": 100}}],
        json_schema_extra={"propertyNames": {"pattern": _anchored(_CONFIG_KEY)}},
    )
    requires: Requires = Field(
        default=Requires(), description="Other plugins this one needs or uses.", examples=[{"hard": {"accounts": "^1"}}]
    )
    limits: Limits = Field(
        default=Limits(),
        description="Deadline, memory, CPU, open files, workers and concurrency of the plugin's sandbox; "
        "ctx.fetch's timeout and answer size.",
        examples=[{"deadlineSeconds": 10, "memoryMb": 512}],
    )
    access: Access = Field(
        default=Access(),
        description=(
            "Tables the plugin owns and platform views it reads (ctx.db reaches nothing else), and the hosts "
            "ctx.fetch may call."
        ),
        examples=[
            {"tables": ["myplugin_*"], "platform": ["projects", "project_members"], "fetch": ["api.example.org"]}
        ],
    )

    @field_validator("capabilities", mode="before")
    @classmethod
    def _capability_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Manifest:
        problems = []
        seen: set[str] = set()
        for index, capability in enumerate(self.capabilities):
            path = f"capabilities[{index}].name"
            if not capability.name.startswith(f"{self.name}."):
                fix = f"{self.name}.{capability.name.rsplit('.', 1)[-1]}"
                problems.append(f"{path}: must start with '{self.name}.', got {_show(capability.name)}; e.g. {fix!r}")
            if capability.name in seen:
                problems.append(f"{path}: declared twice, got {_show(capability.name)}; remove the duplicate")
            seen.add(capability.name)
        for kind, names in (("hard", self.requires.hard), ("soft", self.requires.soft)):
            if self.name in names:
                line = f"requires.{kind}.{self.name}: a plugin cannot require itself, got {self.name!r}; remove it"
                problems.append(line)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def capability(self, name: str) -> Capability | None:
        """The declared capability called `name`, or None."""
        return next((capability for capability in self.capabilities if capability.name == name), None)

    def capability_names(self) -> frozenset[str]:
        """Names of every declared capability."""
        return frozenset(capability.name for capability in self.capabilities)


# --- pydantic errors to one line per problem ---

_WHAT = {
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
}


def unwrap_annotation(annotation: Any) -> Any:
    """`X` out of `Annotated[X, ...]` and `X | None`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        else:
            return annotation


def _walk(loc: tuple[int | str, ...]) -> tuple[Any, str | None, FieldInfo | None]:
    """Follow `loc` from Manifest: the annotation reached, and the last model field passed on the way."""
    annotation: Any = Manifest
    name: str | None = None
    field: FieldInfo | None = None
    for part in loc:
        annotation = unwrap_annotation(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            name, field = str(part), annotation.model_fields[str(part)]
            annotation = field.annotation
        elif origin in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return None, name, field
    return unwrap_annotation(annotation), name, field


def _path(loc: tuple[int | str, ...]) -> str:
    """`config.LIMIT.default`, `capabilities[0].name`; a key that would garble the line is quoted: `config['a b']`."""
    text = ""
    for part in loc:
        if isinstance(part, int) or not re.fullmatch(r"[A-Za-z0-9_:-]+", part):
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text or _TOP


def _example(name: str | None, field: FieldInfo | None) -> str:
    if name is None or field is None or not field.examples:
        return "see the manifest JSON Schema"
    return f'e.g. "{name}": {json.dumps(field.examples[0])}'


def _problem_lines(error: ErrorDetails) -> list[str]:
    loc, kind = tuple(error["loc"]), error["type"]
    if len(loc) > 1 and loc[-1] == "[key]" and kind != "extra_forbidden":
        loc = loc[:-1]  # pydantic's marker for "the key itself is bad"; a real key may also be called "[key]"
    path = _path(loc)
    if kind in ("value_error", "assertion_error"):
        lines = error["msg"].removeprefix("Value error, ").splitlines()
        return [f"{path}: {line}" if loc else line for line in lines]
    if kind == "extra_forbidden":
        model, _, _ = _walk(loc[:-1])
        allowed = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
        return [f"{path}: unknown field{did_you_mean(str(loc[-1]), allowed)}; allowed: {', '.join(allowed)}"]
    _, name, field = _walk(loc)
    if kind == "missing":
        return [f"{path}: required field missing; {_example(name, field)}"]
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        hint = did_you_mean(error["input"], choices) if isinstance(error["input"], str) else ""
        return [f"{path}: must be one of {', '.join(map(repr, choices))}, got {_show(error['input'])}{hint}"]
    what = _WHAT.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    if not loc and kind in ("model_type", "dict_type"):
        return [f'{path}: {what}, got {_show(error["input"])}; start the file with {{ "name": "myplugin", ... }}']
    return [f"{path}: {what}, got {_show(error['input'])}; {_example(name, field)}"]


def parse_manifest(data: object, path: str, features: Sequence[str] = LEGACY_FEATURES) -> Manifest:
    """Validate manifest data against a deployment with `features`; every problem becomes one line of the
    ManifestError naming `path`."""
    try:
        return Manifest.model_validate(data, context={"features": tuple(features)})
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_url=False):
            problems.extend(line for line in _problem_lines(error) if line not in problems)
        raise ManifestError(path, problems) from None


def load_manifest(path: pathlib.Path, features: Sequence[str] = LEGACY_FEATURES) -> Manifest:
    """Read and validate a `plugin.json`; unreadable files and bad JSON are ManifestErrors too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(str(path), [f"(file): not found; a plugin folder needs a {MANIFEST_FILENAME}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(str(path), [f"(file): cannot be read as UTF-8 text: {exc}; check the file"]) from None
    if not text.strip():
        raise ManifestError(str(path), ['(file): empty; start with { "name": "myplugin", ... }'])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            str(path),
            [
                f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}; "
                "a trailing comma or a missing quote is the usual cause"
            ],
        ) from None
    except (ValueError, RecursionError) as exc:  # an integer past the digit limit, or nesting too deep
        raise ManifestError(str(path), [f"(file): invalid JSON: {exc}; simplify the value"]) from None
    return parse_manifest(data, str(path), features)


def manifest_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of `plugin.json`, for editors and docs."""
    schema = Manifest.model_json_schema()
    # The model stores Capability objects; the file may also hold the plain-string shorthand.
    schema["properties"]["capabilities"]["items"] = {
        "anyOf": [
            {"type": "string", "pattern": _anchored(_DOTTED), "description": 'Shorthand for {"name": ...}.'},
            {"$ref": "#/$defs/Capability"},
        ]
    }
    schema.pop("$id", None)
    schema.pop("title", None)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": f"Sovereign plugin manifest ({MANIFEST_FILENAME})", **schema}


def _coerce(type_: str, value: Any) -> tuple[Any, str | None]:
    """`value` as the option's type, converting the strings the environment gives; (value, problem)."""
    if isinstance(value, str) and type_ != "string":
        text = value.strip().lower()
        if type_ == "integer" and re.fullmatch(r"[+-]?\d{1,100}", text):
            return int(text), None
        if type_ == "number" and re.fullmatch(_NUMBER, text) and math.isfinite(float(text)):
            return float(text), None
        if type_ == "boolean" and text in ("true", "yes", "1", "false", "no", "0"):
            return text in ("true", "yes", "1"), None
        if type_ == "boolean":
            return value, f"must be true/false/1/0/yes/no for type 'boolean', got {_show(value)}"
    return value, _type_problem(type_, value)


def coerce_option(option: ConfigOption, value: Any) -> tuple[Any, str | None]:
    """`value` (a JSON value, or a string from the environment or the command line) as the option's type, checked
    against its type, enum and bounds; (value, problem)."""
    value, problem = _coerce(option.type, value)
    return value, problem or option_problem(option, value)


def validate_plugin_config(manifest: Manifest, overrides: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The plugin's config: declared defaults, overridden by `overrides` (from `source`), checked against types."""
    problems: list[str] = []
    options = manifest.config
    declared = ", ".join(sorted(options)) or "none"
    for key in overrides:
        if key not in options:
            hint = f" (did you mean {key.upper()!r}?)" if key.upper() in options else did_you_mean(key, options)
            field = _path(("config", key))
            problems.append(f"{field}: unknown option of plugin {manifest.name!r}{hint}; declared: {declared}")
    merged: dict[str, Any] = {}
    for key, option in options.items():
        variable = f"PLUGIN_CONFIG__{manifest.name}__{key}"
        if overrides.get(key) is not None:
            value, problem = coerce_option(option, overrides[key])
            if problem:
                problems.append(f"config.{key}: {problem}; fix {variable}")
            merged[key] = value
        elif option.default is not None:
            merged[key] = option.default
        else:
            problems.append(f"config.{key}: required option has no default, got nothing; set it with {variable}")
    if problems:
        raise ManifestError(source, problems)
    return merged


def resolve_inside(folder: pathlib.Path, relative: str, what: str) -> pathlib.Path:
    """`folder/relative` with symlinks followed; refused when it is absolute, uses '..' or lands outside `folder`."""
    manifest_path = str(folder / MANIFEST_FILENAME)
    problem = _relative_path_problem(relative)
    if problem is not None:
        raise ManifestError(manifest_path, [f"{what}: {relative!r} {problem}; use a path inside {str(folder)!r}"])
    base = folder.resolve()
    try:
        target = (folder / relative).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError before Python 3.13
        raise ManifestError(manifest_path, [f"{what}: {relative!r} cannot be resolved: {exc}; fix the link"]) from None
    if not target.is_relative_to(base):
        raise ManifestError(
            manifest_path,
            [
                f"{what}: {relative!r} resolves to {str(target)!r}, outside the plugin folder {str(base)!r}; "
                "keep it inside (a symlink may not lead out)"
            ],
        )
    return target
