"""First-run files: .env, userlist, secrets and the self-signed certificate."""

from __future__ import annotations

import shutil
from pathlib import Path

from jhdeploy import certs, secretfiles
from jhdeploy.stack import Stack


def copy_templates(root: Path) -> list[str]:
    """Create .env and userlist from their templates when missing; never overwrite."""
    created = []
    for target, template in ((".env", ".env-template"), ("userlist", "userlist-template")):
        if not (root / target).exists():
            shutil.copyfile(root / template, root / target)
            created.append(target)
    return created


def ensure_runtime_files(stack: Stack) -> list[str]:
    """Secrets and, for use_ssl_ss, the certificate; returns what was created."""
    created = [f"secrets/{name}" for name in secretfiles.ensure_secrets(stack.secrets_dir)]
    # A secret given in .env (a password, an OAuth client secret) reaches the hub as a mounted file.
    if stack.authenticator.from_env:
        key, name = stack.authenticator.from_env
        if stack.settings[key] and secretfiles.store(stack.secrets_dir, name, stack.settings[key]):
            created.append(f"secrets/{name} (from {key})")
    if stack.uses_tls:
        cert, key = stack.secret_path("ssl_cert"), stack.secret_path("ssl_key")
        fqdn = stack.settings["JH_FQDN"]
        if certs.ensure_self_signed(cert, key, fqdn):
            created.append(f"secrets/{cert.name} (self-signed for {', '.join(certs.wanted_names(fqdn))})")
    return created
