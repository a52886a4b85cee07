"""`invoke restore`: check everything first, say what will change, back up what is there, then restore exactly.

Nothing is written before the whole archive has been checked: its checksums, its
.env (by the rules `invoke start` applies), every volume name (this stack's own
only) and every secret's name. The automatic backup of the current state comes
next, so that one `invoke restore` undoes a wrong one. User volumes are emptied
and refilled by jhdeploy_hub.volumes (no setuid bits, no devices, the notebook
user's ownership); PostgreSQL restores in one transaction. No string from the
archive reaches a shell.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jhdeploy import backup, changes, database, engine, options, resolve, secretfiles
from jhdeploy.errors import DeployError
from jhdeploy.layout import POSTGRES_SERVICE
from jhdeploy.stack import Stack

_VOLUME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass(frozen=True)
class Plan:
    archive: Path
    manifest: dict
    content: Path  # the archive's files, extracted and checked
    stack: Stack  # what the archived .env and userlist mean here
    changes: list[str]  # what will be replaced, for the admin to read before saying yes


def run(c, root: Path, archive: str, yes: bool) -> None:
    """`invoke restore ARCHIVE`: check it whole, say what it replaces, ask, back up what is there, restore."""
    path = Path(archive).resolve()
    if not path.is_file():
        raise DeployError(f"No archive at {archive}.", code=2)
    current = resolve.for_change(c, root)
    content = staging_for(path)
    try:
        checked = plan(current, path, content)  # a damaged archive is refused even while the hub runs
        print(f"{path.name} is whole. Restoring it replaces:\n  " + "\n  ".join(checked.changes))
        database.require_stopped(c, current, f"restore {archive}")
        if changes.dry(c):
            print("[dry] would back up the current state, then restore all of this")
            return
        changes.confirm(c, f"Restore {path.name} over all of this? (The current state is backed up first.)", yes)
        undo, seconds = apply(c, current, checked)
    finally:
        cleanup(content)
    print(f"✓ Restored in {seconds:.0f} s. Start the hub with: invoke start")
    if undo:
        print(f"To undo this restore: invoke restore {undo} --yes")


def refuse(reason: str) -> DeployError:
    return DeployError(f"✗ Refusing to restore: {reason}. Nothing was changed.")


def plan(current: Stack, archive: Path, content: Path) -> Plan:
    """Check the whole archive (extracted into `content`); say what a restore would replace."""
    try:
        manifest = backup.read_verified(archive, into=content)
    except backup.DamagedArchive as error:
        raise refuse(str(error)) from None
    config = content / "config"
    secrets = _secret_names(archive, manifest, content)
    try:
        stack = resolve.from_text(current.root, resolve.read_text(config / ".env"),
                                  resolve.read_text(config / "userlist"),
                                  sources=("the archived .env", "the archived userlist"), provided=frozenset(secrets))
    except resolve.INVALID as error:
        raise refuse(f"the archived .env or userlist is not valid here:\n{error}") from None
    prefix = stack.user_volume_prefix
    for volume in manifest["user_volumes"]:
        if not (volume.startswith(prefix) and _VOLUME.match(volume)):
            raise refuse(f"the archive names the volume {volume!r}, which is not a user volume of {stack.project} "
                         f"(they start with {prefix})")
    if manifest["database"] != stack.database.name:
        raise refuse(f"the archive holds a {manifest['database']} database, and its .env says "
                     f"{stack.database.name}")
    return Plan(archive, manifest, content, stack, _what_changes(current, stack, manifest, secrets))


def _secret_names(archive: Path, manifest: dict, content: Path) -> list[str]:
    if not manifest["secrets_archive"]:
        return []
    try:
        backup.read_verified(archive.with_name(manifest["secrets_archive"]["name"]), into=content / ".secrets")
    except backup.DamagedArchive as error:
        raise refuse(str(error)) from None
    names = sorted(p.name for p in (content / ".secrets").iterdir())
    known = {secret.file for secret in options.SECRETS.values() if secret.archived}
    foreign = [name for name in names if name not in known]
    if foreign:
        raise refuse(f"its secrets archive holds files this project does not use: {', '.join(foreign)}")
    return names


def _what_changes(current: Stack, stack: Stack, manifest: dict, secrets: list[str]) -> list[str]:
    lines = [f"the {manifest['database']} database of {stack.project} (made {manifest['created']})"]
    if manifest["user_volumes"]:
        lines.append(f"{len(manifest['user_volumes'])} user volume(s), emptied first: "
                     + ", ".join(manifest["user_volumes"]))
    before, after = current.settings.raw, stack.settings.raw
    changed = sorted(k for k in after if after[k] != before.get(k))
    if changed:
        lines.append(".env: " + ", ".join(
            f"{k}=********" if k not in stack.settings.public else f"{k}: {before.get(k)!r} -> {after[k]!r}"
            for k in changed))
    added = sorted(stack.users.allowed - current.users.allowed)
    removed = sorted(current.users.allowed - stack.users.allowed)
    if added or removed:
        lines.append("userlist: " + "; ".join(filter(None, (
            f"adds {', '.join(added)}" if added else "", f"removes {', '.join(removed)}" if removed else ""))))
    if secrets:
        lines.append(f"secrets/: {', '.join(secrets)} (values not shown)")
    if manifest.get("blanked_keys"):
        lines.append(f"made with --no-secrets: set {', '.join(manifest['blanked_keys'])} in .env afterwards")
    return lines


def apply(c, current: Stack, restore_plan: Plan) -> tuple[Path | None, float]:
    """Back up the current state, then restore; returns the automatic backup and the seconds it all took."""
    started = time.monotonic()
    manifest, content, stack = restore_plan.manifest, restore_plan.content, restore_plan.stack
    print("Backing up the current state first, so that this restore can be undone ...", flush=True)
    undo, _ = backup.create(c, current, include_user_volumes=bool(manifest["user_volumes"]))
    try:
        _write(c, stack, manifest, content)
    except OSError as error:
        raise DeployError(f"✗ Restore failed: {error}. What was there before is in {undo}: "
                          f"`invoke restore {undo} --yes` puts it back.") from None
    return undo, time.monotonic() - started


def _write(c, stack: Stack, manifest: dict, content: Path) -> None:
    config = content / "config"
    for name, target, mode in ((".env", stack.env_file, 0o600), ("userlist", stack.userlist_file, 0o644)):
        if (config / name).exists():
            changes.apply(c, f"replace {name}", _replace, target, (config / name).read_bytes(), mode)
    if (content / ".secrets").is_dir():
        changes.apply(c, "create secrets/", secretfiles.ensure_dir, stack.secrets_dir)
        for path in sorted((content / ".secrets").iterdir()):
            changes.apply(c, f"replace secrets/{path.name}", _replace, stack.secrets_dir / path.name,
                          path.read_bytes(), 0o600)
    engine.ensure_stack_resources(c, stack)
    _restore_database(c, stack, content / "database")
    uid, gid = stack.settings["NB_UID"], stack.settings["NB_GID"]
    for volume in manifest["user_volumes"]:
        engine.ensure_volume(c, volume, stack.project)
        backup.pipe(c, ["docker", "run", "--rm", "-i", "--volume", f"{volume}:/volume", "--entrypoint", "python3",
                        stack.images["LOCAL_HUB_IMAGE"], "-m", "jhdeploy_hub.volumes", "restore", "/volume",
                        "--owner", f"{uid}:{gid}"], content / "user-volumes" / f"{volume}.tar", into=False)


def _replace(target: Path, data: bytes, mode: int) -> None:
    temporary = target.with_name(f".{target.name}.restoring")
    temporary.unlink(missing_ok=True)
    secretfiles.write_private(temporary, data, mode)
    os.replace(temporary, target)


def _restore_database(c, stack: Stack, dump: Path) -> None:
    s, hub_image = stack.settings, stack.images["LOCAL_HUB_IMAGE"]
    if (dump / "jupyterhub.pgdump").exists():
        backup.ensure_postgres(c, stack)
        # One transaction: a failure leaves the database as it was.
        backup.pipe(c, engine.compose_argv(c, stack, ["exec", "-T", POSTGRES_SERVICE, "pg_restore", "--clean",
                                                      "--if-exists", "--no-owner", "--single-transaction",
                                                      "--username", s["POSTGRES_USER"], "--dbname", s["POSTGRES_DB"]]),
                    dump / "jupyterhub.pgdump", backup.compose_env(c, stack), into=False)
        engine.compose(c, stack, ["stop", POSTGRES_SERVICE], hide="both")
    elif (dump / "jupyterhub.sqlite").exists():
        data = s["DATA_VOLUME_CONTAINER"]
        backup.pipe(c, ["docker", "run", "--rm", "-i", "--volume", f"{s['DATA_VOLUME_HOST']}:{data}", "--entrypoint",
                        "python3", hub_image, "-m", "jhdeploy_hub.volumes", "put-file", f"{data}/jupyterhub.sqlite"],
                    dump / "jupyterhub.sqlite", into=False)


def staging_for(archive: Path) -> Path:
    """A private folder beside the archive (room for its user volumes), removed by the caller."""
    return Path(tempfile.mkdtemp(prefix=".restoring-", dir=archive.parent))


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
