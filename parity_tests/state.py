"""Identical starting states for both sides of a parity case: a seeded template, reset before every case, and the
resulting state (rows, files, git history) read back for comparison.

Layout of a harness workspace (`root`):

    template/  sovereign.db, data/, remotes/blog.git    built once: migrated, plugins enabled, seeded through the API
    legacy/    the same three, reset from the template before each case
    plugin/    the same three
    link/blog.git                                       a symlink to the serving side's remote

Both sides configure their blog on the one URL of `link/blog.git`, pointed at a side's own remote before each of
its requests: answers and rows that name the remote are then the same on both sides, while each side pushes to
its own copy. Git stamps commits with the environment's dates (legacy passes git the process environment), so a
harness run pins GIT_AUTHOR_DATE and GIT_COMMITTER_DATE (`commit_dates`) and the two sides' commits have the same
hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text

from exthost.evidence.compare import CapturedResponse, Difference, diff_trees
from exthost.evidence.snapshot import copy_sqlite
from parity_tests import postgres
from parity_tests.changes import FolderWatch, WatchUnavailable
from parity_tests.postgres import PostgresDatabases

SIDES = ("legacy", "plugin")
DATABASE = "sovereign.db"
REMOTE = Path("remotes") / "blog.git"
# The template is seeded at T0; every case starts a day later, so seeded sessions are valid and case rows are newer.
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CASE_START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
COMMIT_DATE = "2026-03-02T09:30:00+00:00"
# Tables that are the platform's bookkeeping, not a feature's data (each side writes its own registry stamps).
BOOKKEEPING = ("alembic_version", "exthost_alembic_version", "sv_")
# Where the blog keeps renames not yet published, inside a working clone's .git (legacy_core/blog/store.py).
RENAMES_FILE = "sovereign-renames.json"


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in the process environment while the block runs, what was there before put back after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def commit_dates(stamp: str = COMMIT_DATE) -> contextlib.AbstractContextManager[None]:
    """Pin git's commit dates for the block (both implementations hand git the process environment), and only local
    transports: a case never reaches a remote outside the machine, whatever a template holds."""
    return environment({"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp, "GIT_ALLOW_PROTOCOL": "file"})


@dataclass(frozen=True)
class Layout:
    """The folders of one harness workspace, and its databases: SQLite files in it, or, with `postgres`, databases
    of its own on a PostgreSQL server."""

    root: Path
    # Signature of each side folder right after it was copied from the template (see `reset`).
    copied: dict[Path, Any] = field(default_factory=dict, compare=False)
    postgres: PostgresDatabases | None = field(default=None, compare=False)

    def database_url(self, name: str) -> str:
        if self.postgres is not None:
            return self.postgres.url(name)
        return f"sqlite:///{self.database(name)}"

    def side(self, name: str) -> Path:
        return self.root / name

    @property
    def template(self) -> Path:
        return self.root / "template"

    @property
    def link(self) -> Path:
        return self.root / "link" / "blog.git"

    @property
    def remote_url(self) -> str:
        return self.link.as_uri()

    def database(self, name: str) -> Path:
        return self.side(name) / DATABASE

    def data(self, name: str) -> Path:
        return self.side(name) / "data"

    def remote(self, name: str) -> Path:
        return self.side(name) / REMOTE

    def point(self, name: str) -> None:
        """Make the shared remote URL lead to `name`'s own remote (an atomic swap of the symlink)."""
        staged = self.link.with_name(".blog.git.next")
        try:
            os.symlink(self.remote(name), staged, target_is_directory=True)
        except FileExistsError:  # left by a run that stopped between the two calls
            staged.unlink()
            os.symlink(self.remote(name), staged, target_is_directory=True)
        except FileNotFoundError:  # the first time: no folder for the link yet
            self.link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(self.remote(name), staged, target_is_directory=True)
        os.replace(staged, self.link)

    @contextlib.contextmanager
    def remote_of(self, name: str) -> Iterator[None]:
        """While the block runs, git (in this process and the processes it starts) reads and writes `name`'s own
        remote wherever it is given the shared remote URL: a `url.<side's remote>.insteadOf` setting in the
        environment, which both blog implementations pass on to each git they run (appending their own settings).
        No file system call: swapping the link for every request of a side cost a metadata write each, slow when
        the disk is busy. The link itself stays where `point` left it, for checks that resolve the path. Process-
        wide while it lasts, like `commit_dates`: the harness runs one request at a time."""
        base = int(os.environ.get("GIT_CONFIG_COUNT", "0") or "0")
        target = self.remote(name)
        rewrites = [
            (f"url.{target.as_uri()}.insteadOf", self.remote_url),
            (f"url.{target}.insteadOf", str(self.link)),
        ]
        values = {"GIT_CONFIG_COUNT": str(base + len(rewrites))}
        for index, (key, value) in enumerate(rewrites, start=base):
            values[f"GIT_CONFIG_KEY_{index}"], values[f"GIT_CONFIG_VALUE_{index}"] = key, value
        with environment(values):
            yield

    def as_shared(self, name: str, answer: CapturedResponse) -> CapturedResponse:
        """`answer` of side `name` with its own remote's path (and file URL) written as the shared one's: git names
        the remote it reached in its messages (a refused push, a missing branch), which the blog hands on; through
        `remote_of` that is the side's own remote, where both sides gave the shared one."""
        pairs = [(str(self.remote(name)), str(self.link)), (self.remote(name).as_uri(), self.remote_url)]
        pairs.sort(key=lambda pair: -len(pair[0]))  # the URL first: it holds the path
        body, headers = answer.body, answer.headers
        for own, shared in pairs:
            if own.encode() in body:
                body = body.replace(own.encode(), shared.encode())
            headers = tuple((key, value.replace(own, shared)) for key, value in headers)
        return replace(answer, body=body, headers=headers)

    def reset(self, name: str) -> bool:
        """Put side `name` back to the template's state: database (SQLite: copied page by page with SQLite's
        backup, so the side's open connections stay usable; PostgreSQL: made from the template the first time,
        then the tables a case changed put back in place, `parity_tests.postgres`), data folder and remote.
        Returns whether a PostgreSQL database was made anew (any connection to an older one was cut: the side's
        pool must be emptied)."""
        side = self.side(name)
        side.mkdir(parents=True, exist_ok=True)
        remade = False
        if self.postgres is None:
            copy_sqlite(self.database("template"), self.database(name))
        else:
            remade = self.postgres.reset(name)
        for folder in (self.data(name), self.remote(name)):
            template = self.template / folder.relative_to(side)
            was = self.copied.get(folder)
            if folder.is_symlink():  # a case put a link in its place: the walk would follow it
                folder.unlink()
                was = None
            if was is not None:
                now = _signature(folder)
                if now == was:
                    continue  # untouched since it was copied: already the template's
                # Only what changed is put back (a read that rewrote git's index costs one file, not the clone),
                # and the result must have the copy's signature again; anything else is copied whole.
                if template.exists() and _put_back(folder, template, was, now) == was:
                    continue
            shutil.rmtree(folder, ignore_errors=True)
            if template.exists():
                shutil.copytree(template, folder, symlinks=True)
            self.copied[folder] = _signature(folder)
        return remade


def _put_back(folder: Path, template: Path, was: Signature, now: Signature) -> Signature | None:
    """Make `folder`, whose entries were `was` right after it was copied from `template` and are `now`, a copy of
    `template` again by removing what was added and copying back what changed or went; the folder's signature
    after, or None when that failed (the caller then copies the whole folder)."""
    before = {path: (size, time) for path, size, time in was}
    after = {path: (size, time) for path, size, time in now}
    prefix = len(str(folder))
    try:
        for path in sorted(set(after) - set(before), reverse=True):  # deepest first
            _remove(path)
        for path, entry in sorted(before.items()):  # parents first
            if after.get(path) == entry:
                continue
            source = str(template) + path[prefix:]
            if entry == FOLDER:
                # Never through a link: one a case put where a folder was could lead into the template itself.
                if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
                    os.unlink(path)
                os.makedirs(path, exist_ok=True)
                continue
            _remove(path)
            shutil.copy2(source, path, follow_symlinks=False)
    except OSError:
        return None
    return _signature(folder)


def _remove(path: str) -> None:
    """Whatever is at `path`: a folder with its content, a file or a link (never what a link leads to)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


# --- reading the resulting state ---


def _unsalted(value: Any) -> Any:
    """Password hashes carry a random salt by design: two equal registrations store different hashes."""
    value = postgres.plain(value)
    if isinstance(value, str) and value.startswith("$argon2"):
        return "<argon2 hash>"
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest(), "length": len(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def stored_rows(engine: Engine) -> dict[str, dict[str, dict[str, Any]]]:
    """Every row of every feature and core table, by table and primary key (joined with '|'), as column maps."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    with engine.connect() as connection:
        inspector = inspect(connection)
        for table in sorted(inspector.get_table_names()):
            if table.startswith(BOOKKEEPING):
                continue
            keys = inspector.get_pk_constraint(table).get("constrained_columns") or []
            result = connection.execute(text(f'SELECT * FROM "{table}"'))
            rows[table] = _by_key(list(result.keys()), result.all(), keys)
    return rows


def _by_key(columns: list[str], found: Iterable[Sequence[Any]], keys: list[str]) -> dict[str, dict[str, Any]]:
    """A table's rows as column maps by primary key (its values joined with '|'; the row's place without one)."""
    by_key: dict[str, dict[str, Any]] = {}
    for index, row in enumerate(found):
        values = {column: _unsalted(value) for column, value in zip(columns, row, strict=True)}
        key = "|".join(str(values[column]) for column in keys) if keys else f"#{index}"
        by_key[key] = values
    return by_key


# The table names SQLAlchemy's SQLite inspector lists (`stored_rows`): no `sqlite_` table of SQLite's own.
_TABLES = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name"


def sqlite_tables(connection: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    """Every feature and core table of a SQLite database with its primary key columns in key order, as
    `stored_rows` finds them through SQLAlchemy's inspector."""
    tables = []
    for (table,) in connection.execute(_TABLES).fetchall():
        if table.startswith(BOOKKEEPING):
            continue
        columns = connection.execute(f'PRAGMA main.table_xinfo("{table}")').fetchall()
        # (cid, name, type, notnull, default, pk, hidden): pk is the column's place in the key, 0 when not in it.
        keys = [column[1] for column in sorted((column for column in columns if column[5] > 0), key=lambda c: c[5])]
        tables.append((table, keys))
    return sorted(tables)


def sqlite_rows(
    connection: sqlite3.Connection, tables: list[tuple[str, list[str]]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """`stored_rows` read with the sqlite3 module, for `tables` (`sqlite_tables`): the same values (SQLAlchemy
    hands a textual SELECT's values over from sqlite3 as they are), without building statements or reflecting."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for table, keys in tables:
        cursor = connection.execute(f'SELECT * FROM "{table}"')
        rows[table] = _by_key([column[0] for column in cursor.description], cursor.fetchall(), keys)
    return rows


def stored_files(root: Path) -> dict[str, str]:
    """Every file under `root` by relative path, as a SHA-256 digest (git's internals summarised elsewhere): no
    `.git` folder is entered, and symlinked folders are not followed."""
    files: dict[str, str] = {}
    for folder, folders, names in os.walk(root):
        folders[:] = [name for name in folders if name != ".git"]
        for name in names:
            path = os.path.join(folder, name)
            if name != ".git" and os.path.isfile(path):
                with open(path, "rb") as stream:
                    digest = hashlib.file_digest(stream, "sha256").hexdigest()
                files[Path(os.path.relpath(path, root)).as_posix()] = digest
    return dict(sorted(files.items(), key=lambda item: item[0].split("/")))  # in path order, folder by folder


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60, env=_plain_git_env()
    )
    return result.stdout if result.returncode == 0 else f"<git {' '.join(args[:2])} failed: {result.stderr.strip()}>"


def _plain_git_env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"}


# The fields of a commit, in the order `git log` prints them (unit separators between fields, NUL between commits).
COMMIT_FIELDS = ("hash", "tree", "parents", "author", "authorDate", "committer", "committerDate", "message")
_COMMIT_FORMAT = "%x1f".join(("%H", "%T", "%P", "%an <%ae>", "%ad", "%cn <%ce>", "%cd", "%B")) + "%x00"


def git_history(repository: Path) -> list[dict[str, str]]:
    """Every commit on every branch, field by field (`COMMIT_FIELDS`), oldest first: a new commit does not shift the
    place of those before it, so a difference keeps its pointer, and it names the field that differs
    (`/state/remote/3/message`), not only the hash that follows from it."""
    if not repository.exists():
        return []
    if not (repository / "HEAD").exists():
        # A template made from a snapshot keeps every captured remote in this folder (seed.template_from_snapshot):
        # each one's commits, named by the remote.
        return [
            {"remote": mirror.name, **commit}
            for mirror in sorted(repository.glob("*.git"))
            if (mirror / "HEAD").exists()
            for commit in git_history(mirror)
        ]
    log = _git("log", "--all", "--reverse", "--date=raw", f"--format={_COMMIT_FORMAT}", cwd=repository)
    commits = []
    for entry in log.split("\x00"):
        if entry.strip():
            values = entry.lstrip("\n").split("\x1f")
            commit = dict(zip(COMMIT_FIELDS, values, strict=False))
            commit["message"] = commit.get("message", "").strip()
            commits.append(commit)
    return commits


def git_state(blog_root: Path, remote: Path) -> dict[str, Any]:
    """What a state read holds of git: the blog clones under `blog_root` and the history of `remote`."""
    return {"clones": clone_states(blog_root), "remote": git_history(remote)}


def clone_states(blog_root: Path) -> dict[str, Any]:
    """Per blog working clone: its refs (by name), HEAD, status (by path) and the rename map the blog keeps in
    `.git/sovereign-renames.json` (what `stored_files` leaves out)."""
    states: dict[str, Any] = {}
    if not blog_root.exists():
        return states
    for project in sorted(path for path in blog_root.iterdir() if path.is_dir()):
        clone = project / "repo"
        if not (clone / ".git").is_dir():
            continue
        refs = _git("for-each-ref", "--format=%(refname) %(objectname)", cwd=clone).splitlines()
        status = _git("--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=all", cwd=clone)
        renames = clone / ".git" / RENAMES_FILE
        try:
            rename_map = json.loads(renames.read_text(encoding="utf-8")) if renames.exists() else {}
        except ValueError:
            rename_map = {"<unreadable>": renames.read_text(encoding="utf-8", errors="replace")}
        states[project.name] = {
            "refs": dict(line.split(" ", 1) for line in refs if " " in line),
            "head": _git("rev-parse", "HEAD", cwd=clone).strip(),
            "status": {line[3:]: line[:2] for line in status.splitlines() if len(line) > 3},
            "renames": rename_map,
        }
    return states


# Git's index caches file stats and git rewrites it while only reading (`git status`, which the blog runs to list
# posts): left out of the change check of reads, or every blog read would look like a write.
_GIT_INDEX = os.sep + os.path.join(".git", "index")


Signature = tuple[tuple[str, int, int], ...]
# How a signature records a folder (no file has a negative size): an empty file from the epoch is not one.
FOLDER = (-1, -1)


def _signature(*roots: Path, volatile: bool = True) -> Signature:
    """Path, size and modification time of every file under `roots`, and the path of every folder (a changed,
    added or removed file changes it): git's answers, and a side's files, change only when this does. A folder's
    own time is left out: it moves when a file comes and goes, even one gone again (git's lock files), and files
    that stay show by path. Without `volatile`, git's index is left out too."""
    found: list[tuple[str, int, int]] = []
    pending = [str(root) for root in roots]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                if not volatile and entry.path.endswith(_GIT_INDEX):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    found.append((entry.path, *FOLDER))
                    pending.append(entry.path)
                    continue
                stat = entry.stat(follow_symlinks=False)
                found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    found.sort()
    return tuple(found)


def _is_git_index(folder: str, name: str) -> bool:
    """Git's index and its lock file, which `git status` rewrites while only reading (see `_GIT_INDEX`)."""
    return name in ("index", "index.lock") and os.path.basename(folder) == ".git"


@dataclass
class StateReader:
    """Reads one side's resulting state: rows, the data folder's files, the blog clones and the remote's history.

    `changed()` tells cheaply whether anything may differ from the last `read()`: SQLite's data_version (which moves
    whenever another connection commits) and whether a file under the data folder or the remote was written since.
    On Linux the kernel says so (`parity_tests.changes.FolderWatch`, one non-blocking read); elsewhere, or when
    inotify has no watch left, the size and time of every file there are compared. The git parts (a few
    subprocesses) are read again only when something under the blog folder or the remote changed. Rows are read with
    the sqlite3 module, the table list and primary keys looked up again only when the schema changes.
    """

    engine: Engine
    database: Path
    data_dir: Path
    blog_root: Path
    remote: Path
    # Use inotify where it works (tests turn it off to check the walk that stands in for it).
    inotify: bool = True
    _git_seen: tuple[Any, dict[str, Any]] | None = None
    _version: tuple[Any, ...] | None = None
    _watch: sqlite3.Connection | None = None
    _folders: FolderWatch | None = None
    _opened: bool = False
    _tables: tuple[int, list[tuple[str, list[str]]]] | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._watch is None:
            self._watch = sqlite3.connect(self.database, check_same_thread=False)
        return self._watch

    def _folder_watch(self) -> FolderWatch | None:
        if not self._opened:
            self._opened = True
            if self.inotify:
                self._folders = FolderWatch.open((self.data_dir, self.remote), _is_git_index)
        return self._folders

    def version(self) -> tuple[Any, ...]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as server:
                data_version = postgres.version(server)
        else:
            (data_version,) = self._connection().execute("PRAGMA data_version").fetchone()
        if self._folder_watch() is not None:
            return (data_version,)
        return data_version, _signature(self.data_dir, self.remote, volatile=False)

    def _lose_watch(self) -> None:
        """inotify failed on the way (no watch left for a new folder): walk the folders from now on, and read
        everything again, since what happened while the watch failed is unknown."""
        if self._folders is not None:
            with contextlib.suppress(OSError):
                self._folders.close()
        self._folders, self._version, self._git_seen = None, None, None

    def changed(self) -> bool:
        """Whether the stored state may have changed since the last `read()`."""
        if self._version is None or self.version() != self._version:
            return True
        try:
            return self._folders is not None and self._folders.changed()
        except WatchUnavailable:
            self._lose_watch()
            return True

    def read(self) -> dict[str, Any]:
        self._version = self.version()
        folders = self._folders
        if folders is not None:
            try:
                git_changed = self._git_seen is None or folders.changed((self.blog_root, self.remote), volatile=True)
            except WatchUnavailable:
                self._lose_watch()
                return self.read()
            signature: Any = None
        else:
            signature = _signature(self.blog_root, self.remote)
            git_changed = self._git_seen is None or self._git_seen[0] != signature
        if git_changed:
            self._git_seen = (signature, self.git_state())
        assert self._git_seen is not None
        state = {"rows": self._rows(), "files": stored_files(self.data_dir), **self._git_seen[1]}
        if folders is not None:
            try:
                folders.mark()  # after reading: what the reading itself touched (git's own files) is no change
            except WatchUnavailable:
                self._lose_watch()
        return state

    def git_state(self) -> dict[str, Any]:
        """The git part of `read()`: the blog clones and the remote's history."""
        return git_state(self.blog_root, self.remote)

    def restored(self, template_git: Mapping[str, Any]) -> None:
        """The side's folders were just put back to the template's (`Layout.reset`): its git state is the template's
        (`template_git`, read once from the template's own folders), so the next `read()` runs git again only if a
        request touches the clones or the remote. The copy's own writes are no change."""
        folders = self._folder_watch()
        if folders is not None:
            try:
                folders.mark()
            except WatchUnavailable:
                self._lose_watch()
                return
            signature: Any = None
        else:
            signature = _signature(self.blog_root, self.remote)
        self._git_seen = (signature, dict(template_git))
        self._version = None  # the rows and files are read again in any case

    def _rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        if self.engine.dialect.name == "postgresql":
            rows: dict[str, dict[str, dict[str, Any]]] = {}
            with self.engine.connect() as server:
                # The harness's change counter is an sv_ table: bookkeeping, like the platform's.
                for table, keys in postgres.tables(server):
                    if not table.startswith(BOOKKEEPING):
                        result = server.execute(text(f'SELECT * FROM "{table}"'))
                        rows[table] = _by_key(list(result.keys()), result.all(), keys)
            return rows
        if self.engine.dialect.name != "sqlite":
            return stored_rows(self.engine)
        connection = self._connection()
        (schema,) = connection.execute("PRAGMA schema_version").fetchone()
        if self._tables is None or self._tables[0] != schema:
            self._tables = (schema, sqlite_tables(connection))
        return sqlite_rows(connection, self._tables[1])

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._folders is not None:
            self._folders.close()
            self._folders = None


def state_differences(legacy: Mapping[str, Any], plugin: Mapping[str, Any]) -> tuple[Difference, ...]:
    """Every difference between two sides' states, as JSON pointers under /state (e.g. /state/rows/t/key/col)."""
    return diff_trees(json.loads(json.dumps(legacy)), json.loads(json.dumps(plugin)), "/state")
