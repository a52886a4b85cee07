"""`invoke upgrade-db` and `invoke migrate-db`: database chores in one-off hub containers.

The work itself is jhdeploy_hub.dbtools, in the hub image: it sees the database
exactly as the hub does. Both back up first.
"""

from __future__ import annotations

from pathlib import Path

from jhdeploy_hub.contract import CONFIG_FILE

from jhdeploy import backup, changes, engine, resolve, state
from jhdeploy.errors import DeployError
from jhdeploy.layout import HUB_SERVICE, POSTGRES_SERVICE
from jhdeploy.stack import Stack


def require_stopped(c, stack: Stack, what: str) -> None:
    if engine.stack_containers(c, stack.project):
        raise DeployError(f"The stack is running. Run `invoke stop` first, then `invoke {what}`.")


def dbtools(c, stack: Stack, *args: str, **kwargs):
    """`python3 -m jhdeploy_hub.dbtools ARGS` in a one-off hub container with this stack's settings."""
    state.write_hub_settings(c, stack)
    return engine.compose_run(c, stack, ["-T", "--entrypoint", "python3", HUB_SERVICE, "-m", "jhdeploy_hub.dbtools",
                                         *args], **kwargs)


def schema_revision(c, stack: Stack) -> str:
    result = dbtools(c, stack, "revision", hide="both", echo=False)
    if not result.ok or not result.stdout.strip():
        stop_postgres(c, stack)
        raise DeployError(f"✗ The hub image could not read the database's schema revision: "
                          f"{result.stderr.strip()[-500:]}")
    return result.stdout.strip().splitlines()[-1]


def backup_first(c, stack: Stack) -> None:
    archive, _ = backup.create(c, stack)
    if archive:
        print(f"✓ Backup first: {archive}")


def stop_postgres(c, stack: Stack) -> None:
    if stack.uses_postgres:
        engine.compose(c, stack, ["stop"], hide="both", echo=False)


def upgrade_task(c, root: Path) -> None:
    """`invoke upgrade-db`."""
    with resolve.changing(c, root, "upgrade-db") as stack:
        upgrade(c, stack)


def migrate_task(c, root: Path, to: str) -> None:
    """`invoke migrate-db --to postgres`: into the PostgreSQL service of this same .env."""
    if to != "postgres":
        raise DeployError(f"--to {to!r}: only postgres is supported.", code=2)
    with resolve.changing(c, root, "migrate-db") as stack:
        migrate_to_postgres(c, stack, target=resolve.with_flags(stack, {"JUPYTERHUB_DB_URL": to}))


def backed_up_while_stopped(c, stack: Stack, task: str, plan: str) -> bool:
    """Refuse while the stack runs, then back up; False on a dry run, which says `plan` instead."""
    require_stopped(c, stack, task)
    backup_first(c, stack)
    if changes.dry(c):
        print(f"[dry] would {plan}")
    return not changes.dry(c)


def upgrade(c, stack: Stack) -> None:
    """Back up, then upgrade the hub database schema to this JupyterHub version."""
    engine.ensure_stack_resources(c, stack)
    if not backed_up_while_stopped(c, stack, "upgrade-db", "run `jupyterhub upgrade-db` in a one-off hub "
                                   "container and report both schema revisions"):
        return
    before = schema_revision(c, stack)
    upgraded = engine.compose_run(c, stack, ["-T", HUB_SERVICE, "jupyterhub", "upgrade-db", "-f", CONFIG_FILE])
    if not upgraded.ok:
        stop_postgres(c, stack)
        raise DeployError(f"✗ `jupyterhub upgrade-db` failed (exit {upgraded.exited}); its output is above. The "
                          "backup above holds the database as it was. Fix the cause, then run `invoke upgrade-db` "
                          "again.")
    after = schema_revision(c, stack)
    stop_postgres(c, stack)
    change = f"{before} -> {after}" if before != after else f"already current ({after}); nothing changed"
    print(f"✓ Schema revision: {change}. Start the hub with: invoke start")


def migrate_to_postgres(c, stack: Stack, target: Stack) -> None:
    """Copy the SQLite hub database of `stack` into the PostgreSQL service of `target`."""
    if stack.database.dump != "sqlite":
        raise DeployError("JUPYTERHUB_DB_URL is not sqlite: there is no SQLite hub database to migrate.", code=2)
    if not backed_up_while_stopped(c, stack, "migrate-db --to postgres", "start the PostgreSQL service and copy "
                                   "every table of the SQLite database into it"):
        return
    engine.ensure_stack_resources(c, target)
    engine.compose(c, target, ["up", "--detach", "--wait", POSTGRES_SERVICE], hide="both")
    result = dbtools(c, target, "migrate-to-postgres", stack.database_url, warn=True)
    stop_postgres(c, target)
    if not result.ok:
        raise DeployError("✗ Migration failed; the SQLite database is unchanged. See the messages above.")
    print("✓ Migrated. Now set JUPYTERHUB_DB_URL=postgres in .env and run `invoke start`. "
          "The SQLite file stays on the data volume, untouched.")
