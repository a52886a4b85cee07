"""Generated secrets under `secrets/`: directory 0700, files 0600, never overwritten."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# name -> generator; hex keeps every consumer happy (JupyterHub wants hex cookie secrets).
GENERATED = {
    "proxy_token": lambda: secrets.token_hex(32),
    "cookie_secret": lambda: secrets.token_hex(32),
    "postgres_password": lambda: secrets.token_urlsafe(32),
    "hash_secret_key": lambda: secrets.token_hex(32),
    # dummy_authenticator's admins (SharedPasswordAuthenticator wants 32 characters or more),
    # or the key of native_authenticator admins' first passwords.
    "admin_password": lambda: secrets.token_urlsafe(32),
    # dummy_authenticator's users, unless DUMMY_AUTH_PASSWORD sets it.
    "shared_password": lambda: secrets.token_urlsafe(16),
}


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
    for name, make in GENERATED.items():
        path = directory / name
        if not path.exists():
            write_private(path, (make() + "\n").encode())
            created.append(name)
    return created


def loose_permissions(directory: Path) -> list[Path]:
    """Files under `directory` that others may read or write."""
    return [p for p in sorted(directory.iterdir()) if p.is_file() and p.stat().st_mode & 0o077]
