"""Tests of the bundled feature plugins: each against the legacy feature it replaces."""
