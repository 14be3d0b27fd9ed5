"""Blog plugin: the legacy Blog feature (git-backed Markdown posts) reimplemented on the plugin SDK.

The host never runs this file (it imports `plugin.py` as the entry, see plugin.json); it exists so type checkers
and linters see the folder as one package with relative imports.
"""
