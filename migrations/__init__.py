"""Alembic environment and the core revisions of the shared legacy schema."""
