"""Core route modules of the legacy monolith: accounts and projects."""
