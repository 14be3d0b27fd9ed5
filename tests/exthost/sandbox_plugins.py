"""Hostile test plugins for the sandbox tests: each route misbehaves in one way."""

from __future__ import annotations

from typing import Any

from tests.fixtures.plugins import manifest_for

HOSTILE_CODE = """
import os
import time

from flask import current_app

from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/hostile/ok")
        def ok():
            return {"pid": os.getpid()}

        @ctx.router.get("/api/hostile/raise")
        def boom():
            raise RuntimeError("hostile raise")

        @ctx.router.get("/api/hostile/sleep")
        def sleep():
            time.sleep(600)
            return {"slept": True}

        @ctx.router.get("/api/hostile/exit")
        def exit_now():
            os._exit(1)

        @ctx.router.get("/api/hostile/loop")
        def loop():
            n = 0
            while True:
                n += 1

        @ctx.router.get("/api/hostile/alloc")
        def alloc():
            block = bytearray(2 * 1024 * 1024 * 1024)
            return {"allocated": len(block)}

        @ctx.router.get("/api/hostile/fork")
        def fork():
            pid = os.fork()
            if pid == 0:
                try:
                    with open("/etc/passwd", encoding="utf-8") as f:
                        outcome = "read:" + f.read(20)
                except OSError as exc:
                    outcome = "refused:" + type(exc).__name__
                (ctx.data_dir / "child.txt").write_text(outcome, encoding="utf-8")
                os._exit(0)
            os.waitpid(pid, 0)
            return {"child": (ctx.data_dir / "child.txt").read_text(encoding="utf-8")}

        @ctx.router.get("/api/hostile/passwd")
        def passwd():
            with open("/etc/passwd", encoding="utf-8") as f:
                return {"passwd": f.read()}

        @ctx.router.get("/api/hostile/secret")
        def secret():
            return {
                "config": current_app.config.get("SECRET_KEY"),
                "environ": {k: v for k, v in os.environ.items() if "SECRET" in k or "DATABASE" in k},
                "platform": ctx.platform.get("SECRET_KEY"),
                "settings": ctx.auth._services.settings.SECRET_KEY,
            }

        @ctx.router.get("/api/hostile/other")
        def other():
            found = {}
            for what, path in (
                ("folder", ctx.folder.parent / "hello" / "plugin.py"),
                ("data", ctx.data_dir.parent / "hello" / "note.txt"),
            ):
                try:
                    found[what] = path.read_text(encoding="utf-8")[:40]
                except OSError as exc:
                    found[what] = "refused:" + type(exc).__name__
            return found

        @ctx.router.get("/api/hostile/git")
        def git_version():
            import subprocess

            done = subprocess.run(["git", "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
            return {"code": done.returncode, "out": done.stdout[:11], "err": done.stderr[:80]}

        @ctx.router.get("/api/hostile/own")
        def own():
            (ctx.data_dir / "own.txt").write_text("mine", encoding="utf-8")
            return {"own": (ctx.data_dir / "own.txt").read_text(encoding="utf-8")}
"""


def hostile_manifest(**limits: Any) -> dict[str, Any]:
    return manifest_for(
        "hostile", limits={"deadlineSeconds": 2, "memoryMb": 768, "workers": 2, "concurrency": 4, **limits}
    )


LIMITS_CODE = """
import os
import tempfile

from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/limited/spin")
        def spin():
            n = 0
            while True:
                n += 1

        @ctx.router.get("/api/limited/files")
        def files():
            held = [tempfile.TemporaryFile() for _ in range(200)]
            return {"held": len(held)}

        @ctx.router.get("/api/limited/ok")
        def ok():
            return {"ok": True}
"""

# Imports fine in the host; in a sandboxed worker /etc/passwd is refused, so the import fails there.
UNBOOTABLE_CODE = """
from exthost.sdk import hookimpl

try:
    open("/etc/passwd", encoding="utf-8").close()
except PermissionError as exc:
    raise RuntimeError("cannot start without /etc/passwd") from exc


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.get("/api/unbootable/ok")
        def ok():
            return {"ok": True}
"""

ECHO_CODE = """
from flask import request

from exthost.sdk import hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        @ctx.router.route("/api/echo/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
        def echo(rest):
            return {
                "method": request.method,
                "rest": rest,
                "args": sorted([key, value] for key, values in request.args.lists() for value in values),
                "body": request.get_data().decode("latin-1"),
                "note": request.headers.get("X-Note"),
                "user": ctx.auth.current_user().id if ctx.auth.current_user() else None,
                "root": request.script_root,
                "url": request.url,
            }
"""

# ctx.fetch from a plugin: TARGET is the local test server (declared in its manifest); `localhost` reaches the same
# server but is not declared.
FETCH_CODE = """
import socket
from urllib.parse import urlsplit

from flask import request

from exthost.sdk import FetchDenied, hookimpl


class Plugin:
    @hookimpl
    def register(self, ctx):
        target = ctx.config["TARGET"]
        port = urlsplit(target).port
        undeclared = f"http://localhost:{port}/echo"

        @ctx.router.get("/api/fetcher/declared")
        def declared():
            answer = ctx.fetch("POST", f"{target}/echo", json={"n": 1}, headers={"X-Note": "from the plugin"})
            return {"status": answer.status, "echo": answer.json()}

        @ctx.router.get("/api/fetcher/undeclared")
        def undeclared_host():
            return {"status": ctx.fetch("GET", undeclared).status}

        @ctx.router.get("/api/fetcher/caught")
        def caught():
            try:
                ctx.fetch("GET", undeclared)
            except FetchDenied as denied:
                return {"host": denied.host, "key": denied.key, "message": str(denied)}, 403
            return {"fetched": True}

        @ctx.router.get("/api/fetcher/redirect")
        def redirect():
            return {"status": ctx.fetch("GET", f"{target}/redirect?to={undeclared}").status}

        @ctx.router.get("/api/fetcher/hold")
        def hold():
            return {"body": ctx.fetch("GET", f"{target}/hold").text()}

        @ctx.router.get("/api/fetcher/raw")
        def raw():
            where = request.args.get("port", port)
            try:
                with socket.create_connection(("127.0.0.1", int(where)), timeout=5):
                    return {"raw": "connected"}
            except OSError as exc:
                return {"raw": "refused:" + type(exc).__name__}

        @ctx.router.get("/api/fetcher/datagram")
        def datagram():
            kinds = {"udp": (socket.AF_INET, socket.SOCK_DGRAM, 0), "udp6": (socket.AF_INET6, socket.SOCK_DGRAM, 0),
                     "raw": (socket.AF_INET, socket.SOCK_RAW, 1), "packet": (socket.AF_PACKET, socket.SOCK_RAW, 0),
                     "mptcp": (socket.AF_INET, socket.SOCK_STREAM, 262), "inet-packet": (socket.AF_INET, 10, 768)}
            kind = request.args.get("kind", "udp")
            try:
                if kind == "udp-high-bits":  # the family with bits set above the 32 the kernel reads
                    import ctypes
                    libc = ctypes.CDLL(None, use_errno=True)
                    libc.syscall.restype = ctypes.c_long
                    family = ctypes.c_long(socket.AF_INET | (1 << 32))
                    fd = libc.syscall(ctypes.c_long(41), family, ctypes.c_long(socket.SOCK_DGRAM), ctypes.c_long(0))
                    if fd < 0:
                        raise OSError(ctypes.get_errno(), "socket")
                    sock = socket.socket(fileno=fd)
                else:
                    sock = socket.socket(*kinds[kind])
                with sock:
                    if kind.startswith("udp"):
                        sock.sendto(b"exfiltrated", ("127.0.0.1", int(request.args["port"])))
                        return {"datagram": "sent"}
                    return {"datagram": "opened"}
            except OSError as exc:
                return {"datagram": f"refused:{type(exc).__name__}:{exc.errno}"}

        @ctx.router.get("/api/fetcher/db")
        def db():
            from sqlalchemy import text

            with ctx.db() as session:
                return {"one": session.execute(text("SELECT 1")).scalar_one()}
"""


def fetch_manifest(port: int, **limits: Any) -> dict[str, Any]:
    return manifest_for(
        "fetcher",
        config={"TARGET": {"type": "string", "default": f"http://127.0.0.1:{port}"}},
        access={"fetch": [f"127.0.0.1:{port}"]},
        limits={"deadlineSeconds": 30, "workers": 2, "concurrency": 4, **limits},
    )
