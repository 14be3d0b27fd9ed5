"""Blog: Markdown posts with YAML front matter kept in a git repository."""

from __future__ import annotations

from legacy_core.blog.config import RepoConfig
from legacy_core.blog.errors import BlogError, FrontMatterError, GitError, GitTimeout, PushRejected
from legacy_core.blog.frontmatter import Document
from legacy_core.blog.posts import Post, excerpt, normalize_file_name
from legacy_core.blog.store import BlogStore

__all__ = [
    "BlogError",
    "BlogStore",
    "Document",
    "FrontMatterError",
    "GitError",
    "GitTimeout",
    "Post",
    "PushRejected",
    "RepoConfig",
    "excerpt",
    "normalize_file_name",
]
