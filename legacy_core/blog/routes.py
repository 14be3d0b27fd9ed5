"""Blog API: configure a project's git repository, then list, write, publish and delete its Markdown posts.

Decisions (see also openapi_spec.py):
- Before PATCH /configure succeeded, every other blog route answers 409 {"error": "Blog not configured"}
  (after access checks); configuring twice answers 400 {"error": "Blog already configured"}.
- `file` in answers is the full name ("hello.md"); in URLs and bodies ".md" is optional and appended when missing.
  GET /blog/post/all is the listing, so a post named "all.md" must be addressed as "all.md".
- Publishing a post without uncommitted changes answers 200 {"ok": true, "commit": null} (nothing is pushed).
- A publish whose push fails for another reason than a non-fast-forward (e.g. unreachable remote) answers 502,
  and like the 409 case leaves no local commit behind; a git command that times out answers 504.
- Deleting a post that was never committed removes the file and answers 200 {"ok": true, "commit": null}.
- A post whose front matter is not a YAML mapping answers 422 on GET and PATCH; the listing shows it with its
  file name as title.
- Post names (posts.normalize_file_name): one path segment; '/', '\\', '..', control characters, a leading '.'
  and names over 200 characters are a 400, checked before any file or git access.
- The excerpt rule is posts.excerpt; a new post's pubDate defaults to today (UTC, from the clock service).
- A local remote (absolute path or file:// URL) is accepted only inside BLOG_LOCAL_REMOTES_ROOT (unset: none is),
  symlinks resolved, and never inside the platform's data folder (400 naming repoUrl): otherwise any signed-in
  user could read and push to any git repository the server can reach, another project's working clone included.
- A disabled blog type answers a bare 404 on every blog route, signed in or not (checked before the session).
- POST /blog/pull fetches the branch and fast-forwards the working copy (uncommitted changes stay); it answers 409
  with nothing changed when that is not a fast-forward or uncommitted changes touch files the remote changed.
"""

from __future__ import annotations

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter
from werkzeug.wrappers import Response

from legacy_core.access import require_project
from legacy_core.blog.config import RepoConfig, remote_refusal
from legacy_core.blog.configure import configure_blog, load_config
from legacy_core.blog.errors import (
    AlreadyConfigured,
    BlogError,
    FrontMatterError,
    GitError,
    GitTimeout,
    InvalidFileName,
    PostExists,
    PostNotFound,
    PullRefused,
    PushRejected,
)
from legacy_core.blog.frontmatter import Document
from legacy_core.blog.posts import normalize_file_name, slug_file_name, with_fields
from legacy_core.blog.schemas import ConfigureBody, CreatePostBody, UpdatePostBody
from legacy_core.blog.store import BlogStore
from legacy_core.db import transaction
from legacy_core.errors import ApiError, FeatureDisabled
from legacy_core.http import json_object, json_response, parse
from legacy_core.requestctx import get_services, require_user

CONVERTER = "blogpost"
PROJECT = "/api/projects/<project_id>"
# Any post name reaches the handler, even with '/', a leading '/' or a newline, so it gets a 400, not a 404.
POST = f"{PROJECT}/blog/post/<{CONVERTER}:file>"
NOT_CONFIGURED = "Blog not configured"
PULL_HINT = (
    "pull the remote changes first: the branch {branch!r} of {url} has commits this blog's working copy lacks; "
    "POST /api/projects/{project_id}/blog/pull fetches them and fast-forwards the working copy, then publish again"
)


class PostNameConverter(PathConverter):
    """Matches the rest of the path whatever it holds; the handler decides what is a valid post name."""

    regex = r"[\s\S]+"
    part_isolating = False  # werkzeug infers True from a regex without a literal "/"


def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault(CONVERTER, PostNameConverter)


def _config(project_id: str, minimum: str) -> RepoConfig | None:
    """Check the caller's access to the blog project; its repository config, None when not configured."""
    services = get_services()
    user = require_user()
    with transaction(services.session_factory) as db:
        require_project(db, user, project_id, minimum, project_type="blog", settings=services.settings)
        return load_config(db, project_id)


def _store(project_id: str, minimum: str) -> BlogStore:
    config = _config(project_id, minimum)
    if config is None:
        raise ApiError(409, NOT_CONFIGURED)
    return BlogStore(get_services().settings.blog_root / project_id, config)


def _file_name(raw: str) -> str:
    try:
        return normalize_file_name(raw)
    except InvalidFileName as exc:
        raise ApiError(400, "Invalid file name", details=[{"field": "file", "message": str(exc)}]) from exc


def make_blog_blueprint() -> Blueprint:
    bp = Blueprint("blog", __name__)
    bp.record_once(_register_converter)  # first, so the converter exists when the rules below are added

    @bp.before_request
    def _feature_enabled() -> None:
        # Before any session or project check, so a disabled blog looks the same to everyone: a bare 404.
        if not get_services().settings.project_type_enabled("blog"):
            raise FeatureDisabled("blog")

    @bp.errorhandler(BlogError)
    def _blog_error(error: BlogError) -> Response:
        return _error_response(error)

    @bp.get(f"{PROJECT}/configure")
    def get_configuration(project_id: str) -> Response:
        config = _config(project_id, "viewer")
        if config is None:
            return json_response({"configured": False})
        return json_response({"configured": True, "config": config.public()})

    @bp.patch(f"{PROJECT}/configure")
    def configure(project_id: str) -> Response:
        services = get_services()
        if _config(project_id, "owner") is not None:
            raise ApiError(400, "Blog already configured")
        body = parse(ConfigureBody, json_object())
        config = RepoConfig(
            repo_url=body.repo_url,
            branch=body.branch,
            content_dir=body.content_dir,
            user_name=body.git_user_name,
            user_email=body.git_user_email,
            token=body.git_auth_token or "",
        )
        refusal = remote_refusal(config.repo_url, services.settings)
        if refusal is not None:
            raise ApiError(400, "Invalid request", details=[{"field": "repoUrl", "message": refusal}])
        try:
            configure_blog(services, project_id, config)
        except AlreadyConfigured as exc:
            raise ApiError(400, "Blog already configured") from exc
        except GitError as exc:
            raise ApiError(400, f"Cannot clone {config.repo_url!r} (branch {config.branch!r}): {exc.reason}") from exc
        return json_response({"ok": True, "config": config.public()})

    @bp.get(f"{PROJECT}/blog/post/all")
    def list_posts(project_id: str) -> Response:
        store = _store(project_id, "viewer")
        with store.locked():
            return json_response({"posts": store.summaries()})

    @bp.post(f"{PROJECT}/blog/post")
    def create_post(project_id: str) -> Response:
        services = get_services()
        store = _store(project_id, "editor")
        body = parse(CreatePostBody, json_object())
        file = _file_name(body.file) if body.file is not None else slug_file_name(body.title)
        changes = body.front_matter_changes()
        front_matter = {
            "title": body.title,
            "description": changes.get("description", ""),
            "pubDate": changes.get("pubDate", services.clock.now().date()),
            "tags": changes.get("tags", []),
        }
        if "draft" in changes:
            front_matter["draft"] = changes["draft"]
        with store.locked():
            store.create(file, Document(front_matter, body.body))
            post, uncommitted = store.read(file)
        return json_response({"ok": True, "post": post.detail(uncommitted)}, 201)

    @bp.get(POST, merge_slashes=False)
    def get_post(project_id: str, file: str) -> Response:
        store = _store(project_id, "viewer")
        name = _file_name(file)
        with store.locked():
            post, uncommitted = store.read(name)
        return json_response({"post": post.detail(uncommitted)})

    @bp.patch(POST, merge_slashes=False)
    def update_post(project_id: str, file: str) -> Response:
        store = _store(project_id, "editor")
        name = _file_name(file)
        body = parse(UpdatePostBody, json_object())
        new_name = _file_name(body.file) if body.file is not None else None
        with store.locked():
            post, _ = store.read(name)
            front_matter = with_fields(post.front_matter, body.front_matter_changes())
            document = Document(front_matter, body.body if body.body is not None else post.document.body)
            name = store.update(name, document, new_file=new_name)
            post, uncommitted = store.read(name)
        return json_response({"ok": True, "post": post.detail(uncommitted)})

    @bp.post(POST, merge_slashes=False)
    def publish_post(project_id: str, file: str) -> Response:
        services = get_services()
        store = _store(project_id, "editor")
        name = _file_name(file)
        with store.locked():
            try:
                commit = store.publish(name)
            except PushRejected as exc:
                services.logger.warning("blog %s: push of %s rejected: %s", project_id, name, exc.reason)
                hint = PULL_HINT.format(branch=store.config.branch, url=store.config.repo_url, project_id=project_id)
                raise ApiError(
                    409, f"The remote rejected the push of {name!r} (non-fast-forward)", extra={"hint": hint}
                ) from exc
        services.logger.info("blog %s: published %s as %s", project_id, name, commit)
        return json_response({"ok": True, "commit": commit})

    @bp.post(f"{PROJECT}/blog/pull")
    def pull(project_id: str) -> Response:
        services = get_services()
        store = _store(project_id, "editor")
        with store.locked():
            outcome = store.pull()
        services.logger.info("blog %s: pulled, head %s (updated: %s)", project_id, outcome.head, outcome.updated)
        return json_response({"ok": True, "head": outcome.head, "updated": outcome.updated})

    @bp.delete(POST, merge_slashes=False)
    def delete_post(project_id: str, file: str) -> Response:
        services = get_services()
        store = _store(project_id, "editor")
        name = _file_name(file)
        with store.locked():
            outcome = store.delete(name)
        if outcome.commit is not None and not outcome.pushed:
            services.logger.warning("blog %s: deleted %s locally, push failed: %s", project_id, name, outcome.warning)
            warning = (
                f"{name!r} was deleted and committed locally as {outcome.commit}, but the push to "
                f"{store.config.repo_url} failed: {outcome.warning}. The next successful publish pushes it too."
            )
            return json_response({"ok": True, "pushed": False, "commit": outcome.commit, "warning": warning}, 202)
        services.logger.info("blog %s: deleted %s (%s)", project_id, name, outcome.commit)
        return json_response({"ok": True, "commit": outcome.commit})

    return bp


def _error_response(error: BlogError) -> Response:
    if isinstance(error, InvalidFileName):
        return json_response({"error": "Invalid file name", "details": [{"field": "file", "message": str(error)}]}, 400)
    if isinstance(error, PostNotFound):
        return json_response({"error": "Post not found"}, 404)
    if isinstance(error, PostExists):
        return json_response({"error": f"A post named {str(error)!r} already exists"}, 409)
    if isinstance(error, PullRefused):
        return json_response({"error": f"Cannot pull: {error}"}, 409)
    if isinstance(error, FrontMatterError):
        return json_response({"error": f"Cannot read the post: {error}"}, 422)
    if isinstance(error, GitTimeout):
        return json_response({"error": f"Git did not answer in time: {error.reason}"}, 504)
    if isinstance(error, GitError):
        return json_response({"error": f"Git failed: {error.reason}"}, 502)
    raise error
