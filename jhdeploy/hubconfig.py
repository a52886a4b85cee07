"""Turn validated `.env` settings into JupyterHub traitlets.

Each `update_*` function takes the settings and a traitlets `Config` and only
*sets* values, so that unit tests can apply it to a bare `Config()`.
Runs inside the hub container: standard library and traitlets only.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import urllib.request
from pathlib import Path
from urllib.parse import quote

from jhdeploy import compat
from jhdeploy import settings as settings_module
from jhdeploy import userlist as userlist_module
from jhdeploy.layout import (
    ANNOUNCEMENT_FILE,
    HUB_PORT,
    HUB_SERVICE,
    POSTGRES_SERVICE,
    STACK_LABEL,
    container_secret,
    image_ref,
    public_url,
)

HUB_ROOT = Path(os.environ.get("JHDEPLOY_HUB_ROOT", "/srv/jupyterhub"))


def read_file(path) -> str:
    return Path(path).read_text(encoding="utf-8")


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
    c.JupyterHub.spawner_class = "jhdeploy.spawners.ReadyDockerSpawner"
    c.DockerSpawner.ready_poll_max = float(s["SPAWN_READY_POLL"])
    c.DockerSpawner.image = image_ref(s, "LOCAL_NOTEBOOK_IMAGE")
    c.DockerSpawner.pull_policy = s["DOCKER_NOTEBOOK_PULL_POLICY"]
    c.DockerSpawner.cmd = shlex.split(s["DOCKER_SPAWN_CMD"])
    c.DockerSpawner.prefix = s["COMPOSE_PROJECT_NAME"]
    c.DockerSpawner.notebook_dir = s["DOCKER_NOTEBOOK_DIR"]
    c.DockerSpawner.volumes = volumes(s)
    c.DockerSpawner.format_volume_name = user_volume_name
    c.DockerSpawner.remove = True
    # The label lets `invoke stop` find containers the hub left behind.
    c.DockerSpawner.extra_create_kwargs = {"labels": {STACK_LABEL: s["COMPOSE_PROJECT_NAME"]}}


def update_limits(s, c) -> None:
    """Per-user memory, CPU and GPUs, and timeouts sized for large images on slow disks.

    CPU goes through Docker's NanoCpus rather than DockerSpawner.cpu_limit (a
    quota and period), so that `docker inspect` shows it as `--cpus` would.
    """
    if s["NOTEBOOK_MEM_LIMIT"]:
        c.DockerSpawner.mem_limit = s["NOTEBOOK_MEM_LIMIT"]
    host_config = {}
    if s["NOTEBOOK_CPU_LIMIT"]:
        host_config["nano_cpus"] = int(float(s["NOTEBOOK_CPU_LIMIT"]) * 1e9)
        # DockerSpawner's cpu_limit defaults to 0.0, which still sets a CPU period,
        # and Docker refuses a period together with NanoCpus.
        c.DockerSpawner.cpu_limit = None
    if s["NOTEBOOK_GPUS"]:
        host_config["device_requests"] = [gpu_request(s["NOTEBOOK_GPUS"])]
    if host_config:
        c.DockerSpawner.extra_host_config = host_config
    c.Spawner.start_timeout = int(s["SPAWN_TIMEOUT"])
    c.Spawner.http_timeout = int(s["HTTP_TIMEOUT"])


def gpu_request(gpus: str):
    """A Docker device request for NVIDIA GPUs: `all`, or device ids such as `0,1`."""
    from docker.types import DeviceRequest

    if gpus == "all":
        return DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])
    return DeviceRequest(driver="nvidia", device_ids=gpus.split(","), capabilities=[["gpu"]])


def volumes(s) -> dict:
    """The user's own volume, and the shared folder when there is one."""
    mounts = {"{prefix}-user-{username}{server_suffix}": s["DOCKER_NOTEBOOK_DIR"]}
    if s["SHARED_VOLUME"]:
        mounts[s["SHARED_VOLUME"]] = {"bind": s["SHARED_MOUNT"], "mode": s["SHARED_MODE"]}
    return mounts


def update_profiles(s, c) -> None:
    """NOTEBOOK_IMAGES: what a user may pick at spawn time; nothing outside the list."""
    profiles = settings_module.parse_profiles(s["NOTEBOOK_IMAGES"])
    if profiles:
        c.DockerSpawner.allowed_images = profiles


def update_culler(s, c) -> None:
    """jupyterhub-idle-culler as a hub-managed service, with only the scopes its docs list."""
    timeout = int(s["SERVER_TIMEOUT_SECONDS"])
    if not timeout:
        return
    cull_users = settings_module.is_yes(s["CULL_USERS"])
    c.JupyterHub.services = [{
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={timeout}",
                    f"--cull-every={s['CULL_EVERY_SECONDS']}", f"--max-age={s['CULL_MAX_AGE_SECONDS']}",
                    f"--cull-users={cull_users}"],
    }]
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    c.JupyterHub.load_roles = [{
        "name": "idle-culler",
        "scopes": scopes + (["admin:users"] if cull_users else []),
        "services": ["idle-culler"],
    }]


def update_swarm(s, c) -> None:
    """DEPLOY_MODE=swarm (set by compose/swarm.yml): users' servers become swarm services."""
    if s["DEPLOY_MODE"] != "swarm":
        return
    c.JupyterHub.spawner_class = "jhdeploy.spawners.VolumeSwarmSpawner"
    c.SwarmSpawner.ready_poll_max = float(s["SPAWN_READY_POLL"])
    if s["SWARM_ENDPOINT_MODE"] == "dnsrr":
        c.SwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
    constraints = [item.strip() for item in s["SWARM_USER_CONSTRAINTS"].split(";") if item.strip()]
    if constraints:
        c.SwarmSpawner.extra_placement_spec = {"constraints": constraints}
    # Services take limits as Resources, not host config.
    if s["NOTEBOOK_CPU_LIMIT"]:
        c.SwarmSpawner.cpu_limit = float(s["NOTEBOOK_CPU_LIMIT"])
    if s["NOTEBOOK_MEM_RESERVATION"]:
        c.SwarmSpawner.mem_guarantee = s["NOTEBOOK_MEM_RESERVATION"]
    if s["NOTEBOOK_CPU_RESERVATION"]:
        c.SwarmSpawner.cpu_guarantee = float(s["NOTEBOOK_CPU_RESERVATION"])


def announcement(user=None) -> str:
    """The banner `invoke announce` writes; read on every page, so no restart is needed."""
    path = HUB_ROOT / "conf" / ANNOUNCEMENT_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def update_database(s, c, read=read_file) -> None:
    """SQLite lives on the data volume so that it survives stop, start and rebuilds.

    With postgres the password comes from the mounted secret. It has to be in the
    URL (alembic's schema check sees only the URL); JupyterHub redacts it in logs.
    """
    url = s["JUPYTERHUB_DB_URL"]
    if url == "sqlite":
        url = f"sqlite:///{s['DATA_VOLUME_CONTAINER']}/jupyterhub.sqlite"
    elif url == "postgres":
        password = quote(read(container_secret("postgres_password")).strip(), safe="")
        url = f"postgresql+psycopg2://{s['POSTGRES_USER']}:{password}@{POSTGRES_SERVICE}:5432/{s['POSTGRES_DB']}"
    c.JupyterHub.db_url = url


def update_tls(s, c) -> None:
    if s["JUPYTERHUB_SSL"] == "use_ssl_ss":
        c.JupyterHub.ssl_cert = str(container_secret("ssl_cert"))
        c.JupyterHub.ssl_key = str(container_secret("ssl_key"))


def update_secrets(s, c, read=read_file) -> None:
    """Secrets come from files that Compose mounts at runtime, never from the image."""
    c.JupyterHub.cookie_secret_file = str(container_secret("cookie_secret"))
    c.ConfigurableHTTPProxy.auth_token = read(container_secret("proxy_token")).strip()


def configure_dummy(s, users, c, read) -> None:
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = s["DUMMY_AUTH_PASSWORD"]
    allow_userlist(users, c)


def configure_tmp(s, users, c, read) -> None:
    """Every visitor gets a fresh user: userlist must not block anyone."""
    c.JupyterHub.authenticator_class = "tmpauthenticator.TmpAuthenticator"
    c.TmpAuthenticator.allow_all = True


def configure_hash(s, users, c, read) -> None:
    c.JupyterHub.authenticator_class = "hashauthenticator.HashAuthenticator"
    c.HashAuthenticator.secret_key = read(container_secret("hash_secret_key")).strip()
    c.HashAuthenticator.password_length = int(s["HASH_PASSWORD_LENGTH"])
    allow_userlist(users, c)


def configure_native(s, users, c, read) -> None:
    """Sign-up decides who may log in (with admin approval unless open); userlist names the admins."""
    compat.patch_nativeauthenticator()
    c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
    c.NativeAuthenticator.open_signup = s["NATIVEAUTH_SIGNUP"] == "open_signup"
    c.NativeAuthenticator.ask_email_on_signup = settings_module.is_yes(s["NATIVEAUTH_EMAIL"])
    c.NativeAuthenticator.minimum_password_length = int(s["NATIVEAUTH_MIN_PASSWORD_LENGTH"])
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = int(s["NATIVEAUTH_FAILED_LOGINS"])
    c.NativeAuthenticator.seconds_before_next_try = int(s["NATIVEAUTH_LOCKOUT_SECONDS"])
    c.NativeAuthenticator.allow_all = True
    c.Authenticator.admin_users = set(users.admins)


def configure_github(s, users, c, read) -> None:
    c.JupyterHub.authenticator_class = "oauthenticator.github.GitHubOAuthenticator"
    c.GitHubOAuthenticator.client_id = s["GITHUB_CLIENT_ID"]
    c.GitHubOAuthenticator.client_secret = oauth_client_secret(read)
    c.GitHubOAuthenticator.oauth_callback_url = callback_url(s)
    if s["GITHUB_URL"]:
        c.GitHubOAuthenticator.github_url = s["GITHUB_URL"]
    c.GitHubOAuthenticator.allowed_organizations = settings_module.names(s["GITHUB_ALLOWED_ORGS"])
    allow_userlist(users, c)


def configure_generic(s, users, c, read) -> None:
    """Any OpenID Connect provider; endpoints from discovery unless given one by one."""
    c.JupyterHub.authenticator_class = "oauthenticator.generic.GenericOAuthenticator"
    endpoints = discover(s["OAUTH_DISCOVERY_URL"]) if s["OAUTH_DISCOVERY_URL"] else {}
    g = c.GenericOAuthenticator
    g.authorize_url = s["OAUTH_AUTHORIZE_URL"] or endpoints["authorization_endpoint"]
    g.token_url = s["OAUTH_TOKEN_URL"] or endpoints["token_endpoint"]
    g.userdata_url = s["OAUTH_USERDATA_URL"] or endpoints["userinfo_endpoint"]
    g.client_id = s["OAUTH_CLIENT_ID"]
    g.client_secret = oauth_client_secret(read)
    g.oauth_callback_url = callback_url(s)
    g.scope = s["OAUTH_SCOPES"].split()
    g.username_claim = s["OAUTH_USERNAME_CLAIM"]
    g.login_service = s["OAUTH_LOGIN_SERVICE"]
    # The provider's groups become JupyterHub groups, and decide who may log in and who is admin.
    g.manage_groups = True
    g.auth_state_groups_key = f"oauth_user.{s['OAUTH_GROUPS_CLAIM']}"
    g.allowed_groups = settings_module.names(s["OAUTH_ALLOWED_GROUPS"])
    g.admin_groups = settings_module.names(s["OAUTH_ADMIN_GROUPS"])
    allow_userlist(users, c)


AUTHENTICATORS = {
    "dummy_authenticator": configure_dummy,
    "tmp_authenticator": configure_tmp,
    "hash_authenticator": configure_hash,
    "native_authenticator": configure_native,
    "github_authenticator": configure_github,
    "generic_oauth": configure_generic,
}


def allow_userlist(users: userlist_module.Userlist, c) -> None:
    """userlist is the source of truth: a name removed from it loses access on restart."""
    c.Authenticator.allowed_users = set(users.allowed)
    c.Authenticator.admin_users = set(users.admins)
    c.Authenticator.allow_existing_users = False


def callback_url(s) -> str:
    return s["OAUTH_CALLBACK_URL"] or public_url(s) + "hub/oauth_callback"


def oauth_client_secret(read) -> str:
    """secrets/oauth_client_secret, mounted by compose/oauth.yml (`invoke start` copies it from .env)."""
    return read(container_secret("oauth_client_secret")).strip()


def discover(url: str, fetch=None) -> dict:
    """Read an OpenID Connect discovery document; exit with a clear message if it cannot be read."""
    try:
        document = (fetch or fetch_json)(url)
        return {key: document[key] for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")}
    except Exception as error:  # any failure means the same thing to the admin
        sys.exit(f"OAUTH_DISCOVERY_URL={url!r} could not be read ({error}); check the URL and that the hub "
                 "can reach it, or set OAUTH_AUTHORIZE_URL, OAUTH_TOKEN_URL and OAUTH_USERDATA_URL instead.")


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def update_auth(s, users: userlist_module.Userlist, c, read=read_file) -> None:
    AUTHENTICATORS[s["JUPYTERHUB_AUTHENTICATOR"]](s, users, c, read)


def update_named_servers(s, c) -> None:
    c.JupyterHub.allow_named_servers = settings_module.is_yes(s["ALLOW_NAMED_SERVERS"])
    c.JupyterHub.named_server_limit_per_user = int(s["NAMED_SERVERS_MAX"])


UI_PATHS = {"/lab": "/lab", "lab": "/lab", "/tree": "/tree", "tree": "/tree", "notebook": "/tree"}


def update_ui(s, c) -> None:
    """JUPYTER_UI picks the page a server opens on; the original `notebook` means Notebook 7's /tree."""
    c.Spawner.default_url = UI_PATHS[s["JUPYTER_UI"]]


def update_branding(s, c) -> None:
    """A logo from conf/, and templates in conf/templates that override JupyterHub's own."""
    logo = HUB_ROOT / s["LOGO_IMAGE"]
    if s["LOGO_IMAGE"] and logo.is_file():  # `invoke start` warns when it is not
        c.JupyterHub.logo_file = str(logo)
    c.JupyterHub.template_paths = [str(HUB_ROOT / "conf" / "templates")]
    c.JupyterHub.template_vars = {"announcement": announcement}


def update_logging(s, c) -> None:
    c.JupyterHub.log_level = s["JUPYTERHUB_LOG_LEVEL"]


def apply_config(s, users: userlist_module.Userlist, c, read_secret=read_file) -> None:
    update_network(s, c)
    update_spawner(s, c)
    update_database(s, c, read_secret)
    update_tls(s, c)
    update_secrets(s, c, read_secret)
    update_auth(s, users, c, read_secret)
    update_named_servers(s, c)
    update_limits(s, c)
    update_profiles(s, c)
    update_culler(s, c)
    update_swarm(s, c)
    update_ui(s, c)
    update_branding(s, c)
    update_logging(s, c)


def load_settings(root: Path = HUB_ROOT) -> settings_module.Settings:
    """The mounted .env, with what Compose pins for the hub (such as JUPYTERHUB_SSL under --le)."""
    try:
        return settings_module.load(root / ".env", settings_module.environment_overrides(os.environ))
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
