"""The blog's JSON API: configure a project's git repository, then list, write, publish, pull and delete posts.

The answers are the legacy Blog API's, byte for byte (docs/legacy-behaviour.md and the decision list of the legacy
blog routes describe them). What the order of checks decides:

- a switched-off blog type is a bare 404 on every route, signed in or not, before anything else;
- then the session (401), the project (400 blank id, 404 unknown or not a blog, 403 role too low), then
  "Blog not configured" (409), and only then the post name (400) and the request body (400);
- a post name reaches the handler whatever it holds (`/`, a leading `/`, a newline), so a bad one is a 400 from
  the name check, never a 404 from routing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from exthost.sdk import FeatureDisabled, HttpError, PluginContext

from .bodies import ConfigureBody, NewPostBody, PostChangesBody, json_object, validated
from .errors import (
    AlreadyConfigured,
    BadPostName,
    BlogPluginError,
    FrontMatterInvalid,
    GitFailed,
    GitTimedOut,
    PostMissing,
    PostTaken,
    PullRefused,
    PushRefused,
)
from .frontmatter import Document
from .models import BlogConfigRow, BlogRepo, stored_repo
from .posts import post_file_name, slug_name, with_changes
from .remotes import refusal
from .workspace import Workspace, fresh_clone, install, project_lock

PROJECT = "/api/projects/<project_id>"
CONVERTER = "blogpost"
POST = f"{PROJECT}/blog/post/<{CONVERTER}:file>"
PULL_HINT = (
    "pull the remote changes first: the branch {branch!r} of {url} has commits this blog's working copy lacks; "
    "POST /api/projects/{project_id}/blog/pull fetches them and fast-forwards the working copy, then publish again"
)

View = Callable[..., Response]


class AnyPostName(PathConverter):
    """Matches the rest of the path, whatever it holds; the handler decides which post names are valid."""

    regex = r"[\s\S]+"
    part_isolating = False  # werkzeug would infer True from a regex without a literal "/"


def answer(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def error_answer(error: BlogPluginError) -> Response:
    """The API's answer to one of the plugin's errors (status and message are the legacy ones)."""
    if isinstance(error, BadPostName):
        return answer({"error": "Invalid file name", "details": [{"field": "file", "message": str(error)}]}, 400)
    if isinstance(error, PostMissing):
        return answer({"error": "Post not found"}, 404)
    if isinstance(error, PostTaken):
        return answer({"error": f"A post named {str(error)!r} already exists"}, 409)
    if isinstance(error, PullRefused):
        return answer({"error": f"Cannot pull: {error}"}, 409)
    if isinstance(error, FrontMatterInvalid):
        return answer({"error": f"Cannot read the post: {error}"}, 422)
    if isinstance(error, GitTimedOut):
        return answer({"error": f"Git did not answer in time: {error.reason}"}, 504)
    if isinstance(error, GitFailed):
        return answer({"error": f"Git failed: {error.reason}"}, 502)
    if isinstance(error, AlreadyConfigured):  # configure answers it itself; kept so every error has an answer
        return answer({"error": "Blog already configured"}, 400)
    raise error


def checked_name(raw: str) -> str:
    """A post name from a URL or body, or the 400 that says what is wrong with it."""
    try:
        return post_file_name(raw)
    except BadPostName as exc:
        raise HttpError(400, "Invalid file name", details=[{"field": "file", "message": str(exc)}]) from exc


class BlogApi:
    """The API's handlers over one plugin context."""

    def __init__(self, ctx: PluginContext):
        self.ctx = ctx

    # -- access -------------------------------------------------------------------------------------------------

    def stored(self, project_id: str, minimum: str) -> BlogRepo | None:
        """Check the caller's access to the blog project; its repository settings, None when not configured."""
        with self.ctx.transaction() as db:
            self.ctx.auth.require_project(db, project_id, minimum, project_type="blog")
            return stored_repo(db, project_id)

    def workspace(self, project_id: str, minimum: str) -> Workspace:
        repo = self.stored(project_id, minimum)
        if repo is None:
            raise HttpError(409, "Blog not configured")
        return Workspace(self.ctx.feature_dir / project_id, repo)

    # -- configuration ------------------------------------------------------------------------------------------

    def get_configuration(self, project_id: str) -> Response:
        repo = self.stored(project_id, "viewer")
        if repo is None:
            return answer({"configured": False})
        return answer({"configured": True, "config": repo.public()})

    def configure(self, project_id: str) -> Response:
        if self.stored(project_id, "owner") is not None:
            raise HttpError(400, "Blog already configured")
        body = validated(ConfigureBody, json_object())
        repo = BlogRepo(
            url=body.repo_url,
            branch=body.branch,
            content_dir=body.content_dir,
            author_name=body.git_user_name,
            author_email=body.git_user_email,
            token=body.git_auth_token or "",
        )
        refused = refusal(repo.url, self.ctx.platform, self.ctx.feature_dir)
        if refused is not None:
            raise HttpError(400, "Invalid request", details=[{"field": "repoUrl", "message": refused}])
        try:
            self._clone_and_store(project_id, repo)
        except AlreadyConfigured as exc:  # a concurrent configure won the race
            raise HttpError(400, "Blog already configured") from exc
        except GitFailed as exc:
            raise HttpError(400, f"Cannot clone {repo.url!r} (branch {repo.branch!r}): {exc.reason}") from exc
        return answer({"ok": True, "config": repo.public()})

    def _clone_and_store(self, project_id: str, repo: BlogRepo) -> None:
        """Clone the branch as the project's working copy and store the settings, all or nothing, once."""
        folder = self.ctx.feature_dir / project_id
        with project_lock(folder):
            staging = fresh_clone(folder, repo)
            try:
                with self.ctx.transaction() as db:
                    if db.get(BlogConfigRow, project_id) is not None:
                        raise AlreadyConfigured(project_id)
                    db.add(repo.row(project_id, self.ctx.clock.now()))
                    db.flush()
                    install(folder, staging)  # inside the transaction: if moving the clone fails, nothing is stored
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        self.ctx.log.info("blog %s configured on %s (branch %s)", project_id, repo.url, repo.branch)

    # -- posts --------------------------------------------------------------------------------------------------

    def list_posts(self, project_id: str) -> Response:
        workspace = self.workspace(project_id, "viewer")
        with workspace.open():
            return answer({"posts": workspace.listing()})

    def create_post(self, project_id: str) -> Response:
        workspace = self.workspace(project_id, "editor")
        body = validated(NewPostBody, json_object())
        file = checked_name(body.file) if body.file is not None else slug_name(body.title)
        changes = body.changes()
        # Read on every create, pubDate given or not: the legacy code does, and a pinned clock's sequence must match.
        today = self.ctx.clock.now().date()
        front_matter: dict[str, Any] = {
            "title": body.title,
            "description": changes.get("description", ""),
            "pubDate": changes.get("pubDate", today),
            "tags": changes.get("tags", []),
        }
        if "draft" in changes:
            front_matter["draft"] = changes["draft"]
        with workspace.open():
            workspace.create(file, Document(front_matter, body.body))
            post = workspace.post(file)
        return answer({"ok": True, "post": post.detail()}, 201)

    def get_post(self, project_id: str, file: str) -> Response:
        workspace = self.workspace(project_id, "viewer")
        name = checked_name(file)
        with workspace.open():
            post = workspace.post(name)
        return answer({"post": post.detail()})

    def update_post(self, project_id: str, file: str) -> Response:
        workspace = self.workspace(project_id, "editor")
        name = checked_name(file)
        body = validated(PostChangesBody, json_object())
        new_name = checked_name(body.file) if body.file is not None else None
        with workspace.open():
            current = workspace.post(name)
            front_matter = with_changes(current.document.front_matter, body.changes())
            text = body.body if body.body is not None else current.document.body
            name = workspace.update(name, Document(front_matter, text), new_name)
            post = workspace.post(name)
        return answer({"ok": True, "post": post.detail()})

    def publish_post(self, project_id: str, file: str) -> Response:
        workspace = self.workspace(project_id, "editor")
        name = checked_name(file)
        with workspace.open():
            try:
                commit = workspace.publish(name)
            except PushRefused as exc:
                self.ctx.log.warning("blog %s: push of %s rejected: %s", project_id, name, exc.reason)
                repo = workspace.repo
                hint = PULL_HINT.format(branch=repo.branch, url=repo.url, project_id=project_id)
                message = f"The remote rejected the push of {name!r} (non-fast-forward)"
                raise HttpError(409, message, extra={"hint": hint}) from exc
        self.ctx.log.info("blog %s: published %s as %s", project_id, name, commit)
        return answer({"ok": True, "commit": commit})

    def pull(self, project_id: str) -> Response:
        workspace = self.workspace(project_id, "editor")
        with workspace.open():
            pulled = workspace.pull()
        self.ctx.log.info("blog %s: pulled, head %s (updated: %s)", project_id, pulled.head, pulled.updated)
        return answer({"ok": True, "head": pulled.head, "updated": pulled.updated})

    def delete_post(self, project_id: str, file: str) -> Response:
        workspace = self.workspace(project_id, "editor")
        name = checked_name(file)
        with workspace.open():
            deletion = workspace.delete(name)
        if deletion.commit is not None and not deletion.pushed:
            self.ctx.log.warning("blog %s: deleted %s locally, push failed: %s", project_id, name, deletion.warning)
            warning = (
                f"{name!r} was deleted and committed locally as {deletion.commit}, but the push to "
                f"{workspace.repo.url} failed: {deletion.warning}. The next successful publish pushes it too."
            )
            return answer({"ok": True, "pushed": False, "commit": deletion.commit, "warning": warning}, 202)
        self.ctx.log.info("blog %s: deleted %s (%s)", project_id, name, deletion.commit)
        return answer({"ok": True, "commit": deletion.commit})


def install_api(ctx: PluginContext) -> None:
    """Add the API's routes to the plugin's router (the same paths, methods and slash rules as legacy)."""
    api = BlogApi(ctx)
    router = ctx.router

    def add_converter(state: BlueprintSetupState) -> None:
        state.app.url_map.converters.setdefault(CONVERTER, AnyPostName)

    # Recorded first, so the converter exists when the rules below are added to the plugin's app.
    router.record_once(add_converter)
    router.register_error_handler(BlogPluginError, error_answer)

    table: list[tuple[str, str, View, dict[str, Any]]] = [
        (f"{PROJECT}/configure", "GET", api.get_configuration, {}),
        (f"{PROJECT}/configure", "PATCH", api.configure, {}),
        (f"{PROJECT}/blog/post/all", "GET", api.list_posts, {}),
        (f"{PROJECT}/blog/post", "POST", api.create_post, {}),
        # merge_slashes=False: "post//x" must reach the handler as the name "/x" (a 400), not redirect.
        (POST, "GET", api.get_post, {"merge_slashes": False}),
        (POST, "PATCH", api.update_post, {"merge_slashes": False}),
        (POST, "POST", api.publish_post, {"merge_slashes": False}),
        (f"{PROJECT}/blog/pull", "POST", api.pull, {}),
        (POST, "DELETE", api.delete_post, {"merge_slashes": False}),
    ]
    for rule, method, view, options in table:
        router.add_url_rule(rule, view.__name__, view, methods=[method], **options)
    api_endpoints = {f"{router.name}.{view.__name__}" for _, _, view, _ in table}

    @router.before_request
    def feature_first() -> None:
        # Before the session and the project, so a switched-off blog looks the same to everyone; for every request
        # an API rule matched, automatic OPTIONS and HEAD answers included, as legacy's blueprint hook does. Not
        # for the pages, which share this blueprint and send a visitor without a session to the login page first.
        if request.endpoint in api_endpoints and not ctx.feature_enabled("blog"):
            raise FeatureDisabled("blog")
