"""The host's plugin pools: one gunicorn per sandboxed plugin, started by the serving process, restarted with backoff
when it dies, and every failure of a plugin's workers counted (here, in the shared database, and in the error
budget)."""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from exthost.access import role_name, role_password
from exthost.fetch import Fetcher
from exthost.sandbox.confine import landlock_abi, network_confinement, seccomp_available
from exthost.sandbox.fetchgate import FetchGate
from exthost.sandbox.limits import SandboxLimits, check_overrides, limits_for
from exthost.sandbox.proxy import PLUGIN_FAULTS, PluginProxy
from exthost.trust.sources import source_imports
from legacy_core.features import feature_set

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from sqlalchemy.engine import Engine

    from exthost.records import PluginRecord
    from legacy_core.settings import Settings

log = logging.getLogger("sovereign.sandbox")

STARTING, RUNNING, BACKOFF, STOPPED = "starting", "running", "backoff", "stopped"
# Settings a worker never gets: the session-signing key (replaced by a random one of its own), other plugins' config
# and, on PostgreSQL, the platform's database credentials (DATABASE_URL names the plugin's own role instead).
START_WAIT_SECONDS = 30.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# What git connects to for a network remote: ssh, http, https and git's own protocol.
GIT_PORTS = [22, 80, 443, 9418]
# Shared events (sv_window_events) are kept this long for `sv plugins:info`.
EVENT_WINDOW_SECONDS = 3600.0


class RemoteHookError(Exception):
    """A sandboxed plugin's hook raised in its worker, or no worker could run it; the message says which."""


class PoolBusy(RemoteHookError):
    """No slot or worker of a sandboxed plugin was free to run its health hook in time."""


def event_name(plugin: str, kind: str) -> str:
    return f"sandbox:{plugin}:{kind}"


class PluginPool:
    """One plugin's gunicorn: its socket, token, limits, process and state."""

    def __init__(self, record: PluginRecord, limits: SandboxLimits, socket_path: Path, spec: dict[str, Any]):
        self.record = record
        self.name = record.name
        self.limits = limits
        self.socket = socket_path
        self.token = secrets.token_urlsafe(24)
        self.events = socket_path.with_suffix(".events")
        self.spec = {
            **spec,
            "token": self.token,
            "socket": str(socket_path),
            "events": str(self.events),
            "bootError": str(Path(spec["dataDir"]) / "tmp" / ".sv-boot-error"),
            "limits": _limits_spec(limits),
        }
        self._events_read = 0
        self._unclaimed: collections.deque[dict[str, Any]] = collections.deque()
        self.process: subprocess.Popen[bytes] | None = None
        self.state = STOPPED
        self.reason: str | None = None
        self.starts = 0
        self.backoff = BACKOFF_FIRST
        self.next_start = 0.0
        self.started_at = 0.0
        self.counts: collections.Counter[str] = collections.Counter()
        self.answered = 0  # requests its workers answered (any status), for diagnostics
        self.last_event: dict[str, Any] | None = None
        self.gate: FetchGate | None = None  # performs the workers' ctx.fetch calls (see exthost.sandbox.fetchgate)
        # Why the last worker that failed to load the plugin failed (the plugin's own error).
        self.boot_error: str | None = None
        self._lock = threading.Lock()

    def read_boot_error(self) -> str | None:
        """What the last worker that could not load the plugin wrote about why (see `worker.PluginServer.load`)."""
        with contextlib.suppress(OSError):
            self.boot_error = Path(self.spec["bootError"]).read_text(encoding="utf-8")[:2000]
        return self.boot_error

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(self.spec["bootError"]).unlink()
        self.events.touch()
        data_dir = Path(self.spec["dataDir"])
        (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(data_dir),
            "TMPDIR": str(data_dir / "tmp"),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and Path(p).is_dir()),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exthost.sandbox.worker"],
            stdin=subprocess.PIPE,
            env=env,
            cwd=str(data_dir),
            start_new_session=True,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(self.spec).encode())
        self.process.stdin.close()
        self.starts += 1
        self.state = STARTING
        self.started_at = time.monotonic()

    def check(self) -> None:
        """Notice a dead gunicorn (restart due: start it again; else wait out the backoff)."""
        with self._lock:
            process = self.process
            if process is not None and process.poll() is not None:
                code = process.returncode
                self.reason = f"its gunicorn exited with status {code}" + (
                    " (a worker failed to boot: see the log)" if code == 3 else ""
                )
                log.error("plugin %s: %s; restarting in %.0f s", self.name, self.reason, self.backoff)
                self.counts["poolExits"] += 1
                if time.monotonic() - self.started_at >= BACKOFF_MAX:
                    self.backoff = BACKOFF_FIRST  # it had been serving a while: not a crash loop
                self.process = None
                self.state = BACKOFF
                self.next_start = time.monotonic() + self.backoff
                self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            if self.process is None and self.state == BACKOFF and time.monotonic() >= self.next_start:
                self.start()

    def ready(self, *, wait: bool) -> bool:
        """Whether a worker answers; while starting, wait for one to have loaded the plugin (START_WAIT_SECONDS).
        A pool not started yet (a passive host's) starts now."""
        if self.state == STOPPED and self.starts == 0:
            with self._lock:
                if self.state == STOPPED and self.starts == 0:
                    self.start()
        self.check()
        if self.state == RUNNING:
            return True
        if self.state != STARTING:
            return False
        deadline = self.started_at + START_WAIT_SECONDS
        while True:
            if _pings(self.socket, self.token):
                self.state = RUNNING
                return True
            exited = self.process is not None and self.process.poll() is not None
            if not wait or time.monotonic() > deadline or exited:
                self.check()
                return False
            time.sleep(0.05)

    def worker_death(self, wait: float) -> str | None:
        """How the next worker death not yet accounted for happened ('deadline': gunicorn killed it past the timeout;
        'exited': anything else), waiting up to `wait` seconds for the arbiter to report it; None if none came."""
        until = time.monotonic() + wait
        while True:
            with self._lock:
                self._read_events()
                if self._unclaimed:
                    return str(self._unclaimed.popleft()["kind"])
            if time.monotonic() >= until:
                return None
            time.sleep(0.05)

    def _read_events(self) -> None:
        try:
            with self.events.open("r", encoding="utf-8") as events:
                events.seek(self._events_read)
                text = events.read()
        except FileNotFoundError:
            return
        complete = text[: text.rfind("\n") + 1]
        self._events_read += len(complete.encode())
        for line in complete.splitlines():
            with contextlib.suppress(ValueError):
                self._unclaimed.append(json.loads(line))
                self.counts[f"worker:{self._unclaimed[-1]['kind']}"] += 1

    def stop(self) -> None:
        with self._lock:
            process, self.process = self.process, None
            self.state = STOPPED
            self.next_start = float("inf")
        if self.gate is not None:
            self.gate.stop()
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def describe(self) -> dict[str, Any]:
        self.check()
        return {
            "isolation": "process",
            "state": self.state,
            "pid": self.process.pid if self.process is not None else None,
            "starts": self.starts,
            "reason": self.reason,
            "bootError": self.boot_error,
            "limits": self.limits.as_dict(),
            "answered": self.answered,
            "fetches": self.gate.calls if self.gate is not None else 0,  # ctx.fetch calls the host performed
            "events": dict(sorted(self.counts.items())),
            "lastEvent": self.last_event,
        }


class Sandbox:
    """The pools of one serving process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        signature_policy: str | None = None,
        charge: Callable[[str, str], None],
        record_event: Callable[[str], None],
        eager: bool = True,
    ):
        """`eager`: start a plugin's pool as soon as the plugin is mounted; else at its first request (the shadow
        child's passive host, which may never replay a sample of some plugin)."""
        self.settings = settings
        # The platform's database, asked which address its server answers on (a worker cannot resolve names).
        self.engine = engine
        # The host's signature policy, which decided what its checks found (the settings' when none is given).
        self.signature_policy = signature_policy
        self.eager = eager
        self.charge = charge
        self.record_event = record_event
        self.trusted = frozenset(settings.PLUGIN_TRUSTED)
        # Unix socket paths are short (108 bytes): a private folder under the system's temporary folder. Those of
        # serving processes killed before they could remove theirs go first.
        sweep_stale_folders(Path(tempfile.gettempdir()))
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        self._owner = claim_folder(self.folder)
        self.pools: dict[str, PluginPool] = {}
        self.proxies: dict[str, PluginProxy] = {}
        self.landlock_abi = landlock_abi()
        self.seccomp = seccomp_available()
        self._lock = threading.Lock()

    def check_settings(self, records: Mapping[str, PluginRecord]) -> None:
        manifests = {name: r.manifest for name, r in records.items() if r.manifest is not None}
        check_overrides(self.settings.PLUGIN_LIMITS, manifests)

    def isolates(self, name: str) -> bool:
        return name not in self.trusted

    def app_for(self, record: PluginRecord) -> WSGIApplication | None:
        """The app serving `record`: its proxy, starting its pool when it has none (or a reload replaced it)."""
        if not self.isolates(record.name):
            return record.app
        with self._lock:
            pool = self.pools.get(record.name)
            if pool is not None and pool.record is record:
                return self.proxies[record.name]
            if pool is not None:
                pool.stop()
            assert record.manifest is not None
            limits = limits_for(record.manifest, self.settings.PLUGIN_LIMITS)
            socket_path = self.folder / f"{record.name}.{len(self.pools)}.sock"
            fetcher = Fetcher(
                record.name,
                record.manifest.access.fetch,
                timeout=limits.fetch_timeout_seconds,
                max_bytes=limits.fetch_max_bytes,
            )
            # Denied and failed fetches count as the pool's events (the plugin's error, if it does not catch one,
            # is counted and charged as any other).
            gate = FetchGate(
                socket_path.with_suffix(".fetch"),
                fetcher,
                limits,
                lambda kind, why: self._event(created, kind, why, {}),
            )
            gate.start()
            pool = created = PluginPool(record, limits, socket_path, {**self._spec(record), **gate.spec()})
            pool.gate = gate
            if self.eager:
                pool.start()
            self.pools[record.name] = pool
            self.proxies[record.name] = PluginProxy(pool, lambda kind, why, env: self._event(pool, kind, why, env))
            return self.proxies[record.name]

    def load(self, record: PluginRecord) -> str | None:
        """Make `record`'s pool (replacing the one of an earlier version) and, in a serving host, wait until a worker
        has imported the plugin and run its `register` hook; None, or why no worker came up. The host itself never
        imports a sandboxed plugin: its module-level code, its hooks and its routes run only in the workers."""
        self.app_for(record)
        if not self.eager:
            return None  # a passive host's pool starts at its first request or hook
        pool = self.pools[record.name]
        if pool.ready(wait=True):
            return None
        reason = pool.reason or f"no worker answered within {START_WAIT_SECONDS:.0f} s"
        boot_error = pool.read_boot_error()
        if boot_error is not None:
            reason = f"{reason}; its worker said: {boot_error}"
        with self._lock:
            if self.pools.get(record.name) is pool:
                del self.pools[record.name]
                del self.proxies[record.name]
        pool.stop()
        return f"its sandbox workers did not start: {reason} (the plugin's import or register hook failed there)"

    def call_hook(self, record: PluginRecord, hook: str, tenant: str | None = None) -> Any:
        """Run one lifecycle hook of a sandboxed plugin in one of its workers; what it returned. A hook takes a slot
        of the plugin's bulkhead like a request. RemoteHookError when it raised, or when no worker ran it (none up,
        or the worker died or passed the deadline meanwhile); PoolBusy for `health` when no slot or no worker was
        free soon enough (`HEALTH_TIMEOUT_SECONDS`: a plugin at its limit is busy, not down)."""
        from exthost.sandbox.proxy import GRACE_SECONDS, UnixHTTPConnection
        from exthost.sandbox.wire import HOOK_PATH

        with self._lock:
            pool = self.pools.get(record.name)
        if pool is None or pool.record is not record:
            if hook == "on_shutdown":
                return None  # never started here: nothing to shut down
            self.app_for(record)
            pool = self.pools[record.name]
        if hook == "on_shutdown" and pool.state != RUNNING:
            return None
        if not pool.ready(wait=True):
            raise RemoteHookError(f"no sandbox worker is up to run it: {pool.reason or 'still starting'}")
        slots = self.proxies[record.name].slots
        health = hook == "health"
        patience = self.settings.HEALTH_TIMEOUT_SECONDS / 2 if health else pool.limits.deadline_seconds + GRACE_SECONDS
        if not slots.acquire(timeout=0 if health else patience):
            busy = f"all {pool.limits.concurrency} of its slots in this process are answering requests"
            raise PoolBusy(busy) if health else RemoteHookError(busy)
        connection = UnixHTTPConnection(str(pool.socket), timeout=patience)
        body = json.dumps({"hook": hook, "tenant": tenant}).encode()
        try:
            connection.request(
                "POST",
                HOOK_PATH,
                body=body,
                headers={"X-Sv-Sandbox-Token": pool.token, "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            raw = response.read()
            answer = json.loads(raw) if response.status == 200 else {"ok": False, "error": raw.decode(errors="replace")}
        except TimeoutError as exc:
            if health:
                raise PoolBusy(f"no worker answered within {patience:.1f} s; they may all be busy") from exc
            raise self._hook_lost(pool, exc) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise self._hook_lost(pool, exc) from exc
        finally:
            connection.close()
            slots.release()
        if not answer.get("ok"):
            raise RemoteHookError(str(answer.get("error")))
        return answer.get("result")

    @staticmethod
    def _hook_lost(pool: PluginPool, exc: BaseException) -> RemoteHookError:
        death = pool.worker_death(wait=2.0)
        if death is not None:
            pool.counts[f"hook:{death}"] += 1
        why = {"deadline": "passed its deadline and was killed", "exited": "died"}.get(death or "", "failed")
        return RemoteHookError(f"the worker running it {why} ({type(exc).__name__}: {exc})")

    def _spec(self, record: PluginRecord) -> dict[str, Any]:
        settings = self.settings
        assert record.context is not None
        data_dir = record.context.data_dir
        feature_dir = record.context.feature_dir
        plain = settings.model_dump(mode="json")
        plain["SECRET_KEY"] = secrets.token_urlsafe(32)
        plain["PLUGIN_CONFIG"] = {record.name: settings.PLUGIN_CONFIG.get(record.name, {})}
        plain["PLUGIN_LIMITS"] = {}
        plain["PLUGIN_TRUSTED"] = []
        plain["REDIS_URL"] = type(settings).model_fields["REDIS_URL"].default  # its password, if any, stays here
        write = [folder for folder in (data_dir, feature_dir) if folder is not None]
        for folder in write:
            # Made now, by the serving process: Landlock grants a folder only if it exists when the worker confines
            # itself, and a worker may not create one outside what it was granted (a new DATA_DIR's feature folder).
            folder.mkdir(parents=True, exist_ok=True)
        feature = record.manifest.sovereign.feature if record.manifest is not None else None
        features = feature_set(settings.EXTRA_FEATURES)
        remote = feature is not None and feature in features and features[feature].remote is not None
        if remote and settings.BLOG_LOCAL_REMOTES_ROOT:
            # A feature with a git remote (the blog) pushes to and pulls from local remotes under this root.
            write.append(settings.BLOG_LOCAL_REMOTES_ROOT)
        database = settings.DATABASE_URL
        role = None
        if not database.startswith("sqlite"):
            # The workers connect as the plugin's own role (exthost.roles), never with the platform's credentials.
            role = getattr(record.context.db, "role", None) or role_name(make_url(database).database or "", record.name)
            plain["DATABASE_URL"] = (
                make_url(database)
                .set(username=role, password=role_password(settings.SECRET_KEY, role))
                .render_as_string(hide_password=False)
            )
        connect = database_ports(database)
        needs_dns: list[str] = []
        if remote and settings.BLOG_NETWORK_REMOTES:
            # ... and runs git against network remotes, on any host: git's own transports' ports, and DNS.
            connect += GIT_PORTS
            needs_dns.append("git's network remotes need DNS")
        if role is not None:
            # A worker may not send UDP, so it cannot ask DNS for the database's name: it gets the address this
            # process's connection reached (libpq's hostaddr; the name stays for TLS). A URL of several hosts, or
            # one whose address this process cannot tell, keeps its names, and its workers keep UDP.
            address = None if self.engine is None else server_address(self.engine)
            plain["DATABASE_URL"], unpinned = with_server_address(plain["DATABASE_URL"], address)
            if unpinned:
                needs_dns.append("the database's host names could not be pinned to an address")
        if database.startswith("sqlite:///"):
            # SQLite: the database file's folder (its journal and WAL files live beside it).
            write.append(Path(database.removeprefix("sqlite:///").split("?", 1)[0]).resolve().parent)
        import exthost
        import legacy_core

        read = [record.folder.resolve(), Path(exthost.__file__).parent, Path(legacy_core.__file__).parent]
        # The workers import the plugin as the host would: from the sources whose signature the host checked, each
        # module's bytes matched again against the signed digests under enforce (a file swapped since, or a planted
        # bytecode cache, never runs in a worker either).
        from_source, signed = source_imports(record.trust, self.signature_policy or settings.plugin_signature_policy)
        return {
            "sourceOnly": from_source,
            "signedFiles": None if signed is None else dict(signed),
            "plugin": record.name,
            "folder": str(record.folder.resolve()),
            "settings": plain,
            "parent": os.getpid(),
            "dataDir": str(data_dir),
            "read": [str(p) for p in read],
            "write": [str(p) for p in write],
            "lockTimeoutMs": settings.SHADOW_LOCK_TIMEOUT_MS,
            "databaseRole": role,
            "connectPorts": sorted(set(connect)),
            "udp": bool(needs_dns),
            "udpWhy": "; ".join(needs_dns),
        }

    def _event(self, pool: PluginPool, kind: str, why: str, environ: WSGIEnvironment) -> None:
        from exthost.rollout.isolation import in_isolated_run
        from legacy_core.app import RESOLVED_USER_KEY

        pool.counts[kind] += 1
        pool.last_event = {"kind": kind, "reason": why, "at": time.time()}
        replay = in_isolated_run()
        log.warning("plugin %s: %s: %s%s", pool.name, kind, why, " (shadow replay)" if replay else "")
        try:
            self.record_event(event_name(pool.name, kind))
        except Exception:
            log.exception("sandbox event of %s not recorded", pool.name)
        if kind in PLUGIN_FAULTS and not replay:
            user = environ.get(RESOLVED_USER_KEY)
            tenant = getattr(user, "tenant_id", None) or self.settings.TENANT_DEFAULT
            self.charge(pool.name, tenant)

    def describe(self, name: str) -> dict[str, Any] | None:
        if not self.isolates(name):
            return {"isolation": "inline", "trusted": True}
        pool = self.pools.get(name)
        info = pool.describe() if pool is not None else {"isolation": "process", "state": "not started"}
        info["files"] = f"landlock ABI {self.landlock_abi}" if self.landlock_abi else "not confined (no Landlock)"
        if pool is not None:
            info["network"] = network_confinement(
                self.landlock_abi, pool.spec["connectPorts"], udp=pool.spec["udpWhy"], seccomp=self.seccomp
            )
        return info

    def stop(self) -> None:
        with self._lock:
            pools = list(self.pools.values())
            self.pools.clear()
            self.proxies.clear()
        for pool in pools:
            pool.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None


FOLDER_PREFIX = "sv-sbx-"
OWNER_FILE = "owner"


def claim_folder(folder: Path) -> int | None:
    """Hold an exclusive lock on `folder`'s owner file for as long as this process lives (the descriptor returned;
    the kernel releases the lock when the process ends, however it ends). The file is locked under another name and
    then renamed, so no sweeper ever sees it unlocked. None where the file system has no locks."""
    import fcntl

    staged = folder / f".{OWNER_FILE}.new"
    descriptor = os.open(staged, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return None
    os.write(descriptor, f"serving process {os.getpid()}\n".encode())
    os.replace(staged, folder / OWNER_FILE)
    return descriptor


def sweep_stale_folders(root: Path) -> list[Path]:
    """Remove the sandbox folders under `root` (sockets and the arbiters' event files) whose serving process is gone:
    one killed without stopping its pools (their arbiters stop by themselves within a second). Gone means its owner
    file's lock is free, which holds across pid namespaces (containers sharing a temporary folder) and whatever pid
    came next. A folder without an owner file (being created, or not ours) or whose lock is held is left. The folders
    removed."""
    import fcntl

    removed = []
    for folder in sorted(root.glob(f"{FOLDER_PREFIX}*")):
        try:
            descriptor = os.open(folder / OWNER_FILE, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue  # held: its serving process runs
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(descriptor)
        if not folder.exists():
            removed.append(folder)
            log.info("removed %s, left by a serving process that is gone", folder)
    return removed


def server_address(engine: Engine) -> str | None:
    """The address `engine`'s connection reached its PostgreSQL server at, as libpq says (the client's side: the
    address a name resolved to here, through NAT, a port mapping or a pooler alike); None over a Unix socket, or
    when the driver cannot say."""
    try:
        with engine.connect() as connection:
            info = getattr(connection.connection.dbapi_connection, "info", None)
            address = getattr(info, "hostaddr", None)
    except Exception:  # the database unreachable, or a libpq before 12 (psycopg's NotSupportedError): not known
        log.warning("the database's address could not be told; sandboxed workers will resolve its name", exc_info=True)
        return None
    return str(address) if address else None


def with_server_address(url: str, address: str | None) -> tuple[str, bool]:
    """`url` (PostgreSQL) with libpq's `hostaddr` set to `address` when its one host is a name (not an address, not
    a Unix socket folder, not already pinned by the operator): the worker connects there without resolving the name.
    Also whether the URL still names a host to resolve (several hosts, or no address known)."""
    parsed = make_url(url)
    hosts = _tcp_hosts(parsed)
    if "hostaddr" in parsed.query or all(_is_address(name) for name, _ in hosts):
        return url, False
    if "host" in parsed.query or address is None:  # psycopg's multi-host form names several
        return url, True
    return parsed.update_query_dict({"hostaddr": address}).render_as_string(hide_password=False), False


def _tcp_hosts(parsed: Any) -> list[tuple[str, int | None]]:
    """The TCP servers a database URL names, with their ports when given: its host, or psycopg's multi-host form
    (?host=a:5432&host=b:5433); Unix socket folders are left out."""
    if parsed.host:
        hosts = [(str(parsed.host), parsed.port)]
    else:
        listed = parsed.query.get("host", ())
        hosts = []
        for entry in [listed] if isinstance(listed, str) else list(listed):
            name, _, port = entry.rpartition(":") if not entry.startswith("/") and ":" in entry else (entry, "", "")
            hosts.append((name, int(port) if port.isdigit() else parsed.port))
    return [(name, port) for name, port in hosts if name and not name.startswith("/")]


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def database_ports(url: str) -> list[int]:
    """The TCP ports a worker connects to: the database's, when DATABASE_URL names a TCP server (none for SQLite or
    a Unix socket). The worker needs no other: Redis is the host's, and ctx.fetch goes through the host."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return []
    default = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(parsed.get_backend_name())
    ports = {port or default for _, port in _tcp_hosts(parsed)}
    return sorted(port for port in ports if port)


def _limits_spec(limits: SandboxLimits) -> dict[str, int]:
    from dataclasses import asdict

    return asdict(limits)


def _pings(path: Path, token: str) -> bool:
    from exthost.sandbox.proxy import UnixHTTPConnection
    from exthost.sandbox.wire import PING_PATH

    connection = UnixHTTPConnection(str(path), timeout=START_WAIT_SECONDS)
    try:
        connection.request("GET", PING_PATH, headers={"X-Sv-Sandbox-Token": token})
        return connection.getresponse().status == 200
    except OSError:
        return False
    except Exception:
        return False
    finally:
        connection.close()


def attach_sandbox(host: Any) -> Sandbox:
    """Give a host (before it starts) the pools its plugins' requests go through (PLUGIN_ISOLATION=process)."""
    sandbox = Sandbox(
        host.settings,
        engine=host.services.engine,
        signature_policy=host.trust.policy,
        charge=host.charge_error,
        record_event=lambda name: host.windows.hit(name, 10**9, EVENT_WINDOW_SECONDS),
        eager=not host.passive,
    )
    host.sandbox = sandbox
    return sandbox


def shared_report(host: Any, record: PluginRecord) -> dict[str, Any]:
    """What `sv plugins:info` shows of a plugin's sandbox from outside the serving processes: where its requests
    run when served, its limits, and the failures every serving process recorded in the last hour, by kind."""
    from sqlalchemy import func, select

    from exthost.counters import window_events

    settings = host.settings
    isolation = (
        "inline" if settings.PLUGIN_ISOLATION == "inline" or record.name in settings.PLUGIN_TRUSTED else "process"
    )
    report: dict[str, Any] = {"isolation": isolation}
    if record.manifest is not None:
        try:
            report["limits"] = limits_for(record.manifest, settings.PLUGIN_LIMITS).as_dict()
        except Exception as exc:
            report["limits"] = f"invalid: {exc}"
    prefix = event_name(record.name, "")
    since = time.time() - EVENT_WINDOW_SECONDS
    from datetime import UTC, datetime

    with host.services.session_factory() as db:
        rows = db.execute(
            select(window_events.c.name, func.count(), func.max(window_events.c.at))
            .where(window_events.c.name.startswith(prefix), window_events.c.at >= datetime.fromtimestamp(since, UTC))
            .group_by(window_events.c.name)
        ).all()
    report["lastHour"] = {name.removeprefix(prefix): int(count) for name, count, _ in sorted(rows)}
    latest = max(rows, key=lambda row: row[2], default=None)
    report["lastEvent"] = None if latest is None else {"kind": latest[0].removeprefix(prefix), "at": str(latest[2])}
    return report
