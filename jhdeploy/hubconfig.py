"""Turn validated `.env` settings into JupyterHub traitlets.

Each `update_*` function takes the settings and a traitlets `Config` and only
*sets* values, so that unit tests can apply it to a bare `Config()`.
Runs inside the hub container: standard library and traitlets only.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from jhdeploy import settings as settings_module
from jhdeploy import userlist as userlist_module
from jhdeploy.layout import (
    HUB_PORT,
    HUB_SERVICE,
    STACK_LABEL,
    container_secret,
)

HUB_ROOT = Path(os.environ.get("JHDEPLOY_HUB_ROOT", "/srv/jupyterhub"))


def user_volume_name(template: str, spawner) -> str:
    """DockerSpawner.format_volume_name: adds `{server_suffix}` ('' or '--NAME')."""
    namespace = spawner.template_namespace()
    servername = namespace.get("servername", "")
    namespace["server_suffix"] = f"--{servername}" if servername else ""
    return template.format(**namespace)


def update_network(s, c) -> None:
    """Users reach the hub by its service name on the stack's network."""
    c.JupyterHub.port = HUB_PORT
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_connect_ip = HUB_SERVICE
    c.DockerSpawner.network_name = s["DOCKER_NETWORK_NAME"]
    c.DockerSpawner.use_internal_ip = True


def update_spawner(s, c) -> None:
    """One container per server, removed on stop; one volume per server, kept."""
    c.JupyterHub.spawner_class = "docker"
    c.DockerSpawner.image = s["LOCAL_NOTEBOOK_IMAGE"]
    c.DockerSpawner.pull_policy = s["DOCKER_NOTEBOOK_PULL_POLICY"]
    c.DockerSpawner.cmd = shlex.split(s["DOCKER_SPAWN_CMD"])
    c.DockerSpawner.prefix = s["COMPOSE_PROJECT_NAME"]
    c.DockerSpawner.notebook_dir = s["DOCKER_NOTEBOOK_DIR"]
    c.DockerSpawner.volumes = {"{prefix}-user-{username}{server_suffix}": s["DOCKER_NOTEBOOK_DIR"]}
    c.DockerSpawner.format_volume_name = user_volume_name
    c.DockerSpawner.remove = True
    # The label lets `invoke stop` find containers the hub left behind.
    c.DockerSpawner.extra_create_kwargs = {"labels": {STACK_LABEL: s["COMPOSE_PROJECT_NAME"]}}


def update_database(s, c) -> None:
    """SQLite lives on the data volume so that it survives stop, start and rebuilds."""
    url = s["JUPYTERHUB_DB_URL"]
    if url == "sqlite":
        url = f"sqlite:///{s['DATA_VOLUME_CONTAINER']}/jupyterhub.sqlite"
    c.JupyterHub.db_url = url


def update_tls(s, c) -> None:
    if s["JUPYTERHUB_SSL"] == "use_ssl_ss":
        c.JupyterHub.ssl_cert = str(container_secret("ssl_cert"))
        c.JupyterHub.ssl_key = str(container_secret("ssl_key"))


def read_file(path) -> str:
    return Path(path).read_text(encoding="utf-8")


def update_secrets(s, c, read=read_file) -> None:
    """Secrets come from files that Compose mounts at runtime, never from the image."""
    c.JupyterHub.cookie_secret_file = str(container_secret("cookie_secret"))
    c.ConfigurableHTTPProxy.auth_token = read(container_secret("proxy_token")).strip()


def update_auth(s, users: userlist_module.Userlist, c) -> None:
    if s["JUPYTERHUB_AUTHENTICATOR"] == "dummy_authenticator":
        c.JupyterHub.authenticator_class = "dummy"
        c.DummyAuthenticator.password = s["DUMMY_AUTH_PASSWORD"]
    c.Authenticator.allowed_users = set(users.allowed)
    c.Authenticator.admin_users = set(users.admins)


UI_PATHS = {"/lab": "/lab", "lab": "/lab", "/tree": "/tree", "tree": "/tree", "notebook": "/tree"}


def update_ui(s, c) -> None:
    """JUPYTER_UI picks the page a server opens on; the original `notebook` means Notebook 7's /tree."""
    c.Spawner.default_url = UI_PATHS[s["JUPYTER_UI"]]


def update_branding(s, c) -> None:
    """A logo from conf/, and templates in conf/templates that override JupyterHub's own."""
    if s["LOGO_IMAGE"]:
        c.JupyterHub.logo_file = str(HUB_ROOT / s["LOGO_IMAGE"])
    c.JupyterHub.template_paths = [str(HUB_ROOT / "conf" / "templates")]


def update_logging(s, c) -> None:
    c.JupyterHub.log_level = s["JUPYTERHUB_LOG_LEVEL"]


def apply_config(s, users: userlist_module.Userlist, c, read_secret=read_file) -> None:
    update_network(s, c)
    update_spawner(s, c)
    update_database(s, c)
    update_tls(s, c)
    update_secrets(s, c, read_secret)
    update_auth(s, users, c)
    update_ui(s, c)
    update_branding(s, c)
    update_logging(s, c)


def load_settings(root: Path = HUB_ROOT) -> settings_module.Settings:
    try:
        return settings_module.load(root / ".env")
    except settings_module.SettingsError as error:
        sys.exit(f"Invalid .env:\n{error}")


def load_userlist(root: Path = HUB_ROOT) -> userlist_module.Userlist:
    try:
        return userlist_module.load(root / "userlist")
    except userlist_module.UserlistError as error:
        sys.exit(str(error))


def snippets(directory: Path) -> list[Path]:
    """The escape hatch: `jupyterhub_config.d/*.py`, in name order."""
    return sorted(directory.glob("*.py")) if directory.is_dir() else []
