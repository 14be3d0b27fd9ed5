"""The `sv` command line: one click group whose commands live one group a module in this package.

`sv --help` lists every command from the table below without importing any of their modules; a command's module
(and whatever it needs: Flask, SQLAlchemy, the harness) is imported only when that command runs. A test checks that
each summary here is the command's own.
"""

from __future__ import annotations

import importlib

import click

# name -> (module under exthost.cli, attribute, the summary `sv --help` shows)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "db:backup": (
        "backup",
        "db_backup_command",
        "Back up the database (SQLite online backup, or pg_dump) with a checksummed sidecar; keep BACKUP_RETENTION.",
    ),
    "db:restore": (
        "backup",
        "db_restore_command",
        "Replace the database's content with a checked backup; refused while other servers are connected.",
    ),
    "flags:list": (
        "flags",
        "flags_list_command",
        "Each feature's mode (and any route's own), with its share, who set it and when.",
    ),
    "flags:set": (
        "flags",
        "flags_set_command",
        "Set FEATURE to MODE (legacy, shadow, canary, plugin, retired); every worker follows within a second.",
    ),
    "keys:generate": (
        "signing",
        "keys_generate_command",
        "Create an ed25519 signing key; print its public key and key id for PLUGIN_TRUSTED_KEYS and PLUGIN_ALLOWLIST.",
    ),
    "migrate:deploy": (
        "db",
        "migrate_deploy_command",
        "Apply every pending migration: the core schema, the plugin registry, then each valid plugin's own.",
    ),
    "migrate:rollback": (
        "migrations",
        "migrate_rollback_command",
        "Downgrade a plugin's schema (one revision, or --to REV) after a backup; refused while it is enabled.",
    ),
    "migrate:status": (
        "migrations",
        "migrate_status_command",
        "Each schema history (core, registry, every plugin) with its revision, head and pending revisions.",
    ),
    "parity:merge": (
        "parity",
        "parity_merge_command",
        "Merge the reports of `sv parity:run --shard i/n` runs into one report set and one evidence record.",
    ),
    "parity:record": (
        "record",
        "parity_record_command",
        "Record live traffic as HAR 1.2 files (one per client session, secrets redacted) for the parity harness.",
    ),
    "parity:run": (
        "parity",
        "parity_run_command",
        "Replay recorded sessions and generated cases against legacy and plugins; compare answers and state.",
    ),
    "phase:status": (
        "phase",
        "phase_status_command",
        "Each feature's mode, code fingerprint, evidence since its last code change, and the switch gate's verdict.",
    ),
    "plugins:config": (
        "plugins",
        "plugins_config_command",
        "Show a plugin's config for a tenant and where each value comes from; KEY=VALUE or --unset changes the "
        "tenant's own values (checked against the manifest; nothing is stored when any is bad).",
    ),
    "plugins:disable": (
        "plugins",
        "plugins_disable_command",
        "Disable a plugin for a tenant; the legacy routes serve that tenant again.",
    ),
    "plugins:enable": (
        "plugins",
        "plugins_enable_command",
        "Enable a plugin for a tenant (runs its on_enable hook first; a failure changes nothing).",
    ),
    "plugins:info": (
        "plugins",
        "plugins_info_command",
        "Everything the host knows of one plugin, including hook timings, health and its sandbox.",
    ),
    "plugins:list": (
        "plugins",
        "plugins_list_command",
        "Every discovered plugin with its state, version, signature status, mounts, tenants and reason.",
    ),
    "plugins:new": (
        "scaffold",
        "plugins_new_command",
        "Write a working plugin skeleton: manifest, one route, one migration, one test and a README.",
    ),
    "plugins:uninstall": (
        "migrations",
        "plugins_uninstall_command",
        "Drop a plugin's tables (after a backup) and its registry rows; refused while it is enabled for any tenant.",
    ),
    "plugins:schema": (
        "plugins",
        "plugins_schema_command",
        "Print the JSON Schema of plugin.json (point your editor's JSON validation at it).",
    ),
    "plugins:sign": (
        "signing",
        "plugins_sign_command",
        "Sign a plugin: write plugin.sig.json (every file's SHA-256 and an ed25519 signature) into its folder.",
    ),
    "seed": (
        "db",
        "seed_command",
        "Create the demo tenant, user and projects, and the demo blog's git repository (idempotent).",
    ),
    "serve": (
        "serve",
        "serve_command",
        "Serve the platform (legacy routes and enabled plugins) with werkzeug's development server.",
    ),
    "shadow:export": (
        "shadow",
        "shadow_export_command",
        "Export a kept mismatch as a HAR 1.2 file that replays its request (secrets already redacted).",
    ),
    "shadow:worker": (
        "shadow",
        "shadow_worker_command",
        "Replay shadow samples from the Redis Stream (SHADOW_RUNNER=redis), on any machine that reaches the database.",
    ),
    "shadow:status": (
        "shadow",
        "shadow_status_command",
        "Comparison counts per feature, route, method and mode, and the latest mismatches.",
    ),
    "tenants:create": (
        "tenants",
        "tenants_create_command",
        "Create a tenant and run every plugin's tenant steps for it, all in one transaction (a failure creates "
        "nothing); then each plugin's on_tenant_created hook runs.",
    ),
    "tenants:list": (
        "tenants",
        "tenants_list_command",
        "Every tenant: id, name, when it was created, its users and projects, and the plugins enabled for it.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when the command is run or its help is asked for."""

    def __init__(self, *args: object, commands_table: dict[str, tuple[str, str, str]], **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.table = commands_table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.table) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.table:
            return self.commands.get(cmd_name)
        module, attribute, _ = self.table[cmd_name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"exthost.cli.{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.table[name][2]) for name in sorted(self.table)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    commands_table=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """Sovereign: run legacy and plugin code side by side and prove they behave the same."""


__all__ = ["COMMANDS", "LazyGroup", "main"]
