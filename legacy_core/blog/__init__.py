"""Blog: Markdown posts with YAML front matter kept in a git repository."""
