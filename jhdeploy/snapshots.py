"""`invoke backup-now`, `snapshots`, `restore-user`, `backup-check` and `restore --snapshot`: restic
snapshots (BACKUP_SCHEDULE).

The work is hub/jhdeploy_hub/snapshots.py, run in a one-off container of the backup
service (compose/backup.yml), so that it has the same mounts and plan as the
scheduled snapshots. The service records each outcome in state/backup/status.json,
which `invoke status` and `doctor` read here. A whole-stack restore turns the
snapshot into the archive `invoke backup` would have written, and hands that to
`invoke restore`: one set of checks, one change list, one undo.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path

from jhdeploy_hub import schedule

from jhdeploy import backup, changes, database, diskspace, engine, envfile, options, resolve, restore, settings
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

SERVICE = options.SNAPSHOTS.override.services[0]


def stack_for(c, root: Path, doing: str) -> Stack:
    """What runs (else what .env describes), with snapshots on."""
    stack = resolve.for_looking(c, root, doing).stack
    if options.SNAPSHOTS not in stack.addons:
        raise DeployError("Snapshots are off. Set BACKUP_SCHEDULE in .env (a daily time such as 02:30, a cron "
                          "expression, or manual), then `invoke start` (it adds the backup service; users' "
                          "servers keep running).", code=2)
    return stack


def run(c, root: Path, doing: str, args: list[str], stack: Stack | None = None) -> str:
    """`python3 -m jhdeploy_hub.snapshots ARGS` in a one-off backup container; its output shows as it comes,
    and is returned."""
    stack = stack or stack_for(c, root, doing)
    result = engine.compose_run(c, stack, ["-T", "--no-deps", SERVICE, "python3", "-m",
                                           "jhdeploy_hub.snapshots", *args], hide="err")
    if not result.ok:
        said = [line for line in (result.stderr or "").splitlines() if line.startswith("✗")]
        raise DeployError("\n".join(said) or f"✗ {doing} failed:\n{(result.stderr or '').strip()}")
    return result.stdout or ""


def take_now(c, root: Path) -> None:
    """`invoke backup-now`: one snapshot now, unless the disk is below its reserve."""
    stack = stack_for(c, root, "backup-now")
    diskspace.require_reserve(c, stack, "taking a snapshot", "invoke backup-now")
    run(c, root, "backup-now", ["now"], stack)


def restore_stack(c, root: Path, snapshot: str, yes: bool, from_project: str = "") -> None:
    """`invoke restore --snapshot ID`: the snapshot restored aside (verified), written as the archive `invoke
    backup` makes, then restored as one is: the same checks, change list, backup first and undo."""
    stack = stack_for(c, root, "restore --snapshot")
    database.require_stopped(c, stack, f"restore --snapshot {snapshot}")  # before the export, which takes a while
    if changes.dry(c):
        print(f"[dry] would restore snapshot {snapshot} aside, then restore it as `invoke restore` does an archive")
        return
    stack.backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=backup.STAGING, dir=stack.backup_dir))  # 0700, room for the volumes
    volume = f"{stack.project}-snapshot-restore-{secrets.token_hex(4)}"
    engine.run(c, ["docker", "volume", "create", "--label", f"{engine.STACK_LABEL}={stack.project}", volume],
               hide="out")
    try:
        said = run(c, root, "restore --snapshot", ["export", volume, "--snapshot", snapshot], stack)
        taken = re.search(r"snapshot (\w+) taken (\S+)", said)
        archive = archive_of(c, stack, volume, staging, taken.group(2) + "Z" if taken else "")
        restore.run(c, root, str(archive), yes, from_project)
    finally:
        engine.run(c, ["docker", "volume", "rm", "--force", volume], hide="both", echo=False, warn=True)
        shutil.rmtree(staging, ignore_errors=True)


def archive_of(c, stack: Stack, volume: str, staging: Path, taken: str) -> Path:
    """The snapshot in VOLUME (/stack, /users) as the archive and secrets archive `invoke backup` writes."""
    tarball = staging / "snapshot.tar"
    backup.pipe(c, ["docker", "run", "--rm", "--network", "none", "--volume", f"{volume}:/snapshot:ro",
                    "--entrypoint", "tar", stack.images["LOCAL_HUB_IMAGE"], "-C", "/snapshot", "-cf", "-", "."],
                tarball, into=True)
    parts, secret_parts = staging / "archive", staging / "secrets"
    folders = not stack.settings["USER_STORAGE_PATH"]  # volumes; folders come back with `invoke restore-user`
    volumes: dict[str, tarfile.TarFile] = {}
    with tarfile.open(tarball) as snap:
        for info in snap:
            top, _, rest = info.name.removeprefix("./").partition("/")
            if top == "stack" and info.isfile() and rest in (*restore.DATABASE_FILES, *restore.CONFIG_FILES):
                _copy(snap, info, parts / rest)
            elif top == "stack" and info.isfile() and rest.startswith("secrets/"):
                _copy(snap, info, secret_parts / rest.removeprefix("secrets/"))
            elif top == "users" and rest and folders:
                name, _, inside = rest.partition("/")
                if name not in volumes:
                    (parts / "user-volumes").mkdir(parents=True, exist_ok=True)
                    volumes[name] = tarfile.open(parts / "user-volumes" / f"{name}.tar", "w")
                info.name = f"./{inside}" if inside else "."  # as `invoke backup` tars a volume
                volumes[name].addfile(info, snap.extractfile(info) if info.isfile() else None)
    for tar in volumes.values():
        tar.close()
    tarball.unlink()
    if not folders:
        print("  Users' folders under USER_STORAGE_PATH are not part of a whole-stack restore: "
              "`invoke restore-user NAME` brings back each user's.")
    env = _values(parts / "config/.env")
    stamp = taken[:19].replace("-", "").replace(":", "").replace("T", "-")
    archive = staging / f"{stack.project}-snapshot-{stamp}.tar.gz"
    manifest = {"created": taken, "project": stack.project,  # restic's --host: only this stack's snapshots
                "database": options.database_of(env.get("JUPYTERHUB_DB_URL")
                                                or settings.BY_NAME["JUPYTERHUB_DB_URL"].default).name,
                "user_volumes": sorted(volumes), "secrets_archive": None, "blanked_keys": []}
    if secret_parts.is_dir():
        secrets_archive = archive.with_name(archive.name.replace(".tar.gz", "-secrets.tar.gz"))
        backup.write_verified(backup.files_under(secret_parts), secrets_archive, {"kind": "secrets"})
        manifest["secrets_archive"] = {"name": secrets_archive.name, "sha256": backup.sha256(secrets_archive)}
    backup.write_verified(backup.files_under(parts), archive, manifest)
    return archive


def _values(env_file: Path) -> dict[str, str]:
    """The snapshot's .env as written (a broken one is refused by the restore's checks, naming the line)."""
    try:
        return {entry.key: entry.value for entry in envfile.parse(env_file.read_text(encoding="utf-8"))}
    except (OSError, envfile.EnvFileError):
        return {}


def _copy(tar: tarfile.TarFile, info: tarfile.TarInfo, path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tar.extractfile(info) as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)


def status_lines(stack: Stack, now: datetime.datetime | None = None) -> list[tuple[bool, str]]:
    """(ok, line) about the last snapshots, from state/backup/status.json: a line is not ok when the last
    run failed, or when the last success is older than two scheduled times."""
    if options.SNAPSHOTS not in stack.addons:
        return []
    path = stack.snapshot_state / "status.json"
    try:
        status = json.loads(path.read_text()) if path.exists() else {}
        return _lines(stack, status, now or datetime.datetime.now(datetime.timezone.utc))
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:  # a damaged file
        return [(False, f"Snapshots: {path} cannot be read ({error}); the next snapshot writes it again")]


def _lines(stack: Stack, status: dict, now: datetime.datetime) -> list[tuple[bool, str]]:
    cron = stack.snapshot_plan()["schedule"]
    lines = []
    success = status.get("last_success")
    if success:
        when = datetime.datetime.fromisoformat(success)
        missed = schedule.times_between(cron, when.replace(tzinfo=None), now.replace(tzinfo=None)) if cron else 0
        lines.append((missed < 2, f"Snapshots: the last one is {str(status.get('last_snapshot'))[:8]}, taken {success}"
                      + ("" if missed < 2 else f"; that is older than two scheduled times ({cron} UTC): see "
                         f"`invoke logs --service {SERVICE}`")))
    else:
        lines.append((False, "Snapshots: none taken yet; `invoke backup-now` takes one"))
    failure = status.get("last_failure")
    if failure:
        lines.append((False, f"Snapshots: the last run failed at {failure['at']}: {failure['error']}"))
    return lines
