"""`invoke backup`: one verified archive of everything a hub needs, whole or absent.

Archive (tar.gz, owner-only):
    MANIFEST.json            what is inside, with a sha256 for every file
    database/jupyterhub.sqlite | database/jupyterhub.pgdump
    config/.env, config/userlist
    user-volumes/NAME.tar    with --user-volumes
The secrets go into a second owner-only archive beside it, whose checksum the
manifest records. With --no-secrets there is none, and every secret in the
archived .env is blanked (the manifest lists those keys).

Each archive's name is reserved by creating NAME.partial exclusively; it is written there,
verified, then linked to its name, which never replaces an archive. Dumps are staged
in a private (0700) folder that goes on every way out; secrets are archived
straight from secrets/, never copied. A failure leaves no archive, no .partial
and nothing staged, and says so in one sentence.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from jhdeploy import changes, diskspace, engine, envfile, options, resolve
from jhdeploy.errors import DeployError
from jhdeploy.layout import POSTGRES_SERVICE
from jhdeploy.settings import SECRET_KEYS
from jhdeploy.stack import Stack

FORMAT = 2
MANIFEST = "MANIFEST.json"
PARTIAL = ".partial"
STAGING = ".staging-"
SPARE = 1.1  # room kept beyond the estimate: gzip headers, the manifest, a growing database


class DamagedArchive(Exception):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_archive(files: dict[str, Path], archive: Path, manifest: dict) -> None:
    """Tar and gzip `files` (name in the archive -> path) with a MANIFEST.json, owner-only from the first byte."""
    manifest = {**manifest, "format": FORMAT, "files": {name: sha256(path) for name, path in sorted(files.items())}}
    data = json.dumps(manifest, indent=2).encode()
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
        for name, path in sorted(files.items()):
            tar.add(path, arcname=name, recursive=False)


def archived_secrets(stack: Stack) -> dict[str, Path]:
    """The files under secrets/ whose records say they go into the secrets archive."""
    paths = {secret.file: stack.secret_path(secret.name) for secret in options.SECRETS.values() if secret.archived}
    return {file: path for file, path in paths.items() if path.is_file()}


def files_under(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def read_verified(archive: Path, into: Path | None = None) -> dict:
    """Check every file against the manifest (and extract into `into`); raise DamagedArchive.

    Only regular files are accepted, each under a plain relative name."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise DamagedArchive(f"{archive.name} has no {MANIFEST}")
            manifest = json.load(member)
            found = {}
            for info in tar.getmembers():
                if info.name == MANIFEST:
                    continue
                if not info.isfile() or info.name.startswith("/") or ".." in Path(info.name).parts:
                    raise DamagedArchive(f"{archive.name} holds {info.name!r}, which is not a plain file inside it")
                digest = hashlib.sha256()
                source = tar.extractfile(info)
                target = None
                if into is not None:
                    path = into / info.name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    target = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
                while block := source.read(1 << 20):
                    digest.update(block)
                    if target:
                        target.write(block)
                if target:
                    target.close()
                found[info.name] = digest.hexdigest()
    except (tarfile.TarError, OSError, EOFError, zlib.error, json.JSONDecodeError, KeyError) as error:
        raise DamagedArchive(f"{archive.name} cannot be read ({error})") from None
    check_manifest(archive, manifest, {"files": dict})
    if found != manifest["files"]:
        bad = sorted(set(found.items()) ^ set(manifest["files"].items()))
        raise DamagedArchive(f"{archive.name}: checksums do not match the manifest for {sorted({n for n, _ in bad})}")
    secrets = manifest.get("secrets_archive")
    if secrets and not (isinstance(secrets, dict) and isinstance(secrets.get("sha256"), str)
                        and isinstance(secrets.get("name"), str) and re.fullmatch(r"[\w.-]+", secrets["name"])):
        raise DamagedArchive(f"{archive.name} names its secrets archive as {secrets!r}, not as a backup does")
    if secrets:
        sibling = archive.with_name(secrets["name"])
        if not sibling.exists() or sha256(sibling) != secrets["sha256"]:
            raise DamagedArchive(f"{secrets['name']} is missing or does not match the manifest")
    return manifest


# What the manifest of a main archive holds, and the type of each.
MANIFEST_KEYS = {"files": dict, "created": str, "project": str, "database": str, "user_volumes": list,
                 "secrets_archive": (dict, type(None))}


def check_manifest(archive: Path, manifest, keys: dict) -> None:
    """Raise DamagedArchive, in one sentence, unless `manifest` has a known format and `keys` (name: type)."""
    if not isinstance(manifest, dict) or manifest.get("format") not in (1, FORMAT):
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise DamagedArchive(f"{archive.name} has an unknown format {found!r}")
    for key, kind in keys.items():
        if not isinstance(manifest.get(key), kind):
            raise DamagedArchive(f"{archive.name} has a {MANIFEST} without a valid {key!r}")
    named = [*manifest["files"], *manifest["files"].values(), *manifest.get("user_volumes", []),
             *(manifest.get("secrets_archive") or {}).values()]
    if not all(isinstance(value, str) for value in named):
        raise DamagedArchive(f"{archive.name} has a {MANIFEST} whose names or checksums are not all text")


def blank_secrets(text: str) -> tuple[str, list[str]]:
    """The .env text with every secret-bearing value emptied, and the keys that were blanked."""
    return envfile.blank(text, SECRET_KEYS, "blanked by `invoke backup --no-secrets`")


def _pipe(argv: list[str], path: Path, env: dict | None = None, *, into: bool) -> None:
    """Run a command with a file as its stdout (`into`) or its stdin, binary-safe, and nothing through a shell."""
    with path.open("wb" if into else "rb") as file:
        stream = {"stdout": file} if into else {"stdin": file}
        result = subprocess.run(argv, stderr=subprocess.PIPE, env=env, **stream)
    if result.returncode != 0:
        raise DeployError(f"✗ `{' '.join(argv[:6])} ...` failed: {result.stderr.decode(errors='replace').strip()}")


def pipe(c, argv: list[str], path: Path, env: dict | None = None, *, into: bool) -> None:
    arrow = ">" if into else "<"
    print(f"  {' '.join(argv[:8])}{' ...' if len(argv) > 8 else ''} {arrow} {path.name}", flush=True)
    changes.apply(c, f"run that command {arrow} {path.name}", _pipe, argv, path, env, into=into)


SQLITE_BACKUP = (
    "import os, sqlite3, sys\n"
    "if not os.path.exists(sys.argv[1]): sys.exit(0)\n"  # never started: an empty database section
    "source = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n"
    "copy = sqlite3.connect('/tmp/backup.sqlite')\n"
    "source.backup(copy)\n"  # SQLite's online backup API: consistent while the hub writes
    "copy.close()\n"
    "sys.stdout.buffer.write(open('/tmp/backup.sqlite', 'rb').read())\n"
)


def compose_env(c, stack: Stack) -> dict:
    return {**os.environ, **engine.compose_env(c, stack)}


def ensure_postgres(c, stack: Stack) -> None:
    engine.compose(c, stack, ["up", "--detach", "--wait", POSTGRES_SERVICE], hide="both")


def size_of(text: str) -> float:
    """`docker system df`'s sizes ("147.5kB", "2.1GB") in bytes."""
    match = re.match(r"^([\d.]+)\s*([kMGT]?)B$", text.strip())
    return float(match.group(1)) * 1000 ** " kMGT".index(match.group(2) or " ") if match else 0.0


def needed_bytes(c, stack: Stack, volumes: list[str]) -> float:
    """About what a backup takes: the data volume (or the database's) and the user volumes asked for."""
    listing = engine.probe(c, ["docker", "system", "df", "-v", "--format", "{{json .Volumes}}"])
    sizes = {v["Name"]: size_of(v.get("Size", "")) for v in json.loads(listing.stdout or "[]") or []} \
        if listing.ok else {}
    # Prometheus' volume is not backed up: what it measured can be measured again.
    kept = [name for name in stack.volumes if name != stack.settings["METRICS_VOLUME_HOST"]]
    return sum(sizes.get(name, 0.0) for name in [*kept, *volumes]) * SPARE


def reserve_name(directory: Path, project: str) -> str:
    """PROJECT-backup-STAMP, with -2, -3... when that name is taken, reserved by creating its .partial file
    exclusively: two backups started in the same second never share a name."""
    base = f"{project}-backup-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    for number in itertools.count(1):
        name = base if number == 1 else f"{base}-{number}"
        archive = directory / f"{name}.tar.gz"
        try:
            os.close(os.open(archive.with_name(archive.name + PARTIAL), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        if not archive.exists():  # checked after reserving: a finished backup drops its .partial last
            return name
        archive.with_name(archive.name + PARTIAL).unlink()
    raise AssertionError("unreachable")


def archives_of(directory: Path, project: str) -> list[Path]:
    """This stack's archives (not their secrets siblings), oldest first."""
    return sorted(p for p in directory.glob(f"{project}-backup-*.tar.gz") if not p.name.endswith("-secrets.tar.gz"))


def run(c, root: Path, include_secrets: bool, include_user_volumes: bool, keep: int) -> None:
    """`invoke backup`: what runs (else what .env describes) into the BACKUP_DIR that .env names now."""
    env_stack = resolve.for_change(c, root)
    stack = resolve.running(root) or env_stack
    diskspace.require_reserve(c, env_stack, "backing up", "invoke backup")
    print(f"Backing up {stack.project} into {env_stack.backup_dir}/ ...")
    archive, seconds = create(c, stack, include_secrets=include_secrets, include_user_volumes=include_user_volumes,
                              keep=keep, directory=env_stack.backup_dir)
    if archive:
        print(f"✓ {archive} ({archive.stat().st_size / 1e6:.1f} MB, checksums verified) in {seconds:.0f} s.")
        print(f"Restore it with: invoke restore {archive}")


def create(c, stack: Stack, include_secrets: bool = True, include_user_volumes: bool = False,
           keep: int = 0, directory: Path | None = None) -> tuple[Path | None, float]:
    """Write and verify one backup archive of `stack` (works while the hub runs) into `directory`
    (default: its BACKUP_DIR). Returns the archive and the seconds it took."""
    started = time.monotonic()
    directory = directory or stack.backup_dir
    volumes = engine.user_volumes(c, stack) if include_user_volumes else []
    if changes.dry(c):
        what = f"the {stack.database.name} database, .env, userlist" + (
            f", {len(volumes)} user volume(s)" if volumes else "") + (", secrets/ (a second archive)"
                                                                       if include_secrets else "")
        print(f"[dry] would write {directory}/{stack.project}-backup-STAMP.tar.gz with {what}")
        return None, 0.0
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    needed, free = needed_bytes(c, stack, volumes), shutil.disk_usage(directory).free
    if needed > free:
        raise DeployError(f"✗ Not enough space in {directory}: the backup needs about {needed / 1e6:.0f} MB "
                          f"(the stack's and {len(volumes)} user volume(s)), and {free / 1e6:.0f} MB are free. "
                          "Nothing was written. Free some space or set BACKUP_DIR, then run `invoke backup` again.")
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=directory))  # 0700
    name = reserve_name(directory, stack.project)
    archive = directory / f"{name}.tar.gz"
    secrets_archive = directory / f"{name}-secrets.tar.gz"
    try:
        manifest = _stage(c, stack, staging, volumes, include_secrets)
        if include_secrets and stack.secrets_dir.is_dir():
            write_verified(archived_secrets(stack), secrets_archive, {"kind": "secrets"})
            manifest["secrets_archive"] = {"name": secrets_archive.name, "sha256": sha256(secrets_archive)}
        write_verified(files_under(staging), archive, manifest)
    except (OSError, DamagedArchive, DeployError) as error:
        # Only what this backup made: the reserved name's .partial files and its secrets archive.
        for leftover in (archive.with_name(archive.name + PARTIAL), secrets_archive,
                         secrets_archive.with_name(secrets_archive.name + PARTIAL)):
            leftover.unlink(missing_ok=True)
        reason = error.message if isinstance(error, DeployError) else (
            f"{getattr(error, 'strerror', None) or error}" + (f" ({error.filename})" if getattr(error, "filename", "")
                                                               else ""))
        raise DeployError(f"✗ Backup failed: {reason.removeprefix('✗ ')}. Nothing was kept: no archive, no "
                          f"{PARTIAL} file, no staged copy. Fix the cause, then run `invoke backup` again.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if keep:
        for old in archives_of(directory, stack.project)[:-keep]:
            old.unlink()
            old.with_name(old.name.replace(".tar.gz", "-secrets.tar.gz")).unlink(missing_ok=True)
            print(f"  removed the older {old.name} (--keep {keep})")
    return archive, time.monotonic() - started


def write_verified(files: dict[str, Path], archive: Path, manifest: dict) -> None:
    partial = archive.with_name(archive.name + PARTIAL)
    write_archive(files, partial, manifest)
    read_verified(partial)
    os.link(partial, archive)  # fails rather than replace an archive of the same name
    partial.unlink()


def _stage(c, stack: Stack, staging: Path, volumes: list[str], include_secrets: bool) -> dict:
    """Dump the database and the user volumes, copy .env and userlist; return the manifest so far."""
    (staging / "database").mkdir()
    (staging / "config").mkdir()
    s, hub_image = stack.settings, stack.images["LOCAL_HUB_IMAGE"]
    if stack.database.dump == "pg_dump":
        hub_running = engine.hub_running(c, stack.project)
        ensure_postgres(c, stack)
        pipe(c, engine.compose_argv(c, stack, ["exec", "-T", POSTGRES_SERVICE, "pg_dump", "--format=custom",
                                               "--username", s["POSTGRES_USER"], s["POSTGRES_DB"]]),
             staging / "database/jupyterhub.pgdump", compose_env(c, stack), into=True)
        if not hub_running:  # leave a stopped stack stopped
            engine.compose(c, stack, ["stop", POSTGRES_SERVICE], hide="both")
    elif stack.database.dump == "sqlite" and not engine.probe(c, ["docker", "volume", "inspect",
                                                                    s["DATA_VOLUME_HOST"]]).ok:
        print(f"  No database yet (the volume {s['DATA_VOLUME_HOST']} does not exist).")
    elif stack.database.dump == "sqlite":
        data = s["DATA_VOLUME_CONTAINER"]
        pipe(c, ["docker", "run", "--rm", "--volume", f"{s['DATA_VOLUME_HOST']}:{data}", "--entrypoint", "python3",
                 hub_image, "-c", SQLITE_BACKUP, f"{data}/jupyterhub.sqlite"], staging / "database/jupyterhub.sqlite",
             into=True)
        if not (staging / "database/jupyterhub.sqlite").stat().st_size:
            (staging / "database/jupyterhub.sqlite").unlink()
            print("  No database yet (the hub has never started): the archive holds none.")
    else:
        print("  The database is external (JUPYTERHUB_DB_URL is a URL): back it up with its own tools.")
    blanked: list[str] = []
    if stack.env_file.exists():
        text = stack.env_file.read_text(encoding="utf-8")
        if not include_secrets:
            text, blanked = blank_secrets(text)
        (staging / "config/.env").write_text(text, encoding="utf-8")
    if stack.userlist_file.exists():
        shutil.copy2(stack.userlist_file, staging / "config/userlist")
    if volumes:
        (staging / "user-volumes").mkdir()
    for volume in volumes:
        pipe(c, ["docker", "run", "--rm", "--volume", f"{volume}:/volume:ro", "--entrypoint", "tar", hub_image,
                 "-C", "/volume", "-cf", "-", "."], staging / "user-volumes" / f"{volume}.tar", into=True)
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "project": stack.project,
        "database": stack.database.name,
        "jupyterhub_version": s["JUPYTERHUB_VERSION"],
        "user_volumes": volumes,
        "secrets_archive": None,
        "blanked_keys": blanked,
    }
