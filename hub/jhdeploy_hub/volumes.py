"""Restore data into a volume exactly, in a one-off hub container (`invoke restore`).

    python3 -m jhdeploy_hub.volumes restore DIR --owner UID:GID   < archive.tar
    python3 -m jhdeploy_hub.volumes put-file PATH                 < file

`restore` empties DIR, then extracts only directories, regular files and symlinks
that stay inside it, without setuid, setgid or sticky bits, owned by UID:GID.
Devices, fifos, hard links and anything that would land outside DIR are skipped
and named. `put-file` replaces one file atomically, and its SQLite journals.
Paths and names arrive as arguments, never through a shell.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path

SAFE_MODE = 0o777  # no setuid, setgid or sticky bit survives a restore


def empty(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def inside(directory: Path, name: str) -> Path | None:
    target = (directory / name).resolve(strict=False)
    root = directory.resolve()
    return target if target == root or root in target.parents else None


def restore(directory: Path, stream, uid: int, gid: int) -> list[str]:
    """Empty `directory` and extract the tar `stream` into it; returns the members it refused."""
    empty(directory)
    refused = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            target = inside(directory, member.name)
            if target is None or not (member.isdir() or member.isfile() or member.issym()):
                refused.append(member.name)
                continue
            if member.issym():
                link = inside(target.parent, member.linkname) if not os.path.isabs(member.linkname) else None
                if link is None:
                    refused.append(member.name)
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if member.isdir():
                target.mkdir(exist_ok=True)
            elif member.issym():
                target.symlink_to(member.linkname)
            else:
                with target.open("wb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out)
            if not member.issym():
                os.chmod(target, member.mode & SAFE_MODE)
            os.lchown(target, uid, gid)
    os.chown(directory, uid, gid)
    return refused


def put_file(path: Path, stream) -> None:
    """Replace `path` with the bytes of `stream`, atomically; drop SQLite's journals of the old file."""
    staging = path.with_name(path.name + ".restoring")
    with staging.open("wb") as out:
        shutil.copyfileobj(stream, out)
    for journal in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        journal.unlink(missing_ok=True)
    os.replace(staging, path)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "restore" and argv[2] == "--owner":
        uid, gid = (int(part) for part in argv[3].split(":"))
        refused = restore(Path(argv[1]), sys.stdin.buffer, uid, gid)
        if refused:
            print(f"skipped {len(refused)} member(s) that were not plain files, folders or inner links: "
                  f"{', '.join(refused[:10])}", file=sys.stderr)
        return 0
    if len(argv) == 2 and argv[0] == "put-file":
        put_file(Path(argv[1]), sys.stdin.buffer)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
