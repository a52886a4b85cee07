"""The files under `secrets/`: directory 0700, files 0600, generated ones never overwritten.

What each secret is (its file, how it is made) is its record in options.SECRETS.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from jhdeploy import options

TOKENS = {"hex": secrets.token_hex, "urlsafe": secrets.token_urlsafe}  # options.Secret.generate


def generated() -> list[options.Secret]:
    """The secrets `invoke setup` makes with Python's `secrets` (the certificate is made by certs.py)."""
    return [secret for secret in options.SECRETS.values() if secret.generate in TOKENS]


def store(directory: Path, name: str, value: str) -> bool:
    """Write `value` to directory/name (0600) unless it already holds it; True if written."""
    ensure_dir(directory)
    path = directory / name
    data = (value + "\n").encode()
    if path.exists() and path.read_bytes() == data:
        return False
    path.unlink(missing_ok=True)
    write_private(path, data)
    return True


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` with `mode` (owner-only by default) from the start, never readable by others before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)


def ensure_secrets(directory: Path) -> list[str]:
    """Create the missing secrets; return the names created."""
    ensure_dir(directory)
    created = []
    for secret in generated():
        path = directory / secret.file
        if not path.exists():
            write_private(path, (TOKENS[secret.generate](secret.length) + "\n").encode())
            created.append(secret.file)
    return created


def loose_permissions(directory: Path) -> list[Path]:
    """Files under `directory` that others may read or write."""
    return [p for p in sorted(directory.iterdir()) if p.is_file() and p.stat().st_mode & 0o077]
