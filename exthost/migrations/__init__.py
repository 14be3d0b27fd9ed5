"""Alembic environment shared by the extension host's own revisions and every plugin's revisions."""
