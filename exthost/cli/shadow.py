"""`sv shadow:*`: the shadow and canary comparison results kept in the shared database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from exthost.cli.flags import stores
from exthost.cli.output import print_json, print_table, when
from exthost.cli.settings import load_settings, require_database


@click.command("shadow:status")
@click.option("--feature", default=None, help="Only this feature.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def shadow_status_command(feature: str | None, as_json: bool) -> None:
    """Comparison counts per feature, route, method and mode, and the latest mismatches."""
    with stores(load_settings()) as found:
        counts = [c for c in found.results.counts() if feature is None or c["feature"] == feature]
        kept = found.results.mismatches(feature, limit=20)
    if as_json:
        print_json({"counts": counts, "mismatches": kept})
        return
    print_table(
        "shadow and canary results",
        ["feature", "method", "route", "mode", "outcome", "count"],
        [[c["feature"], c["method"], c["route"] or "-", c["mode"], c["outcome"], str(c["count"])] for c in counts],
    )
    print_table(
        "latest kept mismatches (sv shadow:export ID)",
        ["id", "at", "feature", "method", "route", "outcome", "first difference"],
        [
            [
                m["id"],
                when(m["recorded_at"]),
                m["feature"],
                m["method"],
                m["route"],
                m["outcome"],
                _first(m["differences"]),
            ]
            for m in kept
        ],
    )

@click.command("shadow:export")
@click.argument("mismatch_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="HAR file; stdout if unset.")
def shadow_export_command(mismatch_id: str, output: Path | None) -> None:
    """Export a kept mismatch as a HAR 1.2 file that replays its request (secrets already redacted)."""
    from exthost.rollout.results import mismatch_har

    with stores(load_settings()) as found:
        row = found.results.mismatch(mismatch_id)
    if row is None:
        raise click.UsageError(f"no kept mismatch {mismatch_id!r}; `sv shadow:status` lists them")
    text = json.dumps(mismatch_har(row), indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")


def _first(differences: list[dict[str, Any]]) -> str:
    if not differences:
        return "-"
    first = differences[0]
    more = f" (+{len(differences) - 1})" if len(differences) > 1 else ""
    return f"{first['pointer']}: {first['legacy']!r} != {first['plugin']!r}{more}"[:120]


@click.command("shadow:worker")
@click.option("--consumer", default=None, help="This worker's name in the consumer group; host-pid by default.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Samples read at a time.")
def shadow_worker_command(consumer: str | None, batch: int) -> None:
    """Replay shadow samples from the Redis Stream (SHADOW_RUNNER=redis), on any machine that reaches the database.

    Run as many as the load needs, on other machines than the serving ones: they share the stream's consumer group,
    so each sample is replayed once. A sample is acknowledged once its outcome is counted; samples a dead worker
    took are claimed by another after SHADOW_CLAIM_IDLE_SECONDS. SIGTERM or Ctrl+C stops after the current batch.
    """
    import signal

    from exthost.errors import ExtHostError
    from exthost.platform import build_platform_parts
    from exthost.rollout.replayer import preparer, replay_runner
    from exthost.rollout.shadow_redis import ShadowWorker, connect

    settings = load_settings()
    require_database(settings)
    client = connect(settings.REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        raise click.ClickException(f"cannot reach Redis at {settings.REDIS_URL!r} (REDIS_URL): {exc}") from exc
    try:
        host, legacy, results, rules = build_platform_parts(settings, name="shadow-worker", passive=True)
    except ExtHostError as exc:
        raise click.ClickException(str(exc)) from exc
    worker = ShadowWorker(
        client=client,
        stream=settings.SHADOW_STREAM,
        runner=replay_runner(settings, host, results, rules),
        results=results,
        prepare=preparer(host, legacy.app),
        consumer=consumer,
        batch=batch,
        claim_idle_ms=int(settings.SHADOW_CLAIM_IDLE_SECONDS * 1000),
    )

    def stop(signum: int, frame: Any) -> None:
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"shadow worker {worker.consumer}: reading {settings.SHADOW_STREAM!r} at {settings.REDIS_URL}", err=True)
    try:
        worker.run()
    except KeyboardInterrupt:
        pass
    finally:
        results.flush()
        host.shutdown()
        click.echo(f"shadow worker {worker.consumer}: stopped after {worker.replayed} replays", err=True)
