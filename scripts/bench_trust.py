"""Benchmark: what checking plugin signatures costs at load, measured side by side in one run (not a test).

Copies plugins/papertrail and plugins/blog into a temporary folder, signs them with a fresh key, and times in
interleaved rounds:
  check_folder alone (walk, hash every file, verify the signature), per plugin
  a host start (discover, check, import, register both plugins) under PLUGIN_SIGNATURES=enforce
      vs the same start under PLUGIN_SIGNATURES=off (no check, bytecode caches used as Python does)
and prints the median round as a ratio, since absolute times drift on a shared machine.

    .venv/bin/python scripts/bench_trust.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from exthost.deploy import upgrade_schema  # noqa: E402
from exthost.host import ExtensionHost  # noqa: E402
from exthost.trust import TrustConfig, check_folder, key_id, sign_folder  # noqa: E402
from exthost.trust.keys import public_key_text  # noqa: E402
from legacy_core.app import build_services, create_server  # noqa: E402
from legacy_core.db import make_engine  # noqa: E402
from legacy_core.features import routes  # noqa: E402
from legacy_core.settings import Settings  # noqa: E402

PLUGINS = ("papertrail", "blog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        key = Ed25519PrivateKey.generate()
        public = public_key_text(key.public_key())
        for name in PLUGINS:
            shutil.copytree(
                ROOT / "plugins" / name, root / "plugins" / name, ignore=shutil.ignore_patterns("__pycache__")
            )
            sign_folder(name, root / "plugins" / name, key)
        url = f"sqlite:///{root / 'bench.db'}"
        engine = make_engine(url)
        upgrade_schema(engine, ROOT / "plugins")
        engine.dispose()

        def settings(policy: str) -> Settings:
            return Settings(  # type: ignore[call-arg]
                _env_file=None,
                DATABASE_URL=url,
                DATA_DIR=root / "data",
                PLUGINS_DIR=root / "plugins",
                PLUGIN_ENTRY_POINTS=False,
                PLUGIN_SIGNATURES=policy,
                PLUGIN_TRUSTED_KEYS=[public],
                PLUGIN_ALLOWLIST=[f"{name}@{key_id(public)}" for name in PLUGINS],
                LOG_LEVEL="WARNING",
            )

        base = {policy: settings(policy) for policy in ("off", "enforce")}
        services = {policy: build_services(value, argon2_memory_kib=1024) for policy, value in base.items()}
        legacy_routes = routes(create_server(services=services["off"]).app)

        def start(policy: str) -> float:
            started = time.perf_counter()
            host = ExtensionHost(base[policy], services=services[policy], legacy_routes=legacy_routes, name="bench")
            host.start()
            elapsed = time.perf_counter() - started
            states = {name: host.plugins[name].state for name in PLUGINS}
            assert set(states.values()) == {"registered"}, (policy, states, [host.plugins[n].reason for n in PLUGINS])
            host.shutdown()
            services[policy] = build_services(base[policy], argon2_memory_kib=1024)  # shutdown disposed the engine
            return elapsed

        config = TrustConfig.from_settings(base["enforce"])
        start("off")  # warm: the first import writes __pycache__, as a server's first start would
        checks: dict[str, list[float]] = {name: [] for name in PLUGINS}
        ratios: list[float] = []
        starts: dict[str, list[float]] = {"off": [], "enforce": []}
        for _ in range(args.rounds):
            for name in PLUGINS:
                started = time.perf_counter()
                status = check_folder(name, root / "plugins" / name, config).status
                checks[name].append(time.perf_counter() - started)
                assert status == "valid", status
            off, enforce = start("off"), start("enforce")
            starts["off"].append(off)
            starts["enforce"].append(enforce)
            ratios.append(enforce / off)
        files = {name: len(list((root / "plugins" / name).rglob("*.*"))) for name in PLUGINS}
        for name in PLUGINS:
            print(f"check_folder {name} ({files[name]} files): median {statistics.median(checks[name]) * 1000:.1f} ms")
        print(
            f"host start, 2 plugins: off median {statistics.median(starts['off']) * 1000:.0f} ms, "
            f"enforce median {statistics.median(starts['enforce']) * 1000:.0f} ms"
        )
        print(f"enforce / off, median of {args.rounds} rounds: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
