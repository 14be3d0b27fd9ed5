"""The demo blog's remote: a local bare repository holding a few Markdown posts on `main`, created once."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from legacy_core.blog.git import Git, GitIdentity

BRANCH = "main"
CONTENT_DIR = "src/content/blog"

POSTS = {
    "welcome-to-the-team-blog.md": """\
---
title: Welcome to the team blog
description: What we write about here, and how a post gets from draft to published.
pubDate: 2026-01-12
tags:
- announcements
- process
---
This blog lives in a git repository: every post is a Markdown file with a little YAML front matter on top.

Write a post in the editor and it stays a **Draft** until you publish it. Publishing commits the file and pushes
it, so the history of every post is the repository's history.
""",
    "shadow-traffic-explained.md": """\
---
title: Shadow traffic, explained
description: How we compare the rewritten feature with the legacy one before anyone depends on it.
pubDate: 2026-02-03
tags:
- migration
- testing
---
# Shadow traffic, explained

While a feature is in *shadow* mode the legacy code still answers every request. A copy of the request goes to the
new plugin, off the request path, and the two answers are compared.

Only when enough of them agree does the feature move on to a canary.
""",
    "evidence-boards-in-practice.md": """\
---
title: Evidence boards in practice
description: Three habits that keep a PaperTrail board readable as it grows.
pubDate: 2026-02-20
tags:
- papertrail
- tips
---
1. Label every edge: "supports" and "contradicts" say more than a bare arrow.
2. Tag nodes by source, so a filter shows everything one witness said.
3. Attach the document itself, not a link to it; links rot.
""",
}


def ensure_demo_remote(path: Path, identity: GitIdentity, when: datetime) -> bool:
    """Make `path` a bare repository whose `main` holds the demo posts, unless it has that branch already.

    The initial commit is authored by `identity` at `when` (the clock service's time, so a pinned clock gives the
    same commit). Returns whether the commit was made.
    """
    path.mkdir(parents=True, exist_ok=True)
    git = Git(path, identity=identity, base_env=_dated_env(when))
    if not (path / "HEAD").is_file():
        git.run("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(path))
    if BRANCH in git.remote_branches(str(path)):
        return False
    with tempfile.TemporaryDirectory(prefix="demo-blog-") as scratch:
        work = Path(scratch)
        folder = work / CONTENT_DIR
        folder.mkdir(parents=True)
        for name, text in POSTS.items():
            (folder / name).write_text(text, encoding="utf-8")
        (work / "README.md").write_text("# Team blog\n\nPosts live in `src/content/blog/`.\n", encoding="utf-8")
        local = Git(work, identity=identity, base_env=_dated_env(when))
        local.run("init", "--quiet", f"--initial-branch={BRANCH}")
        local.run("add", "--all")
        local.run("commit", "--quiet", "--no-verify", "--message", "Initial commit: three demo posts")
        local.run("push", "--quiet", str(path), f"HEAD:refs/heads/{BRANCH}")
    return True


def _dated_env(when: datetime) -> dict[str, str]:
    stamp = when.isoformat()
    return {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


def seed_remote(path: Path, when: datetime) -> None:
    """The parity harness's blog remote (the blog's `Feature.remote`): the demo posts, committed by the blog bot."""
    ensure_demo_remote(path, GitIdentity("Blog Bot", "blog-bot@example.test"), when)
