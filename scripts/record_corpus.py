"""Re-record the bundled parity corpus (parity_tests/recordings/) through the recording middleware.

    .venv/bin/python scripts/record_corpus.py [--out parity_tests/recordings]

A platform on a copy of the harness's seeded template serves legacy code with recording switched on (as
`sv parity:record --on` does for a running server); a handful of realistic sessions per feature are driven
through it as browsers and API clients would (log in, read, edit, upload, publish, make mistakes); the recorder
writes one HAR per session, secrets redacted. Each HAR is moved to `<out>/<feature>/<name>.har`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.test import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exthost.evidence.recorder import set_recording  # noqa: E402
from exthost.platform import create_platform  # noqa: E402
from legacy_core.db import make_engine  # noqa: E402
from parity_tests.seed import HARNESS_ARGON2_KIB, Seed, build_template, side_settings  # noqa: E402
from parity_tests.state import Layout, commit_dates  # noqa: E402


class Browser:
    """One client session against the recording platform (its own cookies, like one browser profile)."""

    def __init__(self, platform: Any, seed: Seed):
        self.client = Client(platform)
        self.seed = seed
        self.last: Any = None

    def login(self, user: str) -> None:
        self.call("POST", "/login", json={"email": self.seed.email_of(user), "password": self.seed.password})

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.open(path, method=method, **kwargs)
        data = response.get_data()  # read to the end, as a browser does: the recorder keeps whole answers only
        response.close()
        self.last = response
        try:
            return json.loads(data)
        except ValueError:
            return None


def papertrail_sessions(seed: Seed) -> dict[str, Callable[[Browser], None]]:
    project = seed.projects["papertrail"]
    board = f"/api/projects/{project['id']}/papertrail/board"
    items = f"{board}/{project['board_id']}"

    def viewer_reads_the_board(b: Browser) -> None:
        b.login("carol")
        b.call("GET", f"/projects/{project['id']}/board")
        b.call("GET", board)
        b.call("GET", f"{items}/nodes")
        b.call("GET", f"{items}/nodes/claim")
        b.call("GET", f"{items}/edges")
        b.call("GET", f"{items}/comments")
        b.call("GET", f"{board}/export")
        b.call("POST", f"{items}/nodes", json={"id": "sneaky", "label": "Viewers cannot add"})
        b.call("GET", f"{items}/nodes/missing")

    def editor_maps_evidence(b: Browser) -> None:
        b.login("bob")
        b.call("GET", board)
        b.call(
            "POST",
            f"{items}/nodes",
            json={"id": "witness", "label": "  Witness  statement ", "tags": ["Primary", "primary", " interview "]},
        )
        b.call("PATCH", f"{items}/nodes/witness", json={"label": "Witness statement (signed)", "tags": ["signed"]})
        b.call(
            "POST",
            f"{items}/edges",
            json={"id": "w-claim", "source": "witness", "target": "claim", "label": "supports"},
        )
        b.call("POST", f"{items}/edges", json={"id": "dangling", "source": "witness", "target": "nowhere"})
        b.call("POST", f"{items}/comments", json={"body": "Signed copy is in the drive", "nodeId": "witness"})
        comment = (b.call("GET", f"{items}/comments") or {}).get("comments", [{}])[-1].get("id", "none")
        b.call("PATCH", f"{items}/comments/{comment}", json={"body": "Signed copy uploaded"})
        b.call("DELETE", f"{items}/edges/counters")
        b.call("GET", board)

    def owner_builds_a_new_board(b: Browser) -> None:
        b.login("alice")
        created = b.call("POST", "/api/projects", json={"name": "Field notes", "type": "papertrail"}) or {}
        new_board = f"/api/projects/{created.get('id', 'none')}/papertrail/board"
        snapshot = {
            "nodes": [{"id": "n1", "label": "Interview", "tags": ["raw"]}, {"id": "n2", "label": "Transcript"}],
            "edges": [{"id": "e1", "source": "n1", "target": "n2", "label": "transcribed as"}],
        }
        answer = b.call("POST", new_board, json=snapshot) or {}
        board_id = answer.get("board", {}).get("id", "none")
        upload = {"file": (io.BytesIO(b"%PDF-1.4 field notes\n"), "notes 2026.pdf", "application/pdf"), "nodeId": "n1"}
        uploaded = b.call("POST", f"{new_board}/{board_id}/attachments/upload", data=upload) or {}
        url = uploaded.get("attachment", {}).get("url")
        if isinstance(url, str):
            b.call("GET", url)
        b.call("PATCH", new_board, json={"nodes": [{"id": "n3", "label": "Follow-up"}]})
        b.call("GET", f"{new_board}/export")
        exported = b.last.get_data()
        b.call("POST", f"{new_board}/import/validate", data={"file": (io.BytesIO(exported), "board.zip")})
        b.call("GET", new_board)

    def stranger_is_kept_out(b: Browser) -> None:
        b.call("GET", board)
        b.call("GET", f"/projects/{project['id']}/board")
        b.login("dave")
        b.call("GET", board)
        b.call("GET", f"{items}/comments")
        b.call("DELETE", f"{items}/nodes/claim")

    return {
        "viewer-reads-the-board": viewer_reads_the_board,
        "editor-maps-evidence": editor_maps_evidence,
        "owner-builds-a-new-board": owner_builds_a_new_board,
        "stranger-is-kept-out": stranger_is_kept_out,
    }


def blog_sessions(seed: Seed) -> dict[str, Callable[[Browser], None]]:
    project = seed.projects["blog"]
    api = f"/api/projects/{project['id']}"
    first = project["files"][0] if project["files"] else "missing.md"

    def reader_browses_posts(b: Browser) -> None:
        b.login("carol")
        b.call("GET", f"/projects/{project['id']}/blog")
        b.call("GET", f"{api}/blog/post/all")
        b.call("GET", f"{api}/blog/post/{first}")
        b.call("GET", f"{api}/configure")
        b.call("POST", f"{api}/blog/post", json={"title": "Readers cannot write"})

    def editor_writes_and_publishes(b: Browser) -> None:
        b.login("bob")
        b.call("GET", f"{api}/blog/post/all")
        created = (
            b.call(
                "POST",
                f"{api}/blog/post",
                json={
                    "title": "Shadow traffic: week one",
                    "description": "What we saw",
                    "tags": ["ops", "C#"],
                    "body": "# Week one\n\nAll samples matched.\n",
                },
            )
            or {}
        )
        file = created.get("post", {}).get("file", "shadow-traffic-week-one.md")
        b.call(
            "PATCH",
            f"{api}/blog/post/{file}",
            json={"description": "What we saw: nothing odd", "body": "# Week one\n\nEvery sample matched.\n"},
        )
        b.call("POST", f"{api}/blog/post/{file}")
        b.call("GET", f"{api}/blog/post/{file}")
        b.call("GET", f"/projects/{project['id']}/blog/edit/{file}")

    def owner_tidies_up(b: Browser) -> None:
        b.login("alice")
        b.call("POST", f"{api}/blog/pull")
        b.call("DELETE", f"{api}/blog/post/{first}")
        b.call("GET", f"{api}/blog/post/all")
        b.call("POST", f"{api}/blog/post", json={"title": "Draft: roadmap", "draft": True, "body": "Next: phase 4.\n"})
        b.call("PATCH", f"{api}/blog/post/draft-roadmap.md", json={"file": "roadmap.md", "title": "Roadmap"})
        b.call("POST", f"{api}/blog/post/roadmap.md")
        b.call("POST", f"{api}/blog/post", json={"title": ""})

    def owner_sets_up_a_blog(b: Browser) -> None:
        b.login("alice")
        created = b.call("POST", "/api/projects", json={"name": "Release notes", "type": "blog"}) or {}
        new = f"/api/projects/{created.get('id', 'none')}"
        b.call("GET", f"{new}/configure")
        b.call("GET", f"{new}/blog/post/all")
        b.call(
            "PATCH",
            f"{new}/configure",
            json={
                "repoUrl": seed.remote_url,
                "branch": "main",
                "contentDir": "src/content/blog",
                "gitUserName": "Release Bot",
                "gitUserEmail": "release-bot@example.test",
            },
        )
        b.call("GET", f"{new}/blog/post/all")
        b.call("PATCH", f"{new}/configure", json={"branch": "other"})

    return {
        "reader-browses-posts": reader_browses_posts,
        "editor-writes-and-publishes": editor_writes_and_publishes,
        "owner-tidies-up": owner_tidies_up,
        "owner-sets-up-a-blog": owner_sets_up_a_blog,
    }


def merged(folder: Path) -> dict[str, Any]:
    """The recorder's files of one browser session as one HAR: requests made before the login went to the
    anonymous file, the rest to the session's own."""
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.har"))]
    if not documents:
        raise SystemExit(f"{folder.name}: the recorder wrote no HAR file")
    entries = sorted(
        (entry for document in documents for entry in document["log"]["entries"]),
        key=lambda entry: entry["startedDateTime"],
    )
    for entry in entries:
        # The corpus replays from the harness's seed with its logins, not from a snapshot: no recorded caller, so the
        # harness does not take it for live traffic (parity_tests/recordings.py).
        entry.pop("_sovereign", None)
    document = documents[0]
    document["log"]["entries"] = entries
    return document


def record(out: Path) -> list[Path]:
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="sv-corpus-") as scratch:
        layout = Layout(Path(scratch).resolve())
        seed = build_template(layout)
        for feature, sessions in (("papertrail", papertrail_sessions(seed)), ("blog", blog_sessions(seed))):
            for name, session in sessions.items():
                layout.reset("legacy")
                layout.point("legacy")
                folder = Path(scratch) / "har" / name
                settings = side_settings(layout, "legacy")
                # Switched on in the database before the server starts, as `sv parity:record --on` would.
                engine = make_engine(settings.DATABASE_URL)
                set_recording(engine, enabled=True, directory=folder, changed_by="scripts/record_corpus.py")
                engine.dispose()
                platform = create_platform(settings, argon2_memory_kib=HARNESS_ARGON2_KIB, name="corpus")
                try:
                    with commit_dates():
                        session(Browser(platform, seed))
                    platform.recorder.drain()
                finally:
                    platform.close()
                target = out / feature / f"{name}.har"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(merged(folder), indent=1, sort_keys=True) + "\n", encoding="utf-8")
                written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "parity_tests" / "recordings")
    args = parser.parse_args()
    # The harness builds its sides from the environment; the working tree's plugins are unsigned.
    os.environ.setdefault("PLUGIN_SIGNATURES", "off")
    for feature in ("papertrail", "blog"):
        shutil.rmtree(args.out / feature, ignore_errors=True)
    for path in record(args.out):
        entries = len(json.loads(path.read_text(encoding="utf-8"))["log"]["entries"])
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {entries} requests")


if __name__ == "__main__":
    main()
