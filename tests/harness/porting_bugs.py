"""Realistic porting bugs: one small edit each to a copy of a plugin, and the route a plain `sv parity:run` must name.

Unlike the injected divergences of `mutants.py`, which scripted sessions expose, these are judged by what users
run: `sv parity:run --feature <feature>` with the default case count and seed, the plugins folder pointed at the
edited copy. Each bug is something a developer porting the legacy code could plausibly get wrong, and `needs` says
which request (limit, body, sequence) shows it, so a bug the run misses says what the generator did not send.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from exthost.cli import main
from parity_tests.outcome import SESSION_END
from tests.harness.mutants import BLOG_API, BLOG_POST, ITEMS, PAPERTRAIL_API, Edit, apply_edit, copy_plugins

KINDS = (
    "boundary",
    "error branch",
    "header",
    "key order",
    "JSON formatting",
    "side effects only",
    "sequence only",
)
UPLOAD = f"{ITEMS}/attachments/upload"
FILE = "/uploads/<project_id>/<attachment_id>/<filename>"
BOARD_PAGE = "/projects/<project_id>/board"
BLOG_EDIT_PAGE = "/projects/<project_id>/blog/edit/<path:file>"


@dataclass(frozen=True)
class PortingBug:
    """One porting bug: its edit, what it breaks, and the (method, URL rule) a run must report a mismatch on."""

    name: str
    kind: str
    feature: str
    edit: Edit
    method: str
    route: str
    description: str
    needs: str  # the request (or sequence) that shows the bug: what a generator has to send


BUGS: tuple[PortingBug, ...] = (
    # --- PaperTrail ---
    PortingBug(
        "pt-upload-limit-off-by-one",
        "boundary",
        "papertrail",
        Edit("papertrail/disk.py", "if written > limit:", "if written >= limit:"),
        "POST",
        UPLOAD,
        "an upload of exactly PAPERTRAIL_UPLOAD_MAX_BYTES is refused with 413 (legacy accepts it)",
        "a multipart upload whose file is exactly the upload limit (10 MiB by default)",
    ),
    PortingBug(
        "pt-coordinate-accepts-booleans",
        "boundary",
        "papertrail",
        Edit(
            "papertrail/rules.py",
            "numeric = isinstance(value, int | float) and not isinstance(value, bool)",
            "numeric = isinstance(value, int | float)",
        ),
        "POST",
        f"{ITEMS}/nodes",
        'a coordinate `true` is coerced to 1 and saved (legacy: 400 "must be a number, not bool")',
        'a node body with a boolean coordinate, e.g. {"x": true}',
    ),
    PortingBug(
        "pt-comment-body-not-stripped",
        "error branch",
        "papertrail",
        Edit(
            "papertrail/bodies.py",
            '"""POST .../comments: the text and, optionally, the node it is about."""\n\n'
            '    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")',
            '"""POST .../comments: the text and, optionally, the node it is about."""\n\n'
            '    model_config = ConfigDict(extra="ignore")',
        ),
        "POST",
        f"{ITEMS}/comments",
        "a new comment's fields are validated before stripping: a blank body gets another 400 message, a padded "
        "nodeId is not found",
        'a comment whose body is only whitespace ({"body": "   "}) or whose nodeId is padded (" claim ")',
    ),
    PortingBug(
        "pt-patch-board-unknown-keys",
        "error branch",
        "papertrail",
        Edit(
            "papertrail/board_routes.py",
            "if not any(key in data for key in PATCHABLE):",
            "if not data:",
        ),
        "PATCH",
        PAPERTRAIL_API,
        'a board PATCH with none of title/nodes/edges (e.g. {"foo": 1}) answers 200 and bumps the board instead '
        'of 400 "Nothing to update"',
        "a board PATCH by an editor whose object body holds only unknown keys",
    ),
    PortingBug(
        "pt-file-name-not-checked",
        "error branch",
        "papertrail",
        Edit(
            "papertrail/upload_routes.py",
            " or board.project_id != project_id or row.filename != filename:",
            " or board.project_id != project_id:",
        ),
        "GET",
        FILE,
        "a stored file is served under any file name in its URL (legacy: 404 unless the name is the stored one)",
        "an upload, then a GET of /uploads/<project>/<new attachment id>/<another name>",
    ),
    PortingBug(
        "pt-svg-served-inline",
        "header",
        "papertrail",
        Edit(
            "papertrail/filenames.py",
            '_RENDERED_IMAGES = ("avif", "bmp", "gif", "jpeg", "png", "webp")',
            '_RENDERED_IMAGES = ("avif", "bmp", "gif", "jpeg", "png", "svg+xml", "webp")',
        ),
        "GET",
        FILE,
        "an uploaded SVG is served inline (Content-Disposition: inline) instead of as a download",
        "an upload of a file named *.svg, then a GET of its URL",
    ),
    PortingBug(
        "pt-page-headers-only-on-success",
        "header",
        "papertrail",
        Edit(
            "papertrail/pages.py",
            'if request.endpoint == page_endpoint and response.mimetype == "text/html":',
            'if request.endpoint == page_endpoint and response.mimetype == "text/html" and response.status_code < 400:',
        ),
        "GET",
        BOARD_PAGE,
        "the board page's error pages (403, 404) lack the CSP, nosniff, Referrer-Policy and Cache-Control headers",
        "a GET of the board page by a signed-in non-member (dave) or for an unknown project",
    ),
    PortingBug(
        "pt-import-summary-key-order",
        "key order",
        "papertrail",
        Edit(
            "papertrail/bundle.py",
            '            "comments": len(self.comments),\n            "attachments": len(self.files),\n',
            '            "attachments": len(self.files),\n            "comments": len(self.comments),\n',
        ),
        "POST",
        f"{PAPERTRAIL_API}/import/validate",
        "the import summary lists attachments before comments (same data, other bytes)",
        "any successful import validation",
    ),
    PortingBug(
        "pt-json-without-newline",
        "JSON formatting",
        "papertrail",
        Edit(
            "papertrail/replies.py",
            "from flask import Response, jsonify\n\n\ndef answer(body: object, status: int = 200) -> Response:\n"
            '    """A JSON answer; keys keep their order (the plugin\'s app does not sort them)."""\n'
            "    response = jsonify(body)\n    response.status_code = status\n    return response\n",
            "import json\n\nfrom flask import Response\n\n\ndef answer(body: object, status: int = 200) -> Response:\n"
            '    """A JSON answer, compact like legacy\'s."""\n'
            '    return Response(json.dumps(body, separators=(",", ":")), status=status,'
            ' mimetype="application/json")\n',
        ),
        "GET",
        PAPERTRAIL_API,
        "JSON answers are written by hand as compact JSON without jsonify's final newline",
        "any JSON answer of the feature",
    ),
    PortingBug(
        "pt-export-escapes-non-ascii",
        "JSON formatting",
        "papertrail",
        Edit(
            "papertrail/bundle.py",
            "json.dumps(document, ensure_ascii=False, indent=2)",
            "json.dumps(document, indent=2)",
        ),
        "GET",
        f"{PAPERTRAIL_API}/export",
        "the export's board.json escapes non-ASCII text (\\u00fc) where legacy writes UTF-8",
        "a node (or board title) with non-ASCII text, then an export; and a comparison of the zip member's bytes",
    ),
    PortingBug(
        "pt-comment-does-not-bump-board",
        "side effects only",
        "papertrail",
        Edit(
            "papertrail/comment_routes.py",
            "            db.add(comment)\n            store.bump(board, now)\n",
            "            db.add(comment)\n",
        ),
        "POST",
        f"{ITEMS}/comments",
        "a new comment leaves the board's updated_at as it was (the answer is the same)",
        "any successful comment",
    ),
    PortingBug(
        "pt-node-delete-keeps-comment-link",
        "side effects only",
        "papertrail",
        Edit(
            "papertrail/item_routes.py",
            "        store.drop_edges_touching(db, board.id, item_id)\n"
            "        store.detach_vanished_nodes(db, board.id)\n",
            "        store.drop_edges_touching(db, board.id, item_id)\n",
        ),
        "DELETE",
        f"{ITEMS}/nodes/<node_id>",
        "deleting a node leaves its comments (and attachments) pointing at it",
        "a DELETE of a node that a comment is about (the seeded 'claim')",
    ),
    PortingBug(
        "pt-upload-error-leaves-staged-file",
        "side effects only",
        "papertrail",
        Edit(
            "papertrail/upload_routes.py",
            "            staged.unlink(missing_ok=True)\n            if final is not None:\n",
            "            if final is not None:\n",
        ),
        "POST",
        UPLOAD,
        "an upload refused after staging (unknown nodeId) leaves its .incoming-<token> file on disk",
        "a valid multipart upload whose nodeId names no node of the board",
    ),
    PortingBug(
        "pt-delete-board-leaves-files",
        "sequence only",
        "papertrail",
        Edit(
            "papertrail/board_routes.py",
            "        remove_tree(project_folder(feature.root, project_id))\n",
            "",
        ),
        "DELETE",
        PAPERTRAIL_API,
        "deleting the board keeps its attachment files on disk",
        "an upload, then a DELETE of the board by its owner",
    ),
    # --- Blog ---
    PortingBug(
        "blog-excerpt-off-by-one",
        "boundary",
        "blog",
        Edit(
            "blog/posts.py",
            "    return cut if cut == words else cut + ELLIPSIS\n",
            "    return words if len(words) < EXCERPT_LIMIT else cut + ELLIPSIS\n",
        ),
        "GET",
        f"{BLOG_API}/post/all",
        "a body of exactly 140 characters gets an ellipsis in the listing's excerpt",
        "a post whose body is exactly 140 characters (after collapsing whitespace), then the listing",
    ),
    PortingBug(
        "blog-slug-cut-before-words",
        "boundary",
        "blog",
        Edit(
            "blog/posts.py",
            '"-".join(_SLUG_WORD.findall(folded))[:SLUG_LIMIT]',
            '"-".join(_SLUG_WORD.findall(folded[:SLUG_LIMIT]))',
        ),
        "POST",
        f"{BLOG_API}/post",
        "the title is cut to 80 characters before its words are joined, so a long title gets another file name",
        "a new post without `file` whose title is longer than 80 characters and has punctuation or runs of blanks",
    ),
    PortingBug(
        "blog-publish-missing-post-502",
        "error branch",
        "blog",
        Edit(
            "blog/workspace.py",
            '        self._existing(file)\n        current, old = self._commit_paths(file)\n        self.git("stage"',
            '        current, old = self._commit_paths(file)\n        self.git("stage"',
        ),
        "POST",
        BLOG_POST,
        "publishing a post that does not exist lets git fail (502) instead of answering 404 Post not found",
        "a publish (POST .../post/<file>) of a file name that is no post",
    ),
    PortingBug(
        "blog-configure-again-409",
        "error branch",
        "blog",
        Edit(
            "blog/routes.py",
            'if self.stored(project_id, "owner") is not None:\n            raise HttpError(400, ',
            'if self.stored(project_id, "owner") is not None:\n            raise HttpError(409, ',
        ),
        "PATCH",
        "/api/projects/<project_id>/configure",
        'configuring a blog twice answers 409 instead of 400 "Blog already configured"',
        "a configure of the (already configured) seeded blog by its owner",
    ),
    PortingBug(
        "blog-rename-overwrites-post",
        "error branch",
        "blog",
        Edit(
            "blog/workspace.py",
            "        if self._occupied(new_file):\n            raise PostTaken(new_file)\n",
            "",
        ),
        "PATCH",
        BLOG_POST,
        "renaming a post onto another post's name overwrites it instead of answering 409",
        'a PATCH of one seeded post with {"file": "<another seeded post>"}',
    ),
    PortingBug(
        "blog-create-location-header",
        "header",
        "blog",
        Edit(
            "blog/routes.py",
            '        return answer({"ok": True, "post": post.detail()}, 201)\n',
            '        created = answer({"ok": True, "post": post.detail()}, 201)\n'
            '        created.headers["Location"] = f"/api/projects/{project_id}/blog/post/{file}"\n'
            "        return created\n",
        ),
        "POST",
        f"{BLOG_API}/post",
        "a created post's 201 answer carries a Location header that legacy never sent",
        "any successful post creation",
    ),
    PortingBug(
        "blog-edit-page-without-headers",
        "header",
        "blog",
        Edit(
            "blog/pages.py",
            'page_endpoints = {f"{router.name}.{endpoint}" for endpoint in endpoints}',
            'page_endpoints = {f"{router.name}.blog_page"}',
        ),
        "GET",
        BLOG_EDIT_PAGE,
        "only the post list page gets the page headers; the editor pages lack CSP and Cache-Control",
        "a GET of the new-post or edit-post page",
    ),
    PortingBug(
        "blog-listing-key-order",
        "key order",
        "blog",
        Edit(
            "blog/posts.py",
            '_SUMMARY = ("file", "title", "description", "tags", "status", "pubDate", "excerpt")',
            '_SUMMARY = ("file", "title", "description", "tags", "pubDate", "status", "excerpt")',
        ),
        "GET",
        f"{BLOG_API}/post/all",
        "the listing's summaries give pubDate before status (same data, other bytes)",
        "any listing",
    ),
    PortingBug(
        "blog-delete-leaves-untracked-post",
        "side effects only",
        "blog",
        Edit(
            "blog/workspace.py",
            "        with contextlib.suppress(FileNotFoundError):\n"
            "            path.unlink()  # git rm leaves an untracked post alone\n",
            "",
        ),
        "DELETE",
        BLOG_POST,
        "deleting a never-published post answers the same but leaves its file in the working clone",
        "a new post, then a DELETE of it before it is published",
    ),
    PortingBug(
        "blog-publish-forgets-old-name",
        "sequence only",
        "blog",
        Edit(
            "blog/workspace.py",
            '            self.git("unstage-and-delete", *old)\n        paths = current + old\n',
            '            self.git("unstage-and-delete", *old)\n        paths = current\n',
        ),
        "POST",
        BLOG_POST,
        "publishing a renamed post commits the new name only: the old name stays in the remote",
        'a PATCH renaming a published (seeded) post ({"file": "new-name"}), then a publish of the new name',
    ),
)


# The bugs every CI run checks: each a whole default run (45 to 100 s on a quiet machine, several minutes on a loaded
# one, the suite's biggest share), so one of each kind and four of each plugin, not all of them.
# `scripts/porting_bugs.py` runs every bug of BUGS.
IN_CI = (
    "pt-upload-limit-off-by-one",
    "pt-import-summary-key-order",
    "pt-json-without-newline",
    "pt-delete-board-leaves-files",
    "blog-slug-cut-before-words",
    "blog-rename-overwrites-post",
    "blog-create-location-header",
    "blog-delete-leaves-untracked-post",
)


def bug_named(name: str) -> PortingBug:
    """The bug called `name`; KeyError naming the known ones otherwise."""
    for bug in BUGS:
        if bug.name == name:
            return bug
    raise KeyError(f"no porting bug {name!r}; known: {', '.join(bug.name for bug in BUGS)}")


# --- running one bug through `sv parity:run` ---


@dataclass(frozen=True)
class Outcome:
    """What `sv parity:run` did on one bug: its exit code, the (method, route) pairs it reported, its time."""

    bug: PortingBug
    exit_code: int
    reported: tuple[tuple[str, str], ...]
    seconds: float
    output: str
    # Pointers of the differences found on the bug's route: whether they are the bug's, or something else there.
    evidence: tuple[str, ...] = ()
    # Cases the harness could not run (its own failure, not a difference): such a run says nothing about the bug.
    errors: tuple[str, ...] = ()

    @property
    def caught(self) -> bool:
        return self.exit_code == 1 and (self.bug.method, self.bug.route) in self.reported


def reported_routes(report: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Every (method, route) a `report.json` has a mismatching exchange on, sorted; a difference only in the end
    state, or a case that could not run, counts as ("*", SESSION_END)."""
    found: set[tuple[str, str]] = set()
    for case in report.get("cases", ()):
        found.update((exchange["method"], exchange["route"]) for exchange in case.get("mismatches", ()))
        if case.get("endStateDifferences") or case.get("error"):
            found.add(("*", SESSION_END))
    return tuple(sorted(found))


def route_evidence(report: Mapping[str, Any], method: str, route: str) -> tuple[str, ...]:
    """The distinct pointers of every difference (answer and state) reported on `method` `route`, in report order."""
    pointers: dict[str, None] = {}
    for case in report.get("cases", ()):
        for exchange in case.get("mismatches", ()):
            if (exchange["method"], exchange["route"]) == (method, route):
                for difference in (*exchange.get("differences", ()), *exchange.get("stateDifferences", ())):
                    pointers.setdefault(difference["pointer"], None)
    return tuple(pointers)


def cli_env(plugins: Path, workdir: Path) -> dict[str, str]:
    """The settings of a run on the edited copy: its plugins folder, its own data folder and database."""
    return {
        "PLUGINS_DIR": str(plugins),
        "PLUGIN_ENTRY_POINTS": "false",
        "DATA_DIR": str(workdir / "data"),
        "DATABASE_URL": f"sqlite:///{workdir / 'evidence.db'}",
    }


def run_bug(bug: PortingBug, workdir: Path) -> Outcome:
    """Copy the plugins into `workdir`, make the bug's edit, and run a default `sv parity:run` of its feature on it."""
    plugins = copy_plugins(workdir / "plugins")
    apply_edit(plugins, bug.edit)
    reports = workdir / "reports"
    args = ["parity:run", "--feature", bug.feature, "--no-evidence", "--report-dir", str(reports), "--jobs", "1"]
    started = time.perf_counter()
    result = CliRunner().invoke(main, args, env=cli_env(plugins, workdir), catch_exceptions=False)
    seconds = time.perf_counter() - started
    report_file = reports / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else {}
    evidence = route_evidence(report, bug.method, bug.route)
    errors = tuple(str(case["error"]) for case in report.get("cases", ()) if case.get("error"))
    return Outcome(bug, result.exit_code, reported_routes(report), seconds, result.output, evidence, errors)
