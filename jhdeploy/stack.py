"""What a given `.env` means: Compose files, environment, URLs and paths.

Every task asks this module; nothing else decides which files or settings apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jhdeploy import cacerts
from jhdeploy import settings as settings_module
from jhdeploy.layout import SECRET_FILES
from jhdeploy.settings import Settings

SSL_OVERRIDES = {
    "use_ssl_ss": "compose/ssl_ss.yml",
    "no_ssl": "compose/no_ssl.yml",
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
    def compose_files(self) -> list[str]:
        return ["compose/base.yml", SSL_OVERRIDES[self.settings["JUPYTERHUB_SSL"]]]

    @property
    def options(self) -> dict[str, str]:
        """The choices that shape the stack, for `invoke status`."""
        keys = ("JUPYTERHUB_SSL", "JUPYTERHUB_AUTHENTICATOR", "JUPYTERHUB_DB_URL")
        return {key: self.settings[key] for key in keys}

    def compose_env(self) -> dict[str, str]:
        """Values for `${VAR}` in the Compose files; secrets are mounted, never passed."""
        env = {k: v for k, v in self.settings.values.items() if k not in settings_module.SECRET_KEYS}
        env["COMPOSE_PROJECT_NAME"] = self.project
        return env

    @property
    def host(self) -> str:
        return self.settings["JH_FQDN"] or "localhost"

    @property
    def url(self) -> str:
        if self.uses_tls:
            port = self.settings["JUPYTERHUB_HTTPS_PORT"]
            return f"https://{self.host}/" if port == "443" else f"https://{self.host}:{port}/"
        return f"http://{self.host}:{self.settings['JUPYTERHUB_HTTP_PORT']}/"

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
    found = []
    logo = s["LOGO_IMAGE"]
    if logo and not (logo.startswith("conf/") and (root / logo).is_file()):
        found.append(f"LOGO_IMAGE={logo!r}: expected an image file under conf/ (only conf/ reaches the hub).")
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


def load(root: Path, overrides: dict[str, str] | None = None) -> Stack:
    """Read and validate `root/.env` and the files it names (raises SettingsError)."""
    s = settings_module.load(root / ".env", overrides)
    found = file_problems(root, s)
    if found:
        raise settings_module.SettingsError(found)
    return Stack(root, s)
