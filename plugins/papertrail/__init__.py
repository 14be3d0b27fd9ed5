"""The PaperTrail plugin package (the host never runs this file; it makes the folder a package for type checkers)."""
