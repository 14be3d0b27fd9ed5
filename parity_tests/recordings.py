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

import contextlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from exthost.errors import ExtHostError
from exthost.evidence.compare import CapturedRequest, CapturedResponse, header_value, parse_content_type
from exthost.evidence.fingerprint import recording_name
from exthost.evidence.har import read_har
from exthost.evidence.redact import REDACTED
from exthost.evidence.snapshot import SNAPSHOTS, Snapshot, snapshot_before, snapshots_in
from legacy_core.auth import token_digest
from legacy_core.db import transaction
from legacy_core.features import FEATURES as BUILT_IN_NAMES
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
    # Recorded live (`_sovereign.caller` in its entries): who the caller was ({"user", "tenant", "sessionStarted"},
    # None when the session was anonymous), when its first request came, and the snapshot it replays from (None:
    # no snapshot precedes it, and its replay is inconclusive).
    live: bool = False
    caller: Mapping[str, Any] | None = None
    started: datetime | None = None
    snapshot: Snapshot | None = None

    @property
    def source(self) -> str:
        """The recording as evidence names it: path and content digest (exthost.evidence.fingerprint.recording_name)."""
        return self.digest_name or self.name


def _feature_of_path(path: Path, root: Path, features: Sequence[str]) -> str | None:
    for part in path.relative_to(root).parts[:-1]:
        if part in features:
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


def _live(path: Path) -> tuple[bool, Mapping[str, Any] | None, datetime | None]:
    """Whether a HAR file was recorded live by the recorder (its entries name their caller), the first caller it
    names, and when its first request started."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8-sig"))["log"]["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return False, None, None
    live, caller, started = False, None, None
    for entry in entries if isinstance(entries, list) else ():
        extra = entry.get("_sovereign") if isinstance(entry, dict) else None
        if isinstance(extra, dict) and "caller" in extra:
            live = True
            if caller is None and isinstance(extra["caller"], dict) and extra["caller"].get("user"):
                caller = extra["caller"]
        if started is None and isinstance(entry, dict):
            with contextlib.suppress(TypeError, ValueError):
                moment = datetime.fromisoformat(str(entry["startedDateTime"]))
                started = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return live, caller, started


def find_recordings(
    source: Path, pair: Pair | None = None, *, snapshot: Snapshot | None = None
) -> Iterator[RecordedSession | CaseResult]:
    """Every `*.har` under `source` (a file or a folder), sorted; the feature is the folder named after one (else
    the feature most of its requests belong to). An unreadable file yields a CaseResult carrying the error.

    A session recorded live replays from `snapshot` when given, else from the latest snapshot under the folder's
    `snapshots/` taken before its first request (`sv parity:record --on --snapshot`)."""
    source = source.resolve()
    root = source if source.is_dir() else source.parent
    if source.is_dir():  # a snapshot's folders hold no recording (a copied data folder may hold HAR files)
        files = sorted(path for path in source.rglob("*.har") if path.relative_to(root).parts[0] != SNAPSHOTS)
    else:
        files = [source]
    snapshots = snapshots_in(root) if snapshot is None else [snapshot]
    names = pair.features.names if pair is not None else BUILT_IN_NAMES
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            exchanges = tuple(read_har(path))
        except ExtHostError as exc:
            feature = _feature_of_path(path, root, names) or "unknown"
            yield CaseResult(f"recorded:{name}", "recorded", feature, name, error=str(exc))
            continue
        if not exchanges:
            feature = _feature_of_path(path, root, names) or "unknown"
            error = f"{path}: the recording has no requests; record the session again"
            yield CaseResult(f"recorded:{name}", "recorded", feature, name, error=error)
            continue
        guessed = _feature_of_path(path, root, names) or _guess_feature(exchanges, pair)
        if guessed is None:
            yield CaseResult(
                f"recorded:{name}",
                "recorded",
                "unknown",
                name,
                error=f"{path}: no request of this recording belongs to a feature ({', '.join(names)}); "
                "put it in a folder named after its feature",
            )
            continue
        live, caller, started = _live(path)
        chosen = None
        if live:
            chosen = snapshot if snapshot is not None else snapshot_before(snapshots, started or datetime.now(UTC))
        yield RecordedSession(
            name, guessed, path, exchanges, recording_name(name, path.read_bytes()), live, caller, started, chosen
        )


# --- translating a recorded request for the replay ---


class Translation:
    """The id map learned so far and the fixed replacements (password, remote URL) of one replay."""

    def __init__(self, password: str, remote_url: str, remotes: Mapping[str, str] | None = None):
        self.password = password
        self.remote_url = remote_url
        # A template made from a snapshot: each recorded remote URL's copy in the workspace (others stay as recorded).
        self.remotes = remotes
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
            # A URL the snapshot has no copy of goes to the shared URL too: never to a remote outside the workspace.
            return self.remote_url if self.remotes is None else self.remotes.get(value, self.remote_url)
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


def _mint_session(pair: Pair, session: RecordedSession) -> None:
    """The recorded caller signed in on both sides, as they were before the recording began: a session row for
    their user id (the same token on both sides), started when the recorded one did."""
    from legacy_core.models import AuthSession

    assert session.caller is not None
    began = datetime.fromisoformat(str(session.caller.get("sessionStarted") or CASE_FALLBACK.isoformat()))
    began = began if began.tzinfo else began.replace(tzinfo=UTC)
    token = f"sv-replay-{token_digest(session.name)[:32]}"
    for side in pair.sides:
        ttl = side.platform.services.auth.ttl
        with transaction(side.platform.services.session_factory) as db:
            db.add(
                AuthSession(
                    token_hash=token_digest(token),
                    user_id=str(session.caller["user"]),
                    created_at=began,
                    expires_at=max(began + ttl, (session.started or began) + timedelta(hours=1)),
                )
            )
        side.cookies[pair.seed.cookie] = token


# A recorded session's start when its file names none.
CASE_FALLBACK = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def replay_session(pair: Pair, session: RecordedSession) -> CaseResult:
    """Run a recorded session on both sides from the template state (or, for a session recorded live, from its
    snapshot) and compare every answer and the end state."""
    if session.live:
        return _replay_live(pair, session)
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
        drift = _replay_exchanges(pair, session, translation, exchanges)
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


def _replay_live(pair: Pair, session: RecordedSession) -> CaseResult:
    """A session recorded live, replayed from its snapshot on `pair` (built from that snapshot): its caller signed in
    as they were, the clocks starting when the session's first request came. When legacy does not answer as the
    recording says (state moved under the session between the snapshot and its requests), the case is
    inconclusive: its agreement proves little, but a difference is still a mismatch."""
    started = time.perf_counter()
    case_id = f"recorded:{session.name}"
    if session.snapshot is None or pair.seed.snapshot != str(session.snapshot.path):
        why = (
            "no snapshot was taken before this session began; record with `sv parity:record --on --snapshot`, or "
            "name one with `sv parity:run --snapshot DIR`"
            if session.snapshot is None
            else f"the harness was given no pair for its snapshot {session.snapshot.path}"
        )
        return CaseResult(case_id, "recorded", session.feature, session.source, inconclusive=why)
    pair.start_case(start=session.started)
    translation = Translation(pair.seed.password, pair.seed.remote_url, pair.seed.remotes)
    first = session.exchanges[0][0]
    if session.caller is not None and not (first.method == "POST" and first.path in ("/login", "/register")):
        _mint_session(pair, session)
    exchanges: list[Exchange] = []
    with commit_dates():
        drift = _replay_exchanges(pair, session, translation, exchanges)
        end = pair.state_differences()
    inconclusive = None
    if drift:
        inconclusive = (
            f"legacy answered {len(drift)} of {len(exchanges)} requests otherwise than recorded ({'; '.join(drift[:3])}"
            f"); the state moved under the session after snapshot {session.snapshot.path.name} (other users' "
            "requests, or parts of the snapshot taken at different moments)"
        )
    return CaseResult(
        case_id,
        "recorded",
        session.feature,
        session.source,
        tuple(exchanges),
        end,
        seconds=time.perf_counter() - started,
        inconclusive=inconclusive,
    )


def _replay_exchanges(
    pair: Pair, session: RecordedSession, translation: Translation, exchanges: list[Exchange]
) -> list[str]:
    """Send each recorded request, translated, to both sides (adding each exchange to `exchanges`); returns where
    legacy answered otherwise than recorded."""
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
    return drift


def _same_outcome(recorded: int, replayed: int) -> bool:
    """Whether a replayed status is what the recording answered. A browser's 304 (its cache was fresh) stands for the
    200 a cacheless replay gets; status 0 is a request the browser never completed."""
    return recorded in (0, replayed) or (recorded == 304 and replayed == 200)
