"""plugin.json: parsing, one-line error messages, loading, JSON Schema, plugin config and paths inside a plugin."""

from __future__ import annotations

import copy
import json
import keyword
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from exthost.errors import ManifestError
from exthost.manifest import (
    GRANTS,
    JSON_SCHEMA_DIALECT,
    Capability,
    load_manifest,
    manifest_json_schema,
    parse_manifest,
    resolve_inside,
    validate_plugin_config,
)

PATH = "plugins/blog/plugin.json"

VALID: dict[str, Any] = {
    "name": "blog",
    "version": "1.2.3",
    "description": "Blog posts kept in git.",
    "author": "Jane Doe",
    "license": "MIT",
    "sovereign": {"engine": ">=0.1 <1", "entry": "blog.plugin:Plugin", "api": 1, "feature": "blog"},
    "mounts": {"api": "/api/projects/<int:project_id>/blog", "web": "/blog"},
    "capabilities": ["blog.posts.read", {"name": "blog.posts.write", "grant": "project:editor"}],
    "events": {"subscribe": ["project.deleted"]},
    "migrations": "migrations",
    "config": {
        "PAGE_SIZE": {"type": "integer", "default": 20, "help": "Posts per page."},
        "RATIO": {"type": "number", "default": 0.5},
        "DRAFTS": {"type": "boolean", "default": False},
        "TOKEN": {"type": "string"},
    },
    "requires": {"hard": {"accounts": "^1"}, "soft": {"search": ">=0.3 <1"}},
}


def manifest_data(changes: dict[str, Any] | None = None, remove: str | None = None) -> dict[str, Any]:
    """A copy of VALID with dotted paths set (`{"sovereign.api": 7}`) or one removed."""
    data = copy.deepcopy(VALID)
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    if remove:
        *parents, last = remove.split(".")
        target = data
        for key in parents:
            target = target[key]
        del target[last]
    return data


def problems_of(data: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, PATH)
    assert info.value.path == PATH
    assert PATH in str(info.value)
    return info.value.problems


def test_manifest_parses_a_full_valid_manifest():
    manifest = parse_manifest(VALID, PATH)

    assert manifest.name == "blog"
    assert manifest.sovereign.entry_module == "blog.plugin"
    assert manifest.sovereign.entry_attr == "Plugin"
    assert manifest.mounts.prefixes() == ["/api/projects/<int:project_id>/blog", "/blog"]
    assert manifest.capabilities[0] == Capability(name="blog.posts.read")
    assert manifest.capability("blog.posts.write") == Capability(name="blog.posts.write", grant="project:editor")
    assert manifest.capability("blog.nope") is None
    assert manifest.capability_names() == frozenset({"blog.posts.read", "blog.posts.write"})
    assert manifest.config["PAGE_SIZE"].default == 20
    assert manifest.requires.hard == {"accounts": "^1"}


def test_manifest_defaults_and_a_single_mount():
    data = {
        "name": "tiny",
        "version": "0.1.0",
        "sovereign": {"engine": "*", "entry": "plugin:Plugin", "api": 1},
        "mounts": {"web": "/tiny"},
    }
    manifest = parse_manifest(data, PATH)

    assert manifest.mounts.prefixes() == ["/tiny"]
    assert manifest.capabilities == [] and manifest.config == {} and manifest.events.subscribe == []
    assert manifest.sovereign.feature is None and manifest.migrations is None


def test_manifest_is_frozen():
    manifest = parse_manifest(VALID, PATH)
    with pytest.raises(ValueError, match="frozen"):
        manifest.name = "other"  # type: ignore[misc]


# (id, data, field path, text the line must contain: the bad value and the fix)
INVALID = [
    ("bad-name", manifest_data({"name": "My-Blog"}), "name", ["'My-Blog'", "use 'my_blog'"]),
    ("keyword-name", manifest_data({"name": "class"}), "name", ["Python keyword", "'class_plugin'"]),
    ("bad-version", manifest_data({"version": "1.2"}), "version", ["got '1.2'", "use '1.2.0'"]),
    ("version-with-v", manifest_data({"version": "v1.2.3"}), "version", ["got 'v1.2.3'", "use '1.2.3'"]),
    ("bad-engine", manifest_data({"sovereign.engine": "soon"}), "sovereign.engine", ["'soon'", "e.g. '>=0.1 <1'"]),
    (
        "entry-without-colon",
        manifest_data({"sovereign.entry": "blog.plugin"}),
        "sovereign.entry",
        ["'blog.plugin'", "use 'blog.plugin:Plugin'"],
    ),
    (
        "entry-dotdot",
        manifest_data({"sovereign.entry": "..evil:Plugin"}),
        "sovereign.entry",
        ["'..evil:Plugin'", "'..'"],
    ),
    ("entry-slash", manifest_data({"sovereign.entry": "a/b:Plugin"}), "sovereign.entry", ["'a/b:Plugin'", "'/'"]),
    ("unsupported-api", manifest_data({"sovereign.api": 7}), "sovereign.api", ["SDK API 7, got 7; supported: 1"]),
    ("api-as-string", manifest_data({"sovereign.api": "1"}), "sovereign.api", ["integer", "got '1'", '"api": 1']),
    ("bad-feature", manifest_data({"sovereign.feature": "blgo"}), "sovereign.feature", ["'blgo'", "'blog'"]),
    (
        "mount-not-under-api",
        manifest_data({"mounts.api": "/v1/x"}),
        "mounts.api",
        ["got '/v1/x'; e.g. '/api/myplugin'"],
    ),
    ("web-mount-under-api", manifest_data({"mounts.web": "/api/pages"}), "mounts.web", ["'/api/pages'", "'/myplugin'"]),
    (
        "mount-trailing-slash",
        manifest_data({"mounts.api": "/api/blog/"}),
        "mounts.api",
        ["'/api/blog/'", "use '/api/blog'"],
    ),
    ("mount-double-slash", manifest_data({"mounts.web": "/a//b"}), "mounts.web", ["'/a//b'", "use '/a/b'"]),
    ("mount-bad-segment", manifest_data({"mounts.web": "/a b"}), "mounts.web", ["'/a b'", "'<converter:name>'"]),
    ("mount-variable-first", manifest_data({"mounts.web": "/<slug>"}), "mounts.web", ["'/<slug>'", "literal"]),
    ("no-mount", manifest_data({"mounts": {}}), "mounts", ["at least one of 'api' and 'web'", '"/api/myplugin"']),
    (
        "capability-without-plugin-prefix",
        manifest_data({"capabilities": ["posts.read"]}),
        "capabilities[0].name",
        ["must start with 'blog.'", "'posts.read'", "e.g. 'blog.read'"],
    ),
    (
        "capability-declared-twice",
        manifest_data({"capabilities": ["blog.read", {"name": "blog.read"}]}),
        "capabilities[1].name",
        ["declared twice", "'blog.read'"],
    ),
    (
        "bad-grant",
        manifest_data({"capabilities": [{"name": "blog.read", "grant": "project:edtor"}]}),
        "capabilities[0].grant",
        ["'project:edtor'", "did you mean 'project:editor'?"],
    ),
    ("unknown-top-level-key", {**VALID, "mountz": {}}, "mountz", ["unknown field", "did you mean 'mounts'?"]),
    (
        "unknown-nested-key",
        manifest_data({"config.TOKEN.hlep": "x"}),
        "config.TOKEN.hlep",
        ["unknown field", "did you mean 'help'?"],
    ),
    (
        "config-default-of-wrong-type",
        manifest_data({"config": {"LIMIT": {"type": "integer", "default": "ten"}}}),
        "config.LIMIT.default",
        ["'ten'", "type 'integer'"],
    ),
    (
        "bool-as-integer-default",
        manifest_data({"config": {"LIMIT": {"type": "integer", "default": True}}}),
        "config.LIMIT.default",
        ["got True", "write 1 or 0"],
    ),
    (
        "bool-as-number-default",
        manifest_data({"config": {"RATIO": {"type": "number", "default": False}}}),
        "config.RATIO.default",
        ["got False", "type 'number'"],
    ),
    (
        "unknown-config-type",
        manifest_data({"config": {"LIMIT": {"type": "int"}}}),
        "config.LIMIT.type",
        ["got 'int'", "did you mean 'integer'?"],
    ),
    (
        "lower-case-config-key",
        manifest_data({"config": {"limit": {"type": "integer", "default": 1}}}),
        "config.limit",
        ["upper case", "use 'LIMIT'"],
    ),
    (
        "requires-self",
        manifest_data({"requires": {"hard": {"blog": "^1"}}}),
        "requires.hard.blog",
        ["cannot require itself", "remove it"],
    ),
    (
        "bad-requires-range",
        manifest_data({"requires": {"hard": {"accounts": "one"}}}),
        "requires.hard.accounts",
        ["'one'", "e.g. '>=0.1 <1'"],
    ),
    (
        "requires-hard-and-soft",
        manifest_data({"requires": {"hard": {"accounts": "^1"}, "soft": {"accounts": "*"}}}),
        "requires.soft",
        ["['accounts']", "one of them"],
    ),
    ("migrations-dotdot", manifest_data({"migrations": "../x"}), "migrations", ["'../x'", "e.g. 'migrations'"]),
    ("migrations-absolute", manifest_data({"migrations": "/srv/x"}), "migrations", ["absolute", "'/srv/x'"]),
    ("bad-event-name", manifest_data({"events.subscribe": ["Deleted"]}), "events.subscribe[0]", ["'Deleted'"]),
    (
        "missing-entry",
        manifest_data(remove="sovereign.entry"),
        "sovereign.entry",
        ['required field missing; e.g. "entry": "plugin:Plugin"'],
    ),
    ("sovereign-not-an-object", manifest_data({"sovereign": "1"}), "sovereign", ["JSON object", "got '1'", '"engine"']),
]


@pytest.mark.parametrize(("data", "field", "expected"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID])
def test_manifest_error_names_field_value_and_fix(data, field, expected):
    problems = problems_of(data)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{field}: "), problems[0]
    for text in expected:
        assert text in problems[0]


def test_manifest_reports_every_bad_field_at_once():
    data = manifest_data({"name": "B", "version": "x", "sovereign.api": 9, "mounts.api": "/v1"})

    fields = [problem.split(":")[0] for problem in problems_of(data)]

    assert fields == ["name", "version", "sovereign.api", "mounts.api"]


def test_manifest_missing_top_level_fields_each_get_an_example():
    problems = problems_of({})

    assert problems == [
        'name: required field missing; e.g. "name": "myplugin"',
        'version: required field missing; e.g. "version": "0.1.0"',
        'sovereign: required field missing; e.g. "sovereign": '
        '{"engine": ">=0.1 <1", "entry": "plugin:Plugin", "api": 1}',
        'mounts: required field missing; e.g. "mounts": {"api": "/api/myplugin"}',
    ]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_manifest_reads_a_file(tmp_path):
    manifest = load_manifest(write(tmp_path / "plugin.json", json.dumps(VALID)))

    assert manifest == parse_manifest(VALID, PATH)


def test_load_manifest_bad_json_names_line_and_column(tmp_path):
    path = write(tmp_path / "plugin.json", '{\n  "name": "blog",\n}\n')

    with pytest.raises(ManifestError) as info:
        load_manifest(path)

    assert info.value.path == str(path)
    assert info.value.problems[0].startswith("line 3, column 1: invalid JSON")


def test_load_manifest_refuses_json_that_is_not_an_object(tmp_path):
    with pytest.raises(ManifestError) as info:
        load_manifest(write(tmp_path / "plugin.json", "[1, 2]"))

    assert info.value.problems[0].startswith("(top level): must be a JSON object, got [1, 2]")


def test_load_manifest_missing_file(tmp_path):
    path = tmp_path / "plugin.json"

    with pytest.raises(ManifestError, match="not found") as info:
        load_manifest(path)

    assert info.value.path == str(path)


def test_load_manifest_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "plugin.json"
    path.write_bytes(b'{"name": "\xff"}')

    with pytest.raises(ManifestError, match="UTF-8"):
        load_manifest(path)


# --- properties ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_PATHS = [
    "name",
    "version",
    "sovereign",
    "sovereign.engine",
    "sovereign.entry",
    "sovereign.api",
    "sovereign.feature",
    "mounts",
    "mounts.api",
    "mounts.web",
    "capabilities",
    "events",
    "events.subscribe",
    "migrations",
    "config",
    "config.PAGE_SIZE",
    "config.PAGE_SIZE.default",
    "config.PAGE_SIZE.type",
    "requires",
    "requires.hard",
    "unknown",
]


def assert_parses_or_explains(data: object) -> None:
    try:
        parse_manifest(data, PATH)
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem and "\n" not in problem and ": " in problem


@given(st.dictionaries(st.sampled_from([*VALID, "mountz"]) | st.text(max_size=8), json_values, max_size=8))
@example({"[key]": None})  # pydantic's own marker for a bad dict key, used as a real key
@example({"": 1, "\n": 2})
def test_manifest_arbitrary_dicts_raise_only_manifest_error(data):
    assert_parses_or_explains(data)


@given(st.sampled_from(FIELD_PATHS), json_values)
def test_manifest_valid_manifest_with_one_arbitrary_field_raises_only_manifest_error(field, value):
    assert_parses_or_explains(manifest_data({field: value}))


@given(json_values)
def test_manifest_arbitrary_json_raises_only_manifest_error(data):
    assert_parses_or_explains(data)


def identifiers(pattern: str = r"[a-z_][a-z0-9_]{0,8}") -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda name: not keyword.iskeyword(name))


def mount_rest() -> st.SearchStrategy[str]:
    literal = st.from_regex(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}", fullmatch=True)
    variable = st.builds(
        lambda converter, name: f"<{converter}{name}>", st.sampled_from(["", "int:", "path:", "string:"]), identifiers()
    )
    return st.lists(literal | variable, max_size=3).map(lambda segments: "".join(f"/{s}" for s in segments))


@st.composite
def valid_manifests(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(identifiers(r"[a-z][a-z0-9_]{1,39}"))
    literal = st.from_regex(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}", fullmatch=True)
    mounts = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "api": st.builds(lambda first, rest: f"/api/{first}{rest}", literal, mount_rest()),
                "web": st.builds(
                    lambda first, rest: f"/{first}{rest}", literal.filter(lambda s: s != "api"), mount_rest()
                ),
            },
        ).filter(bool)
    )
    version = draw(
        st.builds(
            lambda numbers, pre: ".".join(map(str, numbers)) + pre,
            st.tuples(*[st.integers(0, 999)] * 3),
            st.sampled_from(["", "-alpha.1", "-rc.2", "-beta"]),
        )
    )
    ranges = st.sampled_from([">=0.1 <1", "^1.2", "~2.0.1", "*", "1.x", ">=1.0.0 || <0.5", "1 - 2"])
    suffixes = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6})?", fullmatch=True), unique=True)
    )
    capabilities = [
        draw(
            st.just(f"{name}.{suffix}")
            | st.builds(dict, name=st.just(f"{name}.{suffix}"), grant=st.sampled_from([*GRANTS, None]))
        )
        for suffix in suffixes
    ]
    option = st.one_of(
        st.fixed_dictionaries({"type": st.just("string"), "default": st.none() | st.text(max_size=8)}),
        st.fixed_dictionaries({"type": st.just("integer"), "default": st.none() | st.integers()}),
        st.fixed_dictionaries(
            {
                "type": st.just("number"),
                "default": st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
            }
        ),
        st.fixed_dictionaries({"type": st.just("boolean"), "default": st.none() | st.booleans()}),
    )
    others = draw(st.dictionaries(identifiers(r"[a-z][a-z0-9_]{1,10}").filter(lambda other: other != name), ranges))
    soft = draw(st.sets(st.sampled_from(sorted(others)))) if others else set()
    return {
        "name": name,
        "version": version,
        "sovereign": {
            "engine": draw(ranges),
            "entry": draw(st.builds(lambda module, attr: f"{module}:{attr}", identifiers(), identifiers())),
            "api": 1,
            "feature": draw(st.sampled_from([None, "papertrail", "blog"])),
        },
        "mounts": mounts,
        "capabilities": capabilities,
        "events": {"subscribe": draw(st.lists(st.from_regex(r"[a-z]{1,6}\.[a-z][a-z_]{0,8}", fullmatch=True)))},
        "migrations": draw(st.none() | st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?", fullmatch=True)),
        "config": draw(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True), option, max_size=4)),
        "requires": {
            "hard": {key: value for key, value in others.items() if key not in soft},
            "soft": {key: value for key, value in others.items() if key in soft},
        },
    }


@given(valid_manifests())
def test_manifest_valid_manifests_parse_and_round_trip(data):
    manifest = parse_manifest(data, PATH)

    assert parse_manifest(manifest.model_dump(mode="json"), PATH) == manifest
    assert manifest.name == data["name"]
    assert manifest.capability_names() == {c if isinstance(c, str) else c["name"] for c in data["capabilities"]}
    assert manifest.mounts.prefixes() == [data["mounts"][k] for k in ("api", "web") if k in data["mounts"]]


@given(valid_manifests())
def test_manifest_json_schema_accepts_every_valid_manifest(data):
    assert jsonschema_rs.Draft202012Validator(manifest_json_schema()).is_valid(data)


# --- JSON Schema ---


def test_manifest_json_schema_is_serialisable_draft_2020_12():
    schema = json.loads(json.dumps(manifest_json_schema()))

    assert schema["$schema"] == JSON_SCHEMA_DIALECT == "https://json-schema.org/draft/2020-12/schema"
    assert "$id" not in schema
    assert schema["title"]
    assert {"name", "version", "sovereign", "mounts", "capabilities", "config"} <= set(schema["properties"])
    assert set(schema["required"]) == {"name", "version", "sovereign", "mounts"}
    assert all(prop.get("description") for prop in schema["properties"].values())


@pytest.mark.parametrize(
    "data",
    [
        {**VALID, "mountz": {}},
        manifest_data({"name": "Blog"}),
        manifest_data({"sovereign.api": 2}),
        manifest_data({"mounts.api": "/v1/blog"}),
        manifest_data({"mounts": {}}),
        manifest_data({"capabilities": [{"name": "blog.read", "grant": "root"}]}),
        manifest_data({"config": {"limit": {"type": "integer"}}}),
        manifest_data(remove="sovereign"),
    ],
    ids=["unknown-key", "name", "api", "mount", "no-mount", "grant", "config-key", "missing-sovereign"],
)
def test_manifest_json_schema_rejects_what_the_model_rejects(data):
    validator = jsonschema_rs.Draft202012Validator(manifest_json_schema())

    assert validator.is_valid(VALID)
    assert not validator.is_valid(data)
    problems_of(data)


# --- plugin config ---

MANIFEST = parse_manifest(VALID, PATH)
SOURCE = "environment"


def test_plugin_config_merges_defaults_and_overrides():
    config = validate_plugin_config(MANIFEST, {"TOKEN": "s3cret", "RATIO": 2}, SOURCE)

    assert config == {"PAGE_SIZE": 20, "RATIO": 2, "DRAFTS": False, "TOKEN": "s3cret"}


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("PAGE_SIZE", "42", 42),
        ("PAGE_SIZE", " -3 ", -3),
        ("RATIO", "1.5", 1.5),
        ("RATIO", "2", 2.0),
        ("DRAFTS", "true", True),
        ("DRAFTS", "YES", True),
        ("DRAFTS", "1", True),
        ("DRAFTS", "false", False),
        ("DRAFTS", "no", False),
        ("DRAFTS", "0", False),
        ("TOKEN", "42", "42"),
    ],
)
def test_plugin_config_coerces_environment_strings(key, text, value):
    config = validate_plugin_config(MANIFEST, {"TOKEN": "t", key: text}, SOURCE)

    assert config[key] == value
    assert type(config[key]) is type(value)


def config_problems(overrides: dict[str, Any]) -> list[str]:
    with pytest.raises(ManifestError) as info:
        validate_plugin_config(MANIFEST, overrides, SOURCE)
    assert info.value.path == SOURCE
    return info.value.problems


def test_plugin_config_unknown_key_suggests_the_declared_one():
    (problem,) = config_problems({"TOKEN": "t", "PAGE_SIZ": "3"})

    assert problem.startswith("config.PAGE_SIZ: unknown option")
    assert "did you mean 'PAGE_SIZE'?" in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PAGE_SIZE", "many"),
        ("PAGE_SIZE", "4.5"),
        ("PAGE_SIZE", True),
        ("RATIO", "nan"),
        ("DRAFTS", "maybe"),
        ("TOKEN", 5),
    ],
)
def test_plugin_config_refuses_a_value_of_the_wrong_type(key, value):
    overrides = {"TOKEN": "t", key: value}

    (problem,) = config_problems(overrides)

    assert problem.startswith(f"config.{key}: ")
    assert repr(value) in problem
    assert f"PLUGIN_CONFIG__blog__{key}" in problem


def test_plugin_config_required_option_without_value():
    (problem,) = config_problems({})

    assert problem.startswith("config.TOKEN: required option")
    assert "set it with PLUGIN_CONFIG__blog__TOKEN" in problem


# --- paths inside a plugin ---


def test_resolve_inside_returns_the_resolved_path(tmp_path):
    (tmp_path / "migrations" / "versions").mkdir(parents=True)

    assert resolve_inside(tmp_path, "migrations/versions", "migrations") == (tmp_path / "migrations/versions").resolve()


def test_resolve_inside_follows_a_symlink_that_stays_inside(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")

    assert resolve_inside(tmp_path, "link", "migrations") == (tmp_path / "real").resolve()


def refused(folder: Path, relative: str) -> str:
    with pytest.raises(ManifestError) as info:
        resolve_inside(folder, relative, "migrations")
    assert info.value.path == str(folder / "plugin.json")
    (problem,) = info.value.problems
    assert problem.startswith(f"migrations: {relative!r} ")
    return problem


def test_resolve_inside_refuses_dotdot(tmp_path):
    plugin = tmp_path / "plugin"
    plugin.mkdir()

    assert "'..'" in refused(plugin, "../outside")
    assert "'..'" in refused(plugin, "a/../../outside")


def test_resolve_inside_refuses_an_absolute_path(tmp_path):
    assert "absolute" in refused(tmp_path, str(tmp_path / "migrations"))


def test_resolve_inside_refuses_a_symlink_leading_out(tmp_path):
    plugin, outside = tmp_path / "plugin", tmp_path / "outside"
    plugin.mkdir()
    outside.mkdir()
    (plugin / "migrations").symlink_to(outside)

    assert "outside the plugin folder" in refused(plugin, "migrations")


def test_manifest_mounts_take_a_list_of_prefixes_each_checked() -> None:
    manifest = parse_manifest(
        manifest_data({"mounts.api": ["/api/a/<x>/configure", "/api/a/<x>/blog"], "mounts.web": "/a"}), PATH
    )
    assert manifest.mounts.prefixes() == ["/api/a/<x>/configure", "/api/a/<x>/blog", "/a"]
    for bad, words in (([], ["at least one"]), (["/api/a", "/api/a"], ["twice"]), (["/api/a", "/v1"], ["'/v1'"])):
        with pytest.raises(ManifestError) as caught:
            parse_manifest(manifest_data({"mounts.api": bad}), PATH)
        assert "mounts.api" in str(caught.value)
        for word in words:
            assert word in str(caught.value)


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        (
            {"tables": ["users"]},
            "access.tables[0]: may not claim a platform table ('users'), got 'users'; name the plugin's own tables, "
            "e.g. 'myplugin_*' (platform data is read through access.platform)",
        ),
        ({"tables": ["sv_*"]}, "access.tables[0]: may not claim the host's or the database's own tables ('sv_*')"),
        ({"tables": ["alembic_version_blog"]}, "may not claim the host's or the database's own tables"),
        ({"tables": ["user_*"]}, "may not claim a platform table ('user_roles'), got 'user_*'"),
        ({"tables": ["Blog Posts"]}, "or a prefix pattern ending in '_*', got 'Blog Posts'; use 'blog_posts'"),
        ({"tables": ["blog*"]}, "or a prefix pattern ending in '_*', got 'blog*'"),
        ({"tables": ["blog_*", "blog_posts"]}, "access: tables 'blog_*' and 'blog_posts' overlap"),
        ({"platform": ["user"]}, "access.platform[0]: unknown platform view, got 'user' (did you mean 'users'?)"),
        ({"platform": ["auth_sessions"]}, "access.platform[0]: is not a platform view the SDK grants"),
        ({"platform": ["users", "users"]}, "access.platform: lists a name twice, got ['users']"),
        ({"tabels": []}, "access.tabels: unknown field (did you mean 'tables'?); allowed: tables, platform"),
    ],
    ids=[
        "platform-table",
        "host",
        "version",
        "prefix-over-platform",
        "spaces",
        "no-underscore",
        "overlap",
        "typo",
        "credentials",
        "twice",
        "unknown-key",
    ],
)
def test_manifest_access_block_errors_name_the_field_and_the_fix(access, expected):
    problems = problems_of(manifest_data({"access": access}))
    assert any(expected in line for line in problems), problems


def test_manifest_access_defaults_to_nothing_and_owns_by_pattern():
    manifest = parse_manifest(manifest_data({"access": {"tables": ["blog_*", "blog2"], "platform": ["users"]}}), PATH)
    assert manifest.access.owns("blog_posts") and manifest.access.owns("blog2")
    assert not manifest.access.owns("blogposts") and not manifest.access.owns("users")
    assert parse_manifest(manifest_data(), PATH).access.tables == []


@given(st.from_regex(r"[a-z][a-z0-9_]{0,12}\*?", fullmatch=True))
def test_manifest_an_accepted_table_pattern_never_reaches_a_reserved_table(pattern):
    from exthost.manifest import RESERVED_TABLES, tables_overlap

    try:
        parse_manifest(manifest_data({"access": {"tables": [pattern]}}), PATH)
    except ManifestError as exc:
        assert all(problem.startswith("access.tables[0]: ") for problem in exc.problems)
        return
    assert not any(tables_overlap(pattern, reserved) for reserved in RESERVED_TABLES)


def test_manifest_platform_tables_are_the_legacy_schemas_less_the_features_tables():
    from exthost.manifest import PLATFORM_TABLES
    from legacy_core.db import Base

    features = {name for name in Base.metadata.tables if name.startswith("pt_") or name == "blog_configs"}
    assert sorted(set(Base.metadata.tables) - features) == sorted(PLATFORM_TABLES)
