"""Configuring a blog project: clone its repository into the working folder and store its BlogConfig, all or nothing.

The PATCH /configure route and the demo seed both go through `configure_blog`; deciding whether a remote is
acceptable (config.remote_refusal) is the caller's part, since the seed's own demo remote is the operator's.
"""

from __future__ import annotations

import shutil

from sqlalchemy.orm import Session

from legacy_core.blog.config import RepoConfig
from legacy_core.blog.errors import AlreadyConfigured
from legacy_core.blog.store import clone_into, install_clone, project_lock
from legacy_core.db import transaction
from legacy_core.models import BlogConfig
from legacy_core.services import Services


def load_config(db: Session, project_id: str) -> RepoConfig | None:
    """The stored repository configuration of a blog project; None when it is not configured."""
    row = db.get(BlogConfig, project_id)
    if row is None:
        return None
    return RepoConfig(
        repo_url=row.repo_url,
        branch=row.branch,
        content_dir=row.content_dir,
        user_name=row.git_user_name,
        user_email=row.git_user_email,
        token=row.git_auth_token,
    )


def configure_blog(services: Services, project_id: str, config: RepoConfig) -> None:
    """Clone `config`'s branch as the project's working copy and store `config`, once.

    Raises GitError when the repository or branch cannot be cloned and AlreadyConfigured when the project has a
    configuration; either way nothing is stored and no clone is left behind.
    """
    root = services.settings.blog_root / project_id
    with project_lock(root):
        cloned = clone_into(root, config)
        try:
            with transaction(services.session_factory) as db:
                if db.get(BlogConfig, project_id) is not None:
                    raise AlreadyConfigured(project_id)
                db.add(
                    BlogConfig(
                        project_id=project_id,
                        repo_url=config.repo_url,
                        branch=config.branch,
                        content_dir=config.content_dir,
                        git_user_name=config.user_name,
                        git_user_email=config.user_email,
                        git_auth_token=config.token,
                        created_at=services.clock.now(),
                    )
                )
                db.flush()
                install_clone(root, cloned)  # inside the transaction: if it fails, nothing is stored
        finally:
            shutil.rmtree(cloned, ignore_errors=True)
    services.logger.info("blog %s configured on %s (branch %s)", project_id, config.repo_url, config.branch)
