"""The extension host's revisions (registry tables); version table `exthost_alembic_version`."""
