"""Tests of the extension host."""
