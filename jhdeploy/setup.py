"""First-run files: .env, userlist, secrets, the self-signed certificate and the snapshots' folder."""

from __future__ import annotations

from pathlib import Path

from jhdeploy import certs, changes, options, secretfiles
from jhdeploy.settings import SettingsError
from jhdeploy.stack import Stack

# What `invoke setup` says loudly when it makes a secret, by the name it reports.
NOTICES = {f"secrets/{secret.file}": secret.notice for secret in options.SECRETS.values() if secret.notice}


def copy_templates(c, root: Path) -> list[str]:
    """Create .env (owner-only: it may hold passwords) and userlist from their templates; never overwrite."""
    created = []
    for target, template, mode in ((".env", ".env-template", 0o600), ("userlist", "userlist-template", 0o644)):
        if not (root / target).exists():
            changes.apply(c, f"create {target} from {template}", secretfiles.write_private, root / target,
                          (root / template).read_bytes(), mode)
            created.append(target)
    return [] if changes.dry(c) else created


def ensure_runtime_files(c, stack: Stack) -> list[str]:
    """Secrets and, for use_ssl_ss, the certificate, when missing; returns what was created."""
    return changes.apply(c, "create the missing secrets and the self-signed certificate", _runtime_files,
                         stack) or []


def _runtime_files(stack: Stack) -> list[str]:
    created = [f"secrets/{name}" for name in secretfiles.ensure_secrets(stack.secrets_dir)]
    # A secret given in .env (a password, an OAuth client secret) reaches its container as a mounted file.
    for key, name in stack.secrets_from_env:
        file = options.SECRETS[name].file
        if stack.settings[key] and secretfiles.store(stack.secrets_dir, file, stack.settings[key]):
            created.append(f"secrets/{file} (from {key})")
    repository = stack.snapshot_plan()["repository_host"] if options.SNAPSHOTS in stack.addons else ""
    if repository and not Path(repository).is_dir():  # the backup service's restic containers mount it
        Path(repository).mkdir(mode=0o700, parents=True)
        created.append(f"the snapshot repository's folder {stack.settings['BACKUP_REPOSITORY']}/")
    if stack.uses_tls:
        cert, key = stack.secret_path("ssl_cert"), stack.secret_path("ssl_key")
        fqdn = stack.settings["JH_FQDN"]
        try:
            written = certs.ensure_self_signed(cert, key, fqdn)
        except ValueError as error:
            raise SettingsError([f"JUPYTERHUB_SSL=use_ssl_ss: {error}"]) from None
        if written:
            created.append(f"secrets/{cert.name} (self-signed for {', '.join(certs.wanted_names(fqdn))})")
    return created
