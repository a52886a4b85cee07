"""What a given `.env` means: Compose files, environment, URLs and paths.

Every task asks this module; nothing else decides which files or settings apply.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jhdeploy import settings as settings_module
from jhdeploy.layout import SECRET_FILES, image_ref, public_host, public_url
from jhdeploy.settings import OAUTH_AUTHENTICATORS, Settings

SSL_OVERRIDES = {
    "use_ssl_ss": "compose/ssl_ss.yml",
    "use_ssl_le": "compose/letsencrypt.yml",
    "no_ssl": "compose/no_ssl.yml",
}
LETS_ENCRYPT = {
    "": "https://acme-v02.api.letsencrypt.org/directory",
    "--staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Authenticators that need a secret file mounted into the hub.
AUTH_OVERRIDES = {
    "hash_authenticator": "compose/hash.yml",
    "github_authenticator": "compose/oauth.yml",
    "generic_oauth": "compose/oauth.yml",
}
# Where an admin gets what an authenticator needs.
WHERE = {
    "GITHUB_CLIENT_ID": "create an OAuth app at https://github.com/settings/developers "
                        "(or in your GitHub Enterprise)",
    "OAUTH_CLIENT_ID": "register a client (confidential, authorization code flow) with your OpenID provider",
}


@dataclass(frozen=True)
class Stack:
    root: Path
    settings: Settings

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
    def uses_tls(self) -> bool:
        return self.settings["JUPYTERHUB_SSL"] == "use_ssl_ss"

    @property
    def authenticator(self) -> str:
        return self.settings["JUPYTERHUB_AUTHENTICATOR"]

    @property
    def compose_files(self) -> list[str]:
        files = ["compose/base.yml", SSL_OVERRIDES[self.settings["JUPYTERHUB_SSL"]]]
        if self.uses_le and self.settings["ACME_CA_ROOT"]:
            files.append("compose/acme_ca_root.yml")
        if self.uses_postgres:
            files.append("compose/postgres.yml")
        if self.authenticator in AUTH_OVERRIDES:
            files.append(AUTH_OVERRIDES[self.authenticator])
        if self.in_swarm:
            files.append("compose/swarm.yml")
        return files

    @property
    def in_swarm(self) -> bool:
        return self.settings["DEPLOY_MODE"] == "swarm"

    @property
    def published_ports(self) -> dict[str, int]:
        """Host ports the stack publishes, by the setting that names them."""
        keys = {"use_ssl_ss": ("JUPYTERHUB_HTTPS_PORT",), "no_ssl": ("JUPYTERHUB_HTTP_PORT",),
                "use_ssl_le": ("LE_HTTP_PORT", "JUPYTERHUB_HTTPS_PORT")}[self.settings["JUPYTERHUB_SSL"]]
        return {key: int(self.settings[key]) for key in keys}

    @property
    def uses_le(self) -> bool:
        return self.settings["JUPYTERHUB_SSL"] == "use_ssl_le"

    @property
    def acme_directory(self) -> str:
        server = self.settings["CERT_SERVER"]
        return LETS_ENCRYPT.get(server, server)

    @property
    def uses_postgres(self) -> bool:
        """The PostgreSQL service of compose/postgres.yml, not an external database."""
        return self.settings["JUPYTERHUB_DB_URL"] == "postgres"

    @property
    def volumes(self) -> list[str]:
        """The stack's own named volumes (user volumes are found by their prefix)."""
        names = [self.settings["DATA_VOLUME_HOST"]]
        names += [self.settings["DB_VOLUME_HOST"]] if self.uses_postgres else []
        return names + ([self.settings["CADDY_VOLUME_HOST"]] if self.uses_le else [])

    @property
    def user_volume_prefix(self) -> str:
        return f"{self.project}-user-"

    @property
    def backup_dir(self) -> Path:
        return self.root / self.settings["BACKUP_DIR"]

    @property
    def client_secret_key(self) -> str | None:
        """The .env key of the OAuth client secret, for the OAuth authenticators."""
        return {"github_authenticator": "GITHUB_CLIENT_SECRET",
                "generic_oauth": "OAUTH_CLIENT_SECRET"}.get(self.authenticator)

    def warnings(self) -> list[str]:
        s = self.settings
        found = []
        logo = s["LOGO_IMAGE"]
        if logo and not (logo.startswith("conf/") and (self.root / logo).is_file()):
            found.append(f"warning: LOGO_IMAGE={logo!r} is not an image file under conf/ (only conf/ reaches "
                         "the hub): the hub keeps JupyterHub's logo. Copy the image into conf/ and name it so.")
        if (self.authenticator == "dummy_authenticator"
                and s["DUMMY_AUTH_PASSWORD"] == settings_module.DEFAULT_DUMMY_PASSWORD
                and self.host not in ("localhost", "127.0.0.1", "::1")):
            found.append(f"!!! DUMMY_AUTH_PASSWORD is still the template's {s['DUMMY_AUTH_PASSWORD']!r} on "
                         f"{self.host}: anyone who reads the template can log in. Set a password in .env.")
        return found

    @property
    def options(self) -> dict[str, str]:
        """The choices that shape the stack, for `invoke status`."""
        keys = ("JUPYTERHUB_SSL", "JUPYTERHUB_AUTHENTICATOR")
        options = {key: self.settings[key] for key in keys}
        url = self.settings["JUPYTERHUB_DB_URL"]
        options["JUPYTERHUB_DB_URL"] = url if url in ("sqlite", "postgres") else "external database"
        return options

    def compose_env(self) -> dict[str, str]:
        """Values for `${VAR}` in the Compose files. Secrets are mounted files; the one
        exception feeds an `environment:`-sourced Compose secret, never a `${VAR}`."""
        env = {k: v for k, v in self.settings.values.items() if k not in settings_module.SECRET_KEYS}
        env["COMPOSE_PROJECT_NAME"] = self.project
        env["LOCAL_HUB_IMAGE"] = image_ref(self.settings, "LOCAL_HUB_IMAGE")
        env["ACME_CA"] = self.acme_directory
        if self.settings["ACME_CA_ROOT"]:
            env["ACME_CA_ROOT_PATH"] = str((self.root / self.settings["ACME_CA_ROOT"]).resolve())
        password = self.secret_path("postgres_password")
        if self.uses_postgres and password.exists():
            env["JHDEPLOY_POSTGRES_PASSWORD"] = password.read_text().strip()
        return env

    def secret_values(self) -> list[str]:
        """Every secret value this stack knows, for masking output."""
        values = [self.settings[key] for key in settings_module.SECRET_KEYS if self.settings[key]]
        if self.secrets_dir.is_dir():
            values += [p.read_text().strip() for p in self.secrets_dir.iterdir()
                       if p.is_file() and not p.name.endswith(".crt")]
        return [v for v in values if len(v) >= 6]

    @property
    def host(self) -> str:
        return public_host(self.settings)

    @property
    def url(self) -> str:
        return public_url(self.settings)

    @property
    def local_url(self) -> str:
        """The same endpoint through localhost, for checks run on this host."""
        return self.url.replace(f"//{self.host}", "//localhost", 1)

    @property
    def ca_bundle(self) -> Path | bool:
        """What `requests` verifies the hub against from this host."""
        return self.secret_path("ssl_cert") if self.uses_tls else True


def file_problems(root: Path, s: Settings) -> list[str]:
    """Settings that name files: the files must exist and be usable."""
    from jhdeploy import cacerts  # needs cryptography, which only the host side has for sure

    found = []
    root_ca = s["ACME_CA_ROOT"]
    if root_ca and not (root / root_ca).is_file():
        found.append(f"ACME_CA_ROOT={root_ca!r}: no such file.")
    elif root_ca:
        try:
            cacerts.collect(root / root_ca)
        except ValueError as error:
            found.append(f"ACME_CA_ROOT={root_ca!r}: {error}; expected a PEM certificate.")
    ca = s["EXTRA_CA_CERTS"]
    if ca:
        if not (root / ca).exists():
            found.append(f"EXTRA_CA_CERTS={ca!r}: no such file or folder.")
        else:
            try:
                cacerts.collect(root / ca)
            except ValueError as error:
                found.append(f"EXTRA_CA_CERTS={ca!r}: {error}; expected PEM certificates.")
    return found


def auth_problems(stack: Stack) -> list[str]:
    """What the chosen authenticator needs and lacks, with where to get it."""
    s, found = stack.settings, []
    auth = stack.authenticator
    if auth not in OAUTH_AUTHENTICATORS:
        return found
    id_key = "GITHUB_CLIENT_ID" if auth == "github_authenticator" else "OAUTH_CLIENT_ID"
    if not s[id_key]:
        found.append(f"JUPYTERHUB_AUTHENTICATOR={auth} needs {id_key}: {WHERE[id_key]}.")
    secret_key = stack.client_secret_key
    if not s[secret_key] and not stack.secret_path("oauth_client_secret").exists():
        found.append(f"JUPYTERHUB_AUTHENTICATOR={auth} needs {secret_key} in .env, or the secret in "
                     f"secrets/oauth_client_secret: it comes with the client id.")
    if auth == "generic_oauth" and not s["OAUTH_DISCOVERY_URL"]:
        missing = [k for k in ("OAUTH_AUTHORIZE_URL", "OAUTH_TOKEN_URL", "OAUTH_USERDATA_URL") if not s[k]]
        if missing:
            found.append("JUPYTERHUB_AUTHENTICATOR=generic_oauth needs OAUTH_DISCOVERY_URL (the provider's "
                         f".well-known/openid-configuration), or else {', '.join(missing)}.")
    callback = s["OAUTH_CALLBACK_URL"]
    if callback and urlsplit(callback).hostname != stack.host:
        found.append(f"OAUTH_CALLBACK_URL={callback!r} must point at this hub's host {stack.host!r} "
                     "(JH_FQDN, or localhost when JH_FQDN is empty).")
    return found


def le_problems(stack: Stack) -> list[str]:
    """use_ssl_le needs a public name, an email, and a usable ACME server."""
    if not stack.uses_le:
        return []
    s, found = stack.settings, []
    fqdn = s["JH_FQDN"]
    try:
        ipaddress.ip_address(fqdn)
        is_ip = True
    except ValueError:
        is_ip = False
    if not fqdn or is_ip or "." not in fqdn or fqdn == "localhost" or fqdn.endswith(".localhost"):
        found.append(f"JH_FQDN={fqdn!r}: Let's Encrypt (use_ssl_le, --le) needs the public DNS name of "
                     "this host, such as hub.example.org; not empty, not localhost, not an IP address.")
    if not _EMAIL.match(s["JH_EMAIL"]):
        found.append(f"JH_EMAIL={s['JH_EMAIL']!r}: Let's Encrypt (use_ssl_le, --le) needs the ACME account's "
                     "email address, such as admin@example.org.")
    server = s["CERT_SERVER"]
    if server not in LETS_ENCRYPT and not re.match(r"^https://\S+$", server):
        found.append(f"CERT_SERVER={server!r}: expected empty (Let's Encrypt), --staging, or an ACME "
                     "directory URL starting with https://.")
    return found


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


def load(root: Path, overrides: dict[str, str] | None = None) -> Stack:
    """Read and validate `root/.env` and the files it names (raises SettingsError)."""
    s = settings_module.load(root / ".env", overrides)
    stack = Stack(root, s)
    found = file_problems(root, s) + auth_problems(stack) + le_problems(stack) + swarm_problems(stack)
    if found:
        raise settings_module.SettingsError(found)
    return stack
