"""Small commands the tasks run in a one-off hub container: `python3 -m jhdeploy_hub.cli COMMAND ...`."""

from __future__ import annotations

import sys
from pathlib import Path

SECRETS = Path("/run/secrets")


def hash_password(name: str, length: str) -> str:
    """The password NAME types with hash_authenticator, from the hub image's own hashauthenticator."""
    from hashauthenticator import generate_password_digest

    key = (SECRETS / "hash_secret_key").read_text(encoding="utf-8").strip()
    return generate_password_digest(name, key, int(length))


def admin_password(name: str) -> str:
    """The first password of a native_authenticator admin, as the hub derives it."""
    from jhdeploy_hub.authenticators import native_admin_password

    return native_admin_password((SECRETS / "admin_password").read_text(encoding="utf-8").strip(), name)


COMMANDS = {"hash-password": hash_password, "admin-password": admin_password}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python3 -m jhdeploy_hub.cli {'|'.join(COMMANDS)} ARGS...", file=sys.stderr)
        return 2
    print(COMMANDS[argv[0]](*argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
