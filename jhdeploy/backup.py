"""`invoke backup` and `invoke restore`: one verified archive of everything a hub needs.

Archive (tar.gz, owner-only):
    MANIFEST.json            what is inside, with a sha256 for every file
    database/jupyterhub.sqlite | database/jupyterhub.pgdump
    config/.env, config/userlist
    user-volumes/NAME.tar    with --user-volumes
The secrets go into a second owner-only archive beside it, whose checksum the
manifest records; --no-secrets leaves them out.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from jhdeploy import engine
from jhdeploy.errors import DeployError
from jhdeploy.layout import POSTGRES_SERVICE
from jhdeploy.stack import Stack

FORMAT = 1
MANIFEST = "MANIFEST.json"


class DamagedArchive(Exception):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def write_archive(content: Path, archive: Path, manifest: dict) -> None:
    """Tar and gzip `content` with its MANIFEST.json, owner-only from the first byte."""
    manifest = {**manifest, "format": FORMAT, "files": checksums(content)}
    data = json.dumps(manifest, indent=2).encode()
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in manifest["files"]:
            tar.add(content / name, arcname=name, recursive=False)


def read_verified(archive: Path, into: Path | None = None) -> dict:
    """Check every file against the manifest (and extract into `into`); raise DamagedArchive."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise DamagedArchive(f"{archive.name} has no {MANIFEST}")
            manifest = json.load(member)
            found = {}
            for info in tar.getmembers():
                if info.name == MANIFEST or not info.isfile():
                    continue
                digest = hashlib.sha256()
                source = tar.extractfile(info)
                target = None
                if into is not None:
                    path = into / info.name
                    if not path.resolve().is_relative_to(into.resolve()):
                        raise DamagedArchive(f"{archive.name} names a file outside the archive: {info.name}")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    target = path.open("wb")
                while block := source.read(1 << 20):
                    digest.update(block)
                    if target:
                        target.write(block)
                if target:
                    target.close()
                found[info.name] = digest.hexdigest()
    except (tarfile.TarError, OSError, EOFError, zlib.error, json.JSONDecodeError, KeyError) as error:
        raise DamagedArchive(f"{archive.name} cannot be read ({error})") from None
    if manifest.get("format") != FORMAT:
        raise DamagedArchive(f"{archive.name} has an unknown format {manifest.get('format')!r}")
    if found != manifest["files"]:
        bad = sorted(set(found.items()) ^ set(manifest["files"].items()))
        raise DamagedArchive(f"{archive.name}: checksums do not match the manifest for {sorted({n for n, _ in bad})}")
    secrets = manifest.get("secrets_archive")
    if secrets:
        sibling = archive.with_name(secrets["name"])
        if not sibling.exists() or sha256(sibling) != secrets["sha256"]:
            raise DamagedArchive(f"{secrets['name']} is missing or does not match the manifest")
    return manifest


def stamp(now: datetime.datetime | None = None) -> str:
    return (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")


def _pipe(argv: list[str], path: Path, env: dict | None = None, *, into: bool) -> None:
    """Run a command with a file as its stdout (`into`) or its stdin, binary-safe."""
    shown = f"  {' '.join(argv[:8])}{' ...' if len(argv) > 8 else ''} {'>' if into else '<'} {path.name}"
    print(shown, flush=True)
    with path.open("wb" if into else "rb") as file:
        stream = {"stdout": file} if into else {"stdin": file}
        result = subprocess.run(argv, stderr=subprocess.PIPE, env=env, **stream)
    if result.returncode != 0:
        step = "Backup" if into else "Restore"
        raise DeployError(f"✗ {step} step failed: {result.stderr.decode(errors='replace').strip()}")


def _dump(argv: list[str], path: Path, env: dict | None = None) -> None:
    _pipe(argv, path, env, into=True)


def _load(argv: list[str], path: Path, env: dict | None = None) -> None:
    _pipe(argv, path, env, into=False)


SQLITE_BACKUP = (
    "import sqlite3, sys\n"
    "source = sqlite3.connect('file:{path}?mode=ro', uri=True)\n"
    "copy = sqlite3.connect('/tmp/backup.sqlite')\n"
    "source.backup(copy)\n"  # SQLite's online backup API: consistent while the hub writes
    "copy.close()\n"
    "sys.stdout.buffer.write(open('/tmp/backup.sqlite', 'rb').read())\n"
)


def compose_argv(c, stack: Stack, args: list[str]) -> tuple[list[str], dict]:
    return engine.compose_argv(c, stack, args), {**os.environ, **engine.compose_env(c, stack)}


def ensure_postgres(c, stack: Stack) -> None:
    engine.compose(c, stack, ["up", "--detach", "--wait", POSTGRES_SERVICE], hide="both")


def create(c, stack: Stack, include_secrets: bool = True, include_user_volumes: bool = False) -> tuple[Path, float]:
    """Write and verify one backup archive; works while the hub runs. Returns it and the seconds it took."""
    started = time.monotonic()
    directory = stack.backup_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{stack.project}-backup-{stamp()}"
    archive = directory / f"{name}.tar.gz"
    hub_image = stack.images["LOCAL_HUB_IMAGE"]
    with tempfile.TemporaryDirectory(dir=directory, prefix=".staging-") as staging:
        content = Path(staging)
        (content / "database").mkdir()
        (content / "config").mkdir()
        if stack.database.dump == "pg_dump":
            hub_running = engine.hub_running(c, stack.project)
            ensure_postgres(c, stack)
            s = stack.settings
            argv, env = compose_argv(c, stack, ["exec", "-T", POSTGRES_SERVICE, "pg_dump", "--format=custom",
                                                "--username", s["POSTGRES_USER"], s["POSTGRES_DB"]])
            _dump(argv, content / "database/jupyterhub.pgdump", env)
            if not hub_running:  # leave a stopped stack stopped
                engine.compose(c, stack, ["stop", POSTGRES_SERVICE], hide="both")
        elif stack.database.dump == "sqlite":
            data = stack.settings["DATA_VOLUME_CONTAINER"]
            code = SQLITE_BACKUP.format(path=f"{data}/jupyterhub.sqlite")
            _dump(["docker", "run", "--rm", "--volume", f"{stack.settings['DATA_VOLUME_HOST']}:{data}",
                   "--entrypoint", "python3", hub_image, "-c", code], content / "database/jupyterhub.sqlite")
        else:
            print("  The database is external (JUPYTERHUB_DB_URL is a URL): back it up with its own tools.")
        for source, target in ((stack.env_file, ".env"), (stack.userlist_file, "userlist")):
            if source.exists():
                shutil.copy2(source, content / "config" / target)
        volumes = engine.user_volumes(c, stack) if include_user_volumes else []
        if volumes:
            (content / "user-volumes").mkdir()
        for volume in volumes:
            _dump(["docker", "run", "--rm", "--volume", f"{volume}:/volume:ro", "--entrypoint", "tar",
                   hub_image, "-C", "/volume", "-cf", "-", "."], content / "user-volumes" / f"{volume}.tar")
        manifest = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "project": stack.project,
            "database": stack.database.name,
            "jupyterhub_version": stack.settings["JUPYTERHUB_VERSION"],
            "user_volumes": volumes,
            "secrets_archive": None,
        }
        if include_secrets and stack.secrets_dir.exists():
            secrets_archive = directory / f"{name}-secrets.tar.gz"
            secrets_content = content.parent / f"{content.name}-secrets"
            shutil.copytree(stack.secrets_dir, secrets_content)
            write_archive(secrets_content, secrets_archive, {"kind": "secrets"})
            shutil.rmtree(secrets_content)
            manifest["secrets_archive"] = {"name": secrets_archive.name, "sha256": sha256(secrets_archive)}
        write_archive(content, archive, manifest)
    read_verified(archive)
    return archive, time.monotonic() - started


def check_archive(path: Path) -> dict:
    """The manifest of an intact archive; a one-sentence refusal otherwise."""
    if not path.is_file():
        raise DeployError(f"No archive at {path}.", code=2)
    try:
        return read_verified(path)
    except DamagedArchive as error:
        raise DeployError(f"✗ Refusing to restore: {error}. Nothing was changed.") from None


def describe(path: Path, manifest: dict) -> str:
    """The question `invoke restore` asks before it overwrites anything."""
    what = [".env", "userlist", f"the {manifest['database']} database"]
    what += ["secrets/"] if manifest["secrets_archive"] else []
    what += [f"{len(manifest['user_volumes'])} user volume(s)"] if manifest["user_volumes"] else []
    return f"Restore {path.name} (made {manifest['created']}) over {', '.join(what)}?"


def restore(c, stack: Stack, archive: Path, reload_stack) -> float:
    """Put an archive back into a stopped stack; `reload_stack()` re-reads the restored .env. Returns seconds."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".restore-") as staging:
        content = Path(staging)
        manifest = read_verified(archive, into=content)
        for name, target in ((".env", stack.env_file), ("userlist", stack.userlist_file)):
            if (content / "config" / name).exists():
                shutil.copy2(content / "config" / name, target)
        if manifest["secrets_archive"]:
            secrets_content = content / ".secrets"
            read_verified(archive.with_name(manifest["secrets_archive"]["name"]), into=secrets_content)
            stack.secrets_dir.mkdir(mode=0o700, exist_ok=True)
            for path in secrets_content.iterdir():
                target = stack.secrets_dir / path.name
                target.unlink(missing_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(path.read_bytes())
        stack = reload_stack()
        engine.ensure_stack_resources(c, stack)
        hub_image = stack.images["LOCAL_HUB_IMAGE"]
        dump = content / "database"
        if (dump / "jupyterhub.pgdump").exists():
            ensure_postgres(c, stack)
            s = stack.settings
            argv, env = compose_argv(c, stack, ["exec", "-T", POSTGRES_SERVICE, "pg_restore", "--clean",
                                                "--if-exists", "--no-owner", "--username", s["POSTGRES_USER"],
                                                "--dbname", s["POSTGRES_DB"]])
            _load(argv, dump / "jupyterhub.pgdump", env)
            engine.compose(c, stack, ["stop", POSTGRES_SERVICE], hide="both")
        elif (dump / "jupyterhub.sqlite").exists():
            data = stack.settings["DATA_VOLUME_CONTAINER"]
            _load(["docker", "run", "--rm", "-i", "--volume", f"{stack.settings['DATA_VOLUME_HOST']}:{data}",
                   "--entrypoint", "sh", hub_image, "-c",
                   f"cat > {data}/jupyterhub.sqlite.restoring && rm -f {data}/jupyterhub.sqlite-wal "
                   f"{data}/jupyterhub.sqlite-shm && mv {data}/jupyterhub.sqlite.restoring {data}/jupyterhub.sqlite"],
                  dump / "jupyterhub.sqlite")
        for volume in manifest["user_volumes"]:
            engine.ensure_volume(c, volume, stack.project)
            _load(["docker", "run", "--rm", "-i", "--volume", f"{volume}:/volume", "--entrypoint", "tar",
                   hub_image, "-C", "/volume", "-xf", "-"], content / "user-volumes" / f"{volume}.tar")
    return time.monotonic() - started
