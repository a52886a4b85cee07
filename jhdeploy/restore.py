"""`invoke restore`: check everything first, say what will change, back up what is there, then restore exactly.

Nothing is written before the whole archive has been checked: its checksums, its
manifest, that it holds every file it lists and no other kind, its .env (by the
rules `invoke start` applies), every volume name (this stack's own only) and every
secret's name (secrets come only from the secrets archive). An archive of another
project is restored under this stack's name, and the change list says so. The
automatic backup of the current state comes next, so that one `invoke restore`
undoes a wrong one. User volumes are emptied and refilled by jhdeploy_hub.volumes
(no setuid bits, no devices, the notebook user's ownership); PostgreSQL restores in
one transaction. No string from the archive reaches a shell.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jhdeploy_hub import contract

from jhdeploy import backup, changes, database, engine, envfile, options, resolve, secretfiles
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
    volumes: dict[str, str]  # each archived user volume -> the volume it is restored into


def run(c, root: Path, archive: str, yes: bool, from_project: str = "") -> None:
    """`invoke restore ARCHIVE`: check it whole, say what it replaces, ask, back up what is there, restore."""
    path = Path(archive).resolve()
    if not path.is_file():
        raise DeployError(f"No archive at {archive}.", code=2)
    current = resolve.for_change(c, root)
    content = staging_for(path)
    try:
        checked = plan(current, path, content, from_project)  # a damaged archive is refused even while the hub runs
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


def plan(current: Stack, archive: Path, content: Path, from_project: str = "") -> Plan:
    """Check the whole archive (extracted into `content`); say what a restore would replace.

    An archive of another project is restored under this stack's name, unless `from_project` names it."""
    try:
        manifest = backup.read_verified(archive, into=content)
        backup.check_manifest(archive, manifest, backup.MANIFEST_KEYS)
    except backup.DamagedArchive as error:
        raise refuse(str(error)) from None
    _check_members(archive, manifest)
    secrets = _secret_names(archive, manifest, content)
    env_text, userlist_text = resolve.read_text(content / "config/.env"), resolve.read_text(content / "config/userlist")
    stack = _archived_stack(current, env_text, userlist_text, secrets)
    renamed = ""
    if stack.project != current.project and from_project != stack.project:
        if from_project:
            raise refuse(f"--from-project {from_project}, but the archive is of the project {stack.project!r}")
        renamed = stack.project
        env_text = envfile.set_value(env_text, "COMPOSE_PROJECT_NAME", current.project,
                                     f"restored from the project {renamed} under this stack's name")
        stack = _archived_stack(current, env_text, userlist_text, secrets)
    # Users' and group folders' volumes: each archived prefix -> this stack's.
    prefixes = dict(zip(contract.data_volume_prefixes(renamed or stack.project), stack.data_volume_prefixes,
                        strict=True))
    volumes = {}
    for volume in manifest["user_volumes"]:
        old_prefix = next((prefix for prefix in prefixes if volume.startswith(prefix)), None)
        if not (old_prefix and _VOLUME.match(volume)):
            raise refuse(f"the archive names the volume {volume!r}, which is not a user's or a group folder's "
                         f"volume of {renamed or stack.project} (they start with {' or '.join(prefixes)})")
        volumes[volume] = prefixes[old_prefix] + volume.removeprefix(old_prefix)
    if manifest["database"] != stack.database.name:
        raise refuse(f"the archive holds a {manifest['database']} database, and its .env says "
                     f"{stack.database.name}")
    if renamed:
        (content / "config").mkdir(exist_ok=True)
        (content / "config/.env").write_text(env_text, encoding="utf-8")
    lines = _what_changes(current, stack, manifest, secrets, volumes)
    if renamed:
        lines.insert(0, f"(the archive is of the project {renamed!r}: it is restored under this stack's name "
                        f"{stack.project!r}; `--from-project {renamed}` keeps its names instead)")
    return Plan(archive, manifest, content, stack, lines, volumes)


def _archived_stack(current: Stack, env_text: str, userlist_text: str, secrets: list[str]) -> Stack:
    try:
        return resolve.from_text(current.root, env_text, userlist_text,
                                 sources=("the archived .env", "the archived userlist"), provided=frozenset(secrets))
    except resolve.INVALID as error:
        raise refuse(f"the archived .env or userlist is not valid here:\n{error}") from None


# The files a backup writes into its main archive; secrets come only from the secrets archive.
DATABASE_FILES = ("database/jupyterhub.sqlite", "database/jupyterhub.pgdump")
CONFIG_FILES = ("config/.env", "config/userlist")


def _check_members(archive: Path, manifest: dict) -> None:
    """Every file is one a backup writes, and every listed user volume is there."""
    volumes = {f"user-volumes/{volume}.tar" for volume in manifest["user_volumes"]}
    strange = sorted(set(manifest["files"]) - volumes - set(DATABASE_FILES) - set(CONFIG_FILES))
    if strange:
        raise refuse(f"{archive.name} holds {', '.join(strange)}, which a backup never writes there")
    missing = sorted(volumes - set(manifest["files"]))
    if missing:
        raise refuse(f"{archive.name} lists user volumes it does not hold: {', '.join(missing)}")


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


def _what_changes(current: Stack, stack: Stack, manifest: dict, secrets: list[str],
                  volumes: dict[str, str]) -> list[str]:
    held = any(name in manifest["files"] for name in DATABASE_FILES)
    lines = [f"the {manifest['database']} database of {stack.project} (made {manifest['created']})" if held else
             f"nothing in the {manifest['database']} database: the archive holds none (its hub had never started)"]
    if volumes:
        lines.append(f"{len(volumes)} user volume(s), emptied first: " + ", ".join(volumes.values()))
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
    content, stack = restore_plan.content, restore_plan.stack
    print("Backing up the current state first, so that this restore can be undone ...", flush=True)
    undo, _ = backup.create(c, current, include_user_volumes=bool(restore_plan.volumes))
    try:
        _write(c, stack, restore_plan.volumes, content)
    except OSError as error:
        raise DeployError(f"✗ Restore failed: {error}. What was there before is in {undo}: "
                          f"`invoke restore {undo} --yes` puts it back.") from None
    return undo, time.monotonic() - started


def _write(c, stack: Stack, volumes: dict[str, str], content: Path) -> None:
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
    for archived, volume in volumes.items():
        engine.ensure_volume(c, volume, stack.project)
        backup.pipe(c, ["docker", "run", "--rm", "-i", "--volume", f"{volume}:/volume", "--entrypoint", "python3",
                        stack.images["LOCAL_HUB_IMAGE"], "-m", "jhdeploy_hub.volumes", "restore", "/volume",
                        "--owner", f"{uid}:{gid}"], content / "user-volumes" / f"{archived}.tar", into=False)


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
