"""What a resolved `.env` means: the option records chosen, Compose files, ports,
volumes, URLs, and the settings handed to Compose and to the hub.

`from_env()` is the one resolution every task uses; `from_saved()` rebuilds the
stack that `invoke start` recorded, so that later tasks act on what runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jhdeploy import envfile, options, userlist
from jhdeploy import settings as settings_module
from jhdeploy.layout import (
    HUB_CONF,
    HUB_SERVICE,
    POSTGRES_SERVICE,
    PROXY_API_PORT,
    PROXY_SERVICE,
    SECRET_FILES,
    STACK_LABEL,
    container_secret,
    image_ref,
)
from jhdeploy.settings import Settings, SettingsError

HUB_SETTINGS_FORMAT = 1
COPIED_SECRET = "JHDEPLOY_SECRET_"  # the Compose variables that `environment:` Compose secrets read
IMAGE_KEYS = ("LOCAL_HUB_IMAGE", "LOCAL_PROXY_IMAGE", "LOCAL_NOTEBOOK_IMAGE")


@dataclass(frozen=True)
class Stack:
    root: Path
    settings: Settings
    users: userlist.Userlist = field(default_factory=userlist.Userlist)
    mode: str = "compose"  # or "swarm" (`invoke swarm-deploy`)

    @property
    def project(self) -> str:
        return self.settings["COMPOSE_PROJECT_NAME"]

    @property
    def env_file(self) -> Path:
        return self.root / ".env"

    @property
    def userlist_file(self) -> Path:
        return self.root / "userlist"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    def secret_path(self, name: str) -> Path:
        return self.secrets_dir / SECRET_FILES[name]

    @property
    def in_swarm(self) -> bool:
        return self.mode == "swarm"

    @property
    def fenced(self) -> bool:
        """The user network fence: its rules are for a Docker bridge, so Compose mode only."""
        return self.settings["USER_NETWORK_FENCE"] and not self.in_swarm

    # --- the records this .env chooses -------------------------------------------------------

    @property
    def ssl(self) -> options.SslMode:
        return options.SSL_MODES[self.settings["JUPYTERHUB_SSL"]]

    @property
    def authenticator(self) -> options.Authenticator:
        return options.AUTHENTICATORS[self.settings["JUPYTERHUB_AUTHENTICATOR"]]

    @property
    def database(self) -> options.Database:
        return options.database_of(self.settings["JUPYTERHUB_DB_URL"])

    @property
    def overrides(self) -> list[options.Override]:
        chosen = [options.BASE, self.ssl.override, *self.authenticator.overrides, self.database.override]
        chosen += [addon.override for addon in options.ADDONS if addon.applies(self)]
        return [override for override in chosen if override]

    @property
    def compose_files(self) -> list[str]:
        return [override.compose for override in self.overrides]

    @property
    def services(self) -> list[str]:
        return [service for override in self.overrides for service in override.services]

    @property
    def published_ports(self) -> dict[str, int]:
        """Host ports the stack publishes, by the setting that names them."""
        return {key: self.settings[key] for override in self.overrides for key in override.ports}

    @property
    def volumes(self) -> list[str]:
        """The stack's own named volumes (user volumes are found by their prefix)."""
        return [self.settings[key] for override in self.overrides for key in override.volumes]

    @property
    def mounted_secrets(self) -> list[str]:
        return [name for override in self.overrides for name in override.secrets]

    @property
    def copied_secrets(self) -> list[str]:
        return [name for override in self.overrides for name in override.copied]

    @property
    def uses_tls(self) -> bool:
        """The hub is reached over HTTPS with the certificate generated in secrets/."""
        return self.ssl.verify == "generated"

    @property
    def uses_le(self) -> bool:
        return self.ssl.acme

    def secret_source(self, name: str) -> Path:
        """Where a secret comes from: secrets/, or for use_ssl_own the admin's certificate and key."""
        if self.ssl.tls_files and name in ("ssl_cert", "ssl_key"):
            path = Path(self.settings[self.ssl.tls_files[name == "ssl_key"]])
            return path if path.is_absolute() else self.root / path
        return self.secret_path(name)

    @property
    def bind_ip(self) -> str:
        return self.settings["JUPYTERHUB_BIND_IP"] or self.ssl.default_bind_ip

    @property
    def uses_postgres(self) -> bool:
        """The PostgreSQL service of compose/postgres.yml, not an external database."""
        return POSTGRES_SERVICE in self.services

    @property
    def acme_directory(self) -> str:
        server = self.settings["CERT_SERVER"]
        return options.LETS_ENCRYPT.get(server, server)

    @property
    def images(self) -> dict[str, str]:
        """The images a start needs, as every node names them."""
        return {key: image_ref(self.settings, key) for key in IMAGE_KEYS}

    @property
    def user_volume_prefix(self) -> str:
        return f"{self.project}-user-"

    @property
    def backup_dir(self) -> Path:
        return self.root / self.settings["BACKUP_DIR"]

    # --- where users reach it -------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.settings["JH_FQDN"] or "localhost"

    @property
    def url(self) -> str:
        """The URL users open, with a trailing slash."""
        port = self.settings[self.ssl.port_key]
        default = {"https": 443, "http": 80}[self.ssl.scheme]
        return f"{self.ssl.scheme}://{self.host}/" if port == default else f"{self.ssl.scheme}://{self.host}:{port}/"

    @property
    def local_url(self) -> str:
        """The same endpoint through localhost, for checks run on this host."""
        return self.url.replace(f"//{self.host}", "//localhost", 1)

    @property
    def ca_bundle(self) -> Path | bool:
        """What `requests` verifies the hub against from this host."""
        return self.secret_path("ssl_cert") if self.uses_tls else True

    @property
    def login_hint(self) -> str:
        return "\n".join(filter(None, (self.authenticator.login_hint, self.ssl.login_note)))

    def warnings(self) -> list[str]:
        s = self.settings
        found = []
        logo = s["LOGO_IMAGE"]
        if logo and not (self.root / logo).is_file():
            found.append(f"warning: LOGO_IMAGE={logo!r}: no such file; the hub keeps JupyterHub's logo.")
        if self.authenticator.uses_userlist and not self.users.allowed:
            found.append("warning: userlist names nobody, so nobody can log in. Add `name` or `name admin` lines, "
                         "then `invoke restart`.")
        return found

    @property
    def options(self) -> dict[str, str]:
        """The choices that shape the stack, for `invoke status`."""
        return {"JUPYTERHUB_SSL": self.ssl.name, "JUPYTERHUB_AUTHENTICATOR": self.authenticator.name,
                "JUPYTERHUB_DB_URL": self.database.name}

    # --- what Compose and the hub are given ------------------------------------------------

    def compose_env(self) -> dict[str, str]:
        """Values for `${VAR}` in the Compose files: resolved here, never interpolated again.

        Secrets are mounted files. Those copied in for non-root containers come through
        JHDEPLOY_SECRET_* variables of the Compose process, which only `environment:`
        Compose secrets read, never a `${VAR}` or a container's environment."""
        env = {k: v for k, v in self.settings.raw.items() if k not in settings_module.SECRET_KEYS}
        env.update(self.images)
        env["ACME_CA"] = self.acme_directory
        if self.settings["ACME_CA_ROOT"]:
            env["ACME_CA_ROOT_PATH"] = str((self.root / self.settings["ACME_CA_ROOT"]).resolve())
        env["PUBLISH_IP"] = self.bind_ip
        copied = {name: self.secret_source(name) for name in self.copied_secrets}
        digest = hashlib.sha256()
        for name, path in copied.items():
            if path.exists():
                env[f"{COPIED_SECRET}{name.upper()}"] = content = path.read_text()
                digest.update(content.encode())
        # Compose's own hash leaves secrets out: this one makes a changed token or certificate
        # recreate the proxy.
        env["PROXY_SECRETS_DIGEST"] = digest.hexdigest()[:16]
        return env

    def hub_settings(self) -> dict[str, Any]:
        """Everything the hub needs, resolved: its configuration maps these to traitlets and decides nothing."""
        s = self.settings
        values = {k: v for k, v in s.values.items() if k not in settings_module.SECRET_KEYS}
        database: dict[str, Any] = {"url": s["JUPYTERHUB_DB_URL"], "password_file": None}
        if self.database.name == "sqlite":
            database["url"] = f"sqlite:///{s['DATA_VOLUME_CONTAINER']}/jupyterhub.sqlite"
        elif self.uses_postgres:
            database["url"] = f"postgresql+psycopg2://{s['POSTGRES_USER']}@{POSTGRES_SERVICE}:5432/{s['POSTGRES_DB']}"
            database["password_file"] = str(container_secret("postgres_password"))
        return {
            "format": HUB_SETTINGS_FORMAT,
            "project": self.project,
            "mode": self.mode,
            "public_url": self.url,
            "set_public_url": self.ssl.set_public_url,
            "hub_service": HUB_SERVICE,
            "label": STACK_LABEL,
            "ssl": self.ssl.name,
            "proxy_api": f"http://{PROXY_SERVICE}:{PROXY_API_PORT}",
            "authenticator": {"name": self.authenticator.name, "configure": self.authenticator.hub_function,
                              "temporary_users": self.authenticator.temporary_users},
            "users": {"allowed": sorted(self.users.allowed), "admins": sorted(self.users.admins)},
            "database": database,
            "secrets": {name: str(container_secret(name)) for name in self.mounted_secrets},
            "notebook_image": self.images["LOCAL_NOTEBOOK_IMAGE"],
            "logo_file": f"{HUB_CONF}/{s['LOGO_IMAGE'].removeprefix('conf/')}"
            if s["LOGO_IMAGE"] and (self.root / s["LOGO_IMAGE"]).is_file() else None,
            "settings": values,
        }

    def secret_values(self) -> list[str]:
        """Every secret value this stack knows, for masking output."""
        values = [self.settings[key] for key in settings_module.SECRET_KEYS if self.settings[key]]
        if self.secrets_dir.is_dir():
            values += [p.read_text().strip() for p in self.secrets_dir.iterdir()
                       if p.is_file() and not p.name.endswith(".crt")]
        return [v for v in values if len(v) >= 6]


def file_problems(root: Path, s: Settings) -> list[str]:
    """Settings that name files: the files must exist and be usable."""
    from jhdeploy import cacerts

    found = []
    for key, what in (("ACME_CA_ROOT", "a PEM certificate"), ("EXTRA_CA_CERTS", "PEM certificates")):
        value = s[key]
        if not value:
            continue
        if not (root / value).exists():
            found.append(f"{key}={value!r}: no such file{' or folder' if key == 'EXTRA_CA_CERTS' else ''}.")
            continue
        try:
            cacerts.collect(root / value)
        except ValueError as error:
            found.append(f"{key}={value!r}: {error}; expected {what}.")
    return found


def shared_folder_problems(root: Path, s: Settings) -> list[str]:
    """A host path shared with every user must not hold this project's .env or secrets/."""
    shared = s["SHARED_VOLUME"]
    if not shared.startswith("/"):
        return []
    path, checkout = Path(shared).resolve(), root.resolve()
    if path == checkout or checkout in path.parents or path in checkout.parents:
        return [f"SHARED_VOLUME={shared!r} would show every user this project's folder, with its .env and secrets/; "
                "choose a folder outside it."]
    return []


def auth_problems(stack: Stack) -> list[str]:
    """What the chosen authenticator needs and lacks, with where to get it."""
    auth = stack.authenticator
    found = [f"JUPYTERHUB_AUTHENTICATOR={auth.name} needs {key}: {where}."
             for key, where in auth.required if not stack.settings[key]]
    return found + auth.problems(stack)


def swarm_problems(stack: Stack) -> list[str]:
    """What `invoke swarm-deploy` does not run yet, said before anything starts."""
    if not stack.in_swarm:
        return []
    found = []
    if stack.uses_le:
        found.append("JUPYTERHUB_SSL=use_ssl_le is not supported on Docker Swarm yet: put your own TLS "
                     "proxy in front and use no_ssl, or use_ssl_ss.")
    if stack.uses_postgres:
        found.append("JUPYTERHUB_DB_URL=postgres is not supported on Docker Swarm yet: use sqlite, or a full "
                     "SQLAlchemy URL to a PostgreSQL server of your own.")
    return found


def from_env(root: Path, flags: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None,
             mode: str = "compose") -> Stack:
    """Resolve `.env` (with task flags and the environment), `userlist` and the files they name.

    Raises SettingsError or userlist.UserlistError, naming every problem.
    """
    try:
        entries = envfile.read(root / ".env")
    except envfile.EnvFileError as error:
        raise SettingsError([str(error)]) from None
    s = settings_module.resolve(entries, os.environ if environ is None else environ, flags)
    stack = Stack(root, s, userlist.load(root / "userlist"), mode)
    found = (file_problems(root, s) + shared_folder_problems(root, s) + auth_problems(stack)
             + stack.ssl.problems(stack) + swarm_problems(stack))
    if found:
        raise SettingsError(found)
    return stack


def from_saved(root: Path, saved: Mapping[str, Any]) -> Stack:
    """The stack `invoke start` recorded (state.py), whatever `.env` says now."""
    return Stack(root, settings_module.from_mapping(saved["settings"], saved["flags"]), mode=saved["mode"])
