"""A plugin's sandbox limits: the manifest's `limits` block with the deployment's PLUGIN_LIMITS overrides on top."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from exthost.errors import ExtHostError
from exthost.manifest import Limits, Manifest


@dataclass(frozen=True)
class SandboxLimits:
    """What one plugin's workers may use (see `exthost.manifest.Limits` for each key's meaning)."""

    deadline_seconds: int
    memory_mb: int
    cpu_seconds: int
    open_files: int
    workers: int
    concurrency: int
    max_requests: int
    fetch_timeout_seconds: int = 10
    fetch_max_bytes: int = 10 * 1024 * 1024

    def as_dict(self) -> dict[str, int]:
        return {
            "deadlineSeconds": self.deadline_seconds,
            "memoryMb": self.memory_mb,
            "cpuSeconds": self.cpu_seconds,
            "openFiles": self.open_files,
            "workers": self.workers,
            "concurrency": self.concurrency,
            "maxRequests": self.max_requests,
            "fetchTimeoutSeconds": self.fetch_timeout_seconds,
            "fetchMaxBytes": self.fetch_max_bytes,
        }


def limits_for(manifest: Manifest, overrides: Mapping[str, Mapping[str, Any]]) -> SandboxLimits:
    """The limits of `manifest`'s plugin: its manifest's, then PLUGIN_LIMITS.<name> (validated alike, lax types so
    that environment strings count as numbers). Raises ExtHostError naming the setting and key on a bad override."""
    override = dict(overrides.get(manifest.name, {}))
    try:
        merged = Limits.model_validate({**manifest.limits.model_dump(), **override}, strict=False)
    except ValidationError as exc:
        problems = "; ".join(
            f"PLUGIN_LIMITS.{manifest.name}.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}, "
            f"got {error.get('input')!r}"
            for error in exc.errors()
        )
        raise ExtHostError(f"{problems}; keys are {', '.join(Limits.model_fields)}") from None
    return SandboxLimits(
        deadline_seconds=merged.deadlineSeconds,
        memory_mb=merged.memoryMb,
        cpu_seconds=merged.cpuSeconds,
        open_files=merged.openFiles,
        workers=merged.workers,
        concurrency=merged.concurrency,
        max_requests=merged.maxRequests,
        fetch_timeout_seconds=merged.fetchTimeoutSeconds,
        fetch_max_bytes=merged.fetchMaxBytes,
    )


def check_overrides(overrides: Mapping[str, Mapping[str, Any]], manifests: Mapping[str, Manifest]) -> None:
    """Every PLUGIN_LIMITS entry must name an installed plugin and valid keys (ExtHostError otherwise)."""
    for name in sorted(overrides):
        manifest = manifests.get(name)
        if manifest is None:
            raise ExtHostError(
                f"PLUGIN_LIMITS.{name}: no plugin {name!r} is installed; installed: {', '.join(sorted(manifests))}"
            )
        limits_for(manifest, overrides)
