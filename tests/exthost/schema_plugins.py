"""A throwaway plugin with two revisions, and helpers to drive `sv` against its database and look inside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import inspect, text

from exthost.cli import main
from legacy_core import Settings
from legacy_core.db import make_engine
from tests.fixtures.app import BUNDLED_PLUGINS
from tests.fixtures.plugins import manifest_for, write_plugin

NOTES = '''
"""Create hello_notes: the notes the hello plugin keeps per tenant."""

import sqlalchemy as sa
from alembic import op

revision = "hello0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hello_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("hello_notes")
'''

TAGS = '''
"""Create hello_tags and tag every note.

A second line of the docstring, not shown by migrate:status.
"""

import sqlalchemy as sa
from alembic import op

revision = "hello0002"
down_revision = "hello0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hello_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note_id", sa.Integer, nullable=False),
        sa.Column("tag", sa.String(40), nullable=False),
    )


def downgrade():
    op.drop_table("hello_tags")
'''

# Drops its table, then fails: the drop must be rolled back with the rest of the downgrade.
TAGS_FAILING_DOWNGRADE = TAGS.replace(
    """def downgrade():
    op.drop_table("hello_tags")""",
    """def downgrade():
    op.drop_table("hello_tags")
    raise RuntimeError("cannot archive the tags")""",
)

# Creates a table, then fails.
TAGS_FAILING_UPGRADE = TAGS.replace(
    """        sa.Column("tag", sa.String(40), nullable=False),
    )""",
    """        sa.Column("tag", sa.String(40), nullable=False),
    )
    raise RuntimeError("backfill of hello_tags failed")""",
)

HELLO_TABLES = {"hello_notes", "hello_tags", "alembic_version_hello"}


def with_feature_plugins(plugins_dir: Path) -> None:
    """PaperTrail's and Blog's folders (links to the repository's) in `plugins_dir`: the test databases hold their
    schemas (`tests/fixtures/app.py`), and a deployment's PLUGINS_DIR holds the plugins whose schemas it has."""
    plugins_dir.mkdir(parents=True, exist_ok=True)
    for feature in ("papertrail", "blog"):
        if not (plugins_dir / feature).exists():
            (plugins_dir / feature).symlink_to(BUNDLED_PLUGINS / feature, target_is_directory=True)


def write_hello(settings: Settings, *, tags: str | None = TAGS, name: str = "hello", **manifest: object) -> Path:
    """Plugin `name` with hello0001 (and `tags` as its second revision unless None), beside the feature plugins."""
    with_feature_plugins(settings.PLUGINS_DIR)
    files = {"migrations/0001_notes.py": NOTES.replace("hello", name)}
    if tags is not None:
        files["migrations/0002_tags.py"] = tags.replace("hello", name)
    return write_plugin(
        settings.PLUGINS_DIR, name, manifest=manifest_for(name, migrations="migrations", **manifest), files=files
    )


def sv(settings: Settings, *args: str) -> Result:
    env = {
        "DATABASE_URL": settings.DATABASE_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "PLUGINS_DIR": str(settings.PLUGINS_DIR),
        "PLUGIN_ENTRY_POINTS": "false",
        "BACKUP_RETENTION": str(settings.BACKUP_RETENTION),
    }
    if settings.BACKUP_DIR is not None:
        env["BACKUP_DIR"] = str(settings.BACKUP_DIR)
    return CliRunner().invoke(main, list(args), env=env)


def tables(settings: Settings) -> set[str]:
    engine = make_engine(settings.DATABASE_URL)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def scalar(settings: Settings, sql: str) -> object:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def execute(settings: Settings, *statements: str) -> None:
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def content_digest(settings: Settings) -> dict[str, str]:
    """Each table's rows (sorted), hashed: equal digests mean equal content."""
    engine = make_engine(settings.DATABASE_URL)
    found: dict[str, str] = {}
    try:
        names = sorted(inspect(engine).get_table_names())
        with engine.connect() as connection:
            for table in names:
                result = connection.execute(text(f'SELECT * FROM "{table}"'))
                rows = sorted(repr(tuple(map(str, row))) for row in result)
                found[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    finally:
        engine.dispose()
    return found


def backup_path(output: str) -> Path:
    """The backup file a command's output names ("backup: <path> (...)")."""
    for line in output.splitlines():
        if line.startswith("backup: ") and " bytes, sha256 " in line:
            return Path(line.removeprefix("backup: ").rsplit(" (", 1)[0])
    raise AssertionError(f"no backup named in:\n{output}")
