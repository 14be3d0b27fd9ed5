"""PostgreSQL backups with pg_dump's custom format; restore with pg_restore's SQL run by psql in one transaction.

The URL's credentials go to the client tools through their environment (PGPASSWORD and the rest), never on their
command line, where `ps` would show them to every user of the machine.

Restore pipes `pg_restore --clean --if-exists --single-transaction --file=-` into psql, after a BEGIN and a DROP of
every table that exists now but did not at backup time (a plugin installed since): pg_restore's own
`--single-transaction` would leave those tables behind. pg_restore's COMMIT comes last, so a dump that cannot be
read to its end commits nothing, and psql stops at the first error (ON_ERROR_STOP) with nothing committed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from exthost.errors import BackupError

# URL query parameters libpq also reads from the environment.
_QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}
# A restore waits at most this long for a lock another session holds, then fails whole (with --force while
# sessions are connected).
LOCK_TIMEOUT = "30s"


def client_env(url: URL) -> dict[str, str]:
    """The environment for pg_dump, pg_restore and psql to reach the database of `url`.

    The child inherits this process's environment (PATH, locale, any PGSSL* the operator set), as any program it
    starts would; what the URL names overrides it.
    """
    env = dict(os.environ)
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
    }
    for key, value in url.query.items():
        name = _QUERY_ENV.get(key)
        if name is not None:
            values[name] = value if isinstance(value, str) else value[-1]
    env.update({key: value for key, value in values.items() if value})
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed (not on PATH); install the PostgreSQL client tools of the server's major "
            "version or newer (Debian/Ubuntu: apt-get install postgresql-client)"
        )
    return found


def _stderr(data: bytes) -> str:
    shown = data.decode("utf-8", "replace").strip()
    return shown[-2000:] if shown else "no message"


def dump(url: URL, target: Path) -> None:
    """Write a custom-format dump of the database of `url` to the new file `target`."""
    command = [_tool("pg_dump"), "--format=custom", "--no-password", f"--file={target}"]
    result = subprocess.run(command, env=client_env(url), capture_output=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed (exit {result.returncode}): {_stderr(result.stderr)}")


def check_file(path: Path) -> None:
    """Refuse a file pg_restore cannot read the table of contents of."""
    result = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{str(path)!r} is not a dump pg_restore can read: {_stderr(result.stderr)}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def restore(url: URL, backup: Path, drop_tables: Sequence[str]) -> None:
    """Replace the database's content with the dump `backup`, dropping `drop_tables` first, all in one
    transaction: on any failure nothing changes."""
    check_file(backup)
    env = client_env(url)
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + f" -c lock_timeout={LOCK_TIMEOUT}").strip()
    prologue = "BEGIN;\n" + "".join(f"DROP TABLE IF EXISTS {_quoted(t)} CASCADE;\n" for t in drop_tables)
    restore_command = [
        _tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--single-transaction",
        "--file=-",
        str(backup),
    ]
    psql_command = [
        _tool("psql"),
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--set=ON_ERROR_STOP=1",
        f"--dbname={url.database}",
    ]
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        reader = subprocess.Popen(restore_command, stdout=subprocess.PIPE, stderr=restore_err, env=env)
        writer = subprocess.Popen(
            psql_command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env
        )
        assert reader.stdout is not None and writer.stdin is not None
        try:
            writer.stdin.write(prologue.encode())
            shutil.copyfileobj(reader.stdout, writer.stdin)
        except BrokenPipeError:
            pass  # psql stopped at an error; its message and exit status say which
        finally:
            reader.stdout.close()
            reader_status = reader.wait()
            with contextlib.suppress(BrokenPipeError):
                writer.stdin.close()
            writer_status = writer.wait()
        restore_err.seek(0)
        psql_err.seek(0)
        if reader_status != 0:
            raise BackupError(
                f"pg_restore could not read {str(backup)!r} (exit {reader_status}), nothing was committed: "
                f"{_stderr(restore_err.read())}"
            )
        if writer_status != 0:
            raise BackupError(
                f"restoring {str(backup)!r} failed (psql exit {writer_status}), the database keeps its content: "
                f"{_stderr(psql_err.read())}"
            )


def other_sessions(engine: Engine) -> list[str]:
    """Client sessions on the same database other than this one, as "pid user@address (application, state)"."""
    query = text(
        "SELECT pid, usename, client_addr, application_name, state FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
        "ORDER BY pid"
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        f"{pid} {user or '?'}@{address or 'local'} ({application or 'no application name'}, {state or '?'})"
        for pid, user, address, application, state in rows
    ]
