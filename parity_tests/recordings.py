"""Recorded sessions: HAR files (from the recording middleware, a browser or a proxy) replayed on both sides.

A HAR file is one session, in order, starting from the harness's seeded state. Replaying it on a fresh state
needs a few translations, applied the same way to both sides so they cannot hide a difference:

- secrets were redacted when recorded: a redacted password is replaced by the seed password, and each side keeps
  its own cookie jar (recorded Cookie headers are dropped);
- a login by someone the seed does not know registers that user first, on both sides;
- ids the recording server made up differ from the pinned ids of the replay: an id in a recorded answer is mapped
  to the id at the same place in the replayed legacy answer, and later requests use the mapped ids;
- a blog's remote URL is the harness's shared remote (the recording server's folder does not exist here).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from exthost.errors import ExtHostError
from exthost.evidence.compare import CapturedRequest, CapturedResponse, header_value, parse_content_type
from exthost.evidence.fingerprint import recording_name
from exthost.evidence.har import read_har
from exthost.evidence.redact import REDACTED
from legacy_core.features import FEATURES
from parity_tests.outcome import CaseResult, Exchange
from parity_tests.pair import CORE, Pair, body_json
from parity_tests.state import commit_dates

DEFAULT_RECORDINGS = Path(__file__).resolve().parent / "recordings"
# What an id made by the platform looks like (`p_3f9a...`, `p_1000000000000004`): a prefix, '_', 8+ characters.
ID = re.compile(r"[a-z]{1,4}_[0-9A-Za-z]{8,}")
LOGIN_PATH = "/login"
REMOTE_FIELDS = ("repoUrl",)


@dataclass(frozen=True)
class RecordedSession:
    """One HAR file's exchanges, for one feature; `name` is the file's path relative to the corpus folder."""

    name: str
    feature: str
    path: Path
    exchanges: tuple[tuple[CapturedRequest, CapturedResponse | None], ...]
    digest_name: str = ""

    @property
    def source(self) -> str:
        """The recording as evidence names it: path and content digest (exthost.evidence.fingerprint.recording_name)."""
        return self.digest_name or self.name


def _feature_of_path(path: Path, root: Path) -> str | None:
    for part in path.relative_to(root).parts[:-1]:
        if part in FEATURES:
            return part
    return None


def _guess_feature(exchanges: Iterable[tuple[CapturedRequest, Any]], pair: Pair | None) -> str | None:
    if pair is None:
        return None
    seen: dict[str, int] = {}
    for request, _ in exchanges:
        feature, _ = pair.route_of(request)
        if feature != CORE:
            seen[feature] = seen.get(feature, 0) + 1
    return max(seen, key=lambda name: seen[name]) if seen else None


def find_recordings(source: Path, pair: Pair | None = None) -> Iterator[RecordedSession | CaseResult]:
    """Every `*.har` under `source` (a file or a folder), sorted; the feature is the folder named after one (else
    the feature most of its requests belong to). An unreadable file yields a CaseResult carrying the error."""
    source = source.resolve()
    root = source if source.is_dir() else source.parent
    files = sorted(source.rglob("*.har")) if source.is_dir() else [source]
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            exchanges = tuple(read_har(path))
        except ExtHostError as exc:
            feature = _feature_of_path(path, root) or "unknown"
            yield CaseResult(f"recorded:{name}", "recorded", feature, name, error=str(exc))
            continue
        if not exchanges:
            feature = _feature_of_path(path, root) or "unknown"
            error = f"{path}: the recording has no requests; record the session again"
            yield CaseResult(f"recorded:{name}", "recorded", feature, name, error=error)
            continue
        guessed = _feature_of_path(path, root) or _guess_feature(exchanges, pair)
        if guessed is None:
            yield CaseResult(
                f"recorded:{name}",
                "recorded",
                "unknown",
                name,
                error=f"{path}: no request of this recording belongs to a feature ({', '.join(FEATURES)}); "
                "put it in a folder named after its feature",
            )
            continue
        yield RecordedSession(name, guessed, path, exchanges, recording_name(name, path.read_bytes()))


# --- translating a recorded request for the replay ---


class Translation:
    """The id map learned so far and the fixed replacements (password, remote URL) of one replay."""

    def __init__(self, password: str, remote_url: str):
        self.password = password
        self.remote_url = remote_url
        self.ids: dict[str, str] = {}

    def learn(self, recorded: CapturedResponse | None, replayed: CapturedResponse) -> None:
        """Map the ids of a recorded answer to those at the same places of the replayed legacy answer."""
        if recorded is None:
            return
        old = body_json(recorded)
        if old is not None:  # the replayed answer is parsed only when there is something to pair it with
            self._walk(old, body_json(replayed))
        old_location = header_value(recorded.headers, "location")
        new_location = header_value(replayed.headers, "location")
        if old_location and new_location:
            for left, right in zip(old_location.split("/"), new_location.split("/"), strict=False):
                self._pair(left, right)

    def _walk(self, old: Any, new: Any) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for key in old.keys() & new.keys():
                self._walk(old[key], new[key])
        elif isinstance(old, list) and isinstance(new, list):
            for left, right in zip(old, new, strict=False):
                self._walk(left, right)
        elif isinstance(old, str) and isinstance(new, str):
            self._pair(old, new)

    def _pair(self, old: str, new: str) -> None:
        if old != new and ID.fullmatch(old) and ID.fullmatch(new):
            self.ids.setdefault(old, new)

    def _ids_in_text(self, text: str) -> str:
        return ID.sub(lambda match: self.ids.get(match.group(0), match.group(0)), text) if self.ids else text

    def _value(self, key: str | None, value: str) -> str:
        """One recorded value as the replay sends it, `key` being the JSON or form field that holds it."""
        if value == REDACTED and key is not None and "pass" in key.lower():
            return self.password
        if key in REMOTE_FIELDS and value:
            return self.remote_url
        return self._ids_in_text(value)

    def _json(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {name: self._json(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [self._json(item) for item in value]
        return self._value(key, value) if isinstance(value, str) else value

    def _form(self, text: str) -> str:
        pairs = parse_qsl(text, keep_blank_values=True)
        translated = [(key, self._value(key, value)) for key, value in pairs]
        return text if translated == pairs else urlencode(translated, quote_via=quote)

    def request(self, request: CapturedRequest) -> CapturedRequest:
        """The recorded request as the replay sends it; what needs no translation keeps its recorded bytes."""
        media, _ = parse_content_type(header_value(request.headers, "content-type"))
        body = request.body
        if body and media == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None  # not JSON after all: sent as recorded, both sides judge it
            translated = self._json(decoded)
            if translated != decoded:  # untouched bodies keep their recorded bytes
                body = json.dumps(translated, separators=(",", ":")).encode()
        elif body and media == "application/x-www-form-urlencoded":
            body = self._form(body.decode("utf-8", "replace")).encode()
        # Other bodies (multipart uploads, files) go as recorded: an id inside an uploaded file is the file's content.
        query = self._form(request.query) if request.query else ""
        headers = tuple((k, v) for k, v in request.headers if k.lower() != "content-length")
        return replace(request, path=self._ids_in_text(request.path), query=query, headers=headers, body=body)


def _login_emails(session: RecordedSession) -> list[str]:
    """The emails the session signs in with (JSON or form logins), in order."""
    emails = []
    for request, _ in session.exchanges:
        if request.method == "POST" and request.path == LOGIN_PATH:
            try:
                data = (
                    json.loads(request.body)
                    if request.body.lstrip().startswith(b"{")
                    else dict(parse_qsl(request.body.decode("utf-8", "replace")))
                )
            except ValueError:
                continue
            email = data.get("email") if isinstance(data, dict) else None
            if isinstance(email, str) and email not in emails:
                emails.append(email)
    return emails


def replay_session(pair: Pair, session: RecordedSession) -> CaseResult:
    """Run a recorded session on both sides from the template state and compare every answer and the end state."""
    started = time.perf_counter()
    case_id = f"recorded:{session.name}"
    pair.start_case()
    translation = Translation(pair.seed.password, pair.seed.remote_url)
    known = {user.email for user in pair.seed.users.values()}
    exchanges: list[Exchange] = []
    with commit_dates():
        for email in _login_emails(session):
            if email not in known:  # the same registration on both sides, before the session starts
                body = json.dumps({"email": email, "password": pair.seed.password, "name": email.split("@")[0]})
                setup = CapturedRequest(
                    "POST", "/register", headers=(("Content-Type", "application/json"),), body=body.encode()
                )
                pair.send(setup)
                for side in pair.sides:
                    side.cookies.clear()
        drift: list[str] = []
        for index, (recorded_request, recorded_response) in enumerate(session.exchanges):
            request = translation.request(recorded_request)
            exchange = pair.exchange(index, request)
            translation.learn(recorded_response, exchange.legacy)
            exchanges.append(exchange)
            if recorded_response is not None and not _same_outcome(recorded_response.status, exchange.legacy.status):
                drift.append(
                    f"#{index} {request.method} {recorded_request.path}: recorded {recorded_response.status}, "
                    f"legacy now {exchange.legacy.status}"
                )
        end = pair.state_differences()
    error = None
    if drift:
        # Both sides may well agree on a replay that went elsewhere (every request 401 without the login): such a
        # case proves nothing, so it fails instead of counting as a matched recording.
        error = (
            f"{session.path}: the replay drifted from the recording ({len(drift)} of {len(exchanges)} requests "
            f"answered otherwise by legacy: {'; '.join(drift[:3])}); a recording must start from the harness's seed "
            "with its login (docs/parity.md, Recordings)"
        )
    return CaseResult(
        case_id,
        "recorded",
        session.feature,
        session.source,
        tuple(exchanges),
        end,
        error=error,
        seconds=time.perf_counter() - started,
    )


def _same_outcome(recorded: int, replayed: int) -> bool:
    """Whether a replayed status is what the recording answered. A browser's 304 (its cache was fresh) stands for the
    200 a cacheless replay gets; status 0 is a request the browser never completed."""
    return recorded in (0, replayed) or (recorded == 304 and replayed == 200)
