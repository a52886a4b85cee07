"""Map the decisions that the tasks wrote to JupyterHub traitlets.

The tasks resolve, validate and type every value on the host and decide what
follows from them (jhdeploy/stack.py, `Stack.hub_settings`): the database URL,
the notebook image, the mounts, the services and roles, HSTS, the OAuth callback.
This module maps each entry to traitlets and decides nothing. Each `update_*`
function takes those decisions and a traitlets `Config` and only *sets* values,
so that unit tests can apply it to a bare `Config()`.
"""

from __future__ import annotations

import functools
import json
import sys
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from jhdeploy_hub import authenticators, compat, contract, diskuse, groups, sharing

CONF = Path(contract.CONF)
ANNOUNCEMENT = CONF / contract.ANNOUNCEMENT_FILE


def read_file(path) -> str:
    return Path(path).read_text(encoding="utf-8")


def load_settings(path: Path = Path(contract.SETTINGS_FILE)) -> dict:
    try:
        hub = json.loads(read_file(path))
    except (OSError, ValueError) as error:
        sys.exit(f"Cannot read the hub's settings ({error}); `invoke start` writes them. Run `invoke restart`.")
    if hub.get("format") != contract.SETTINGS_FORMAT:
        sys.exit(f"{path} has format {hub.get('format')!r}, this hub reads {contract.SETTINGS_FORMAT}: "
                 "rebuild with `invoke build`.")
    return hub


def user_volume_name(template: str, spawner) -> str:
    """DockerSpawner.format_volume_name: adds `{server_suffix}` ('' or '--NAME')."""
    namespace = spawner.template_namespace()
    servername = namespace.get("servername", "")
    namespace["server_suffix"] = f"--{servername}" if servername else ""
    return template.format(**namespace)


def update_network(hub, c) -> None:
    """Users reach the hub by its service name on the stack's network."""
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_connect_ip = hub["hub_service"]
    c.DockerSpawner.network_name = hub["settings"]["DOCKER_NETWORK_NAME"]
    c.DockerSpawner.use_internal_ip = True


def update_spawner(hub, c) -> None:
    """One container per server, removed on stop; one volume per server, kept."""
    s = hub["settings"]
    c.JupyterHub.spawner_class = "jhdeploy_hub.spawners.ReadyDockerSpawner"
    c.DockerSpawner.ready_poll_max = s["SPAWN_READY_POLL"]
    c.DockerSpawner.image = hub["notebook_image"]
    c.DockerSpawner.pull_policy = s["DOCKER_NOTEBOOK_PULL_POLICY"]
    c.DockerSpawner.cmd = s["DOCKER_SPAWN_CMD"]
    c.DockerSpawner.prefix = hub["project"]
    c.DockerSpawner.notebook_dir = s["DOCKER_NOTEBOOK_DIR"]
    c.DockerSpawner.volumes = hub["volumes"]
    c.DockerSpawner.format_volume_name = user_volume_name
    if s["USER_STORAGE_PATH"]:
        c.DockerSpawner.user_storage = s["USER_STORAGE_PATH"]
        c.DockerSpawner.user_storage_owner = (s["NB_UID"], s["NB_GID"])
    # Removed by the spawner when it stops, after it has logged what a crashed server printed.
    c.DockerSpawner.remove = True
    # Labels let `invoke stop` find containers the hub left behind, and `invoke logs --user` a user's.
    labels = hub["labels"]
    create = {"labels": {labels["stack"]: hub["project"], labels["user"]: "{raw_username}",
                         labels["server"]: "{raw_servername}", labels["groups"]: hub["groups"]["digest"]}}
    if hub["mode"] != "swarm":  # a service takes it in its container spec (update_swarm)
        # Nothing reads a server's health (the spawner checks that it answers), and the image's check
        # starts Python in every container every 15 s: with a class running, 7 a second.
        create["healthcheck"] = {"Test": ["NONE"]}
    c.DockerSpawner.extra_create_kwargs = create


def update_limits(hub, c) -> None:
    """Per-user memory, CPU, GPUs and logs, and timeouts sized for large images on slow disks.

    CPU goes through Docker's NanoCpus rather than DockerSpawner.cpu_limit (a
    quota and period), so that `docker inspect` shows it as `--cpus` would.
    """
    s = hub["settings"]
    if s["NOTEBOOK_MEM_LIMIT"]:
        c.DockerSpawner.mem_limit = s["NOTEBOOK_MEM_LIMIT"]
    host_config = {
        # Not Docker's AutoRemove: a crashed server's container stays until the spawner has read its log.
        "auto_remove": False,
        "log_config": {"type": "json-file", "config": log_options(s)},
        # The server runs as the notebook user and needs no capability and no setuid program.
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "pids_limit": s["NOTEBOOK_PIDS_LIMIT"],
    }
    if s["NOTEBOOK_CPU_LIMIT"]:
        host_config["nano_cpus"] = int(s["NOTEBOOK_CPU_LIMIT"] * 1e9)
        # DockerSpawner's cpu_limit defaults to 0.0, which still sets a CPU period,
        # and Docker refuses a period together with NanoCpus.
        c.DockerSpawner.cpu_limit = None
    if s["NOTEBOOK_GPUS"]:
        host_config["device_requests"] = [gpu_request(s["NOTEBOOK_GPUS"])]
    c.DockerSpawner.extra_host_config = host_config
    c.Spawner.start_timeout = s["SPAWN_TIMEOUT"]
    c.Spawner.http_timeout = s["HTTP_TIMEOUT"]


def update_start_pace(hub, c) -> None:
    """SPAWN_CONCURRENCY's queue. JupyterHub refuses new spawns past concurrent_spawn_limit (100), and a
    user waiting in the queue counts as a pending spawn: a class of 120 would see 429s. The queue paces
    the starts, so the limit only guards against runaway clients."""
    c.DockerSpawner.start_concurrency = hub["start_concurrency"]
    c.JupyterHub.concurrent_spawn_limit = 500


def log_options(s) -> dict:
    """The same rotation as every service of the stack (compose/*.yml)."""
    return {"max-size": s["LOG_MAX_SIZE"], "max-file": str(s["LOG_MAX_FILES"])}


def gpu_request(gpus):
    """A Docker device request for NVIDIA GPUs: `all`, or a list of device ids."""
    from docker.types import DeviceRequest

    if gpus == "all":
        return DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])
    return DeviceRequest(driver="nvidia", device_ids=gpus, capabilities=[["gpu"]])


def update_profiles(hub, c) -> None:
    """NOTEBOOK_IMAGES: what a user may pick at spawn time; nothing outside the list."""
    if hub["settings"]["NOTEBOOK_IMAGES"]:
        c.DockerSpawner.allowed_images = hub["settings"]["NOTEBOOK_IMAGES"]


def update_groups(hub, c) -> None:
    """conf/groups.toml (jhdeploy_hub.groups): per group images, limits and folders; from userlist, each
    user's groups. Nothing changes without a groups file or a group in userlist."""
    plan, s = hub["groups"], hub["settings"]
    if plan["groups"]:
        c.DockerSpawner.allowed_images = functools.partial(groups.allowed_images, plan, s["NOTEBOOK_IMAGES"])
        c.DockerSpawner.options_form = functools.partial(groups.options_form, plan, s["NOTEBOOK_IMAGES"])
        c.Spawner.group_overrides = groups.overrides(plan, hub["mode"])
        if "named_servers" in plan["limits"]:
            c.JupyterHub.named_server_limit_per_user = functools.partial(
                groups.named_server_limit, plan, s["NAMED_SERVERS_MAX"])
    if hub["user_groups"] is not None:
        c.JupyterHub.authenticator_class = authenticators.with_userlist_groups(c.JupyterHub.authenticator_class)
        c.Authenticator.user_groups = hub["user_groups"]
        c.Authenticator.manage_groups = True
        c.Authenticator.refresh_pre_spawn = True


def update_services(hub, c, read=read_file) -> None:
    """The hub's services and their roles, merged by name as the tasks listed them (the idle culler
    among them): a process the hub runs with this Python, or an outside service with its token."""
    services = []
    for name, spec in hub["services"].items():
        service = {"name": name}
        if "module" in spec:
            service["command"] = [sys.executable, "-m", spec["module"], *spec["args"]]
        if "token_file" in spec:
            service["api_token"] = read(spec["token_file"]).strip()
        services.append(service)
    # None: JupyterHub's defaults stay, for conf/jupyterhub_config.d to extend.
    if services:
        c.JupyterHub.services = services
    if hub["roles"]:
        c.JupyterHub.load_roles = [{"name": name, **role} for name, role in hub["roles"].items()]


def update_sharing(hub, c) -> None:
    """SHARING: the share page (jhdeploy_hub.sharing), and real-time collaboration in users' servers, which
    the notebook image turns on when it sees JHDEPLOY_SHARING. The user role's scopes come with the roles
    (update_services). JupyterHub logs that extra_handlers is deprecated in favour of a service: a service's
    page could not call the hub's API with the user's own session."""
    on, by_name = hub["settings"]["SHARING"], hub["settings"]["SHARING_BY_NAME"]
    if on:
        compat.patch_group_share_tokens()
        c.JupyterHub.extra_handlers = [(r"/shares", sharing.SharesHandler, {"by_name": by_name})]
        c.Spawner.environment = {"JHDEPLOY_SHARING": "1"}


def end_shares_when_off(hub, c) -> None:
    """With SHARING off, no share outlives the restart (jhdeploy_hub.sharing.end_all); the hub's own start
    runs this after apply_config, which only sets values."""
    if not hub["settings"]["SHARING"]:
        sharing.end_all(c.JupyterHub.db_url, lambda message: print(message, file=sys.stderr))


def update_swarm(hub, c) -> None:
    """`invoke swarm-deploy`: users' servers become swarm services."""
    if hub["mode"] != "swarm":
        return
    s = hub["settings"]
    c.JupyterHub.spawner_class = "jhdeploy_hub.spawners.VolumeSwarmSpawner"
    c.SwarmSpawner.ready_poll_max = s["SPAWN_READY_POLL"]
    if s["SWARM_ENDPOINT_MODE"] == "dnsrr":
        c.SwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
    # As with containers, swarm never restarts a server by itself (on another node, if its node was
    # drained or lost): the hub notices that it stopped, and the user starts it again from the hub.
    c.SwarmSpawner.extra_task_spec = {"restart_policy": {"Condition": "none"}}
    c.SwarmSpawner.extra_container_spec = {
        # A swarm task counts as running only once the image's health check has passed (every 15 s in
        # our image): the spawner's own readiness wait checks the server instead (docs/scaling.md).
        "healthcheck": {"Test": ["NONE"]},
        # On the container too (the service has its own labels): the fence finds the servers by it.
        "labels": {hub["labels"]["stack"]: hub["project"]},
        # As in Compose mode (extra_host_config, which services do not take): no capability, so no raw
        # packets either, which could pose as the hub to another user's server.
        "cap_drop": ["ALL"],
    }
    if s["SWARM_USER_CONSTRAINTS"]:
        c.SwarmSpawner.extra_placement_spec = {"constraints": s["SWARM_USER_CONSTRAINTS"]}
    # Services take limits as Resources, not host config.
    if s["NOTEBOOK_CPU_LIMIT"]:
        c.SwarmSpawner.cpu_limit = s["NOTEBOOK_CPU_LIMIT"]
    if s["NOTEBOOK_MEM_RESERVATION"]:
        c.SwarmSpawner.mem_guarantee = s["NOTEBOOK_MEM_RESERVATION"]
    if s["NOTEBOOK_CPU_RESERVATION"]:
        c.SwarmSpawner.cpu_guarantee = s["NOTEBOOK_CPU_RESERVATION"]


def announcement(user=None) -> str:
    """The banner `invoke announce` writes; read on every page, so no restart is needed."""
    return ANNOUNCEMENT.read_text(encoding="utf-8").strip() if ANNOUNCEMENT.is_file() else ""


def update_disk(hub, c) -> None:
    """NOTEBOOK_DISK_LIMIT (and groups' disk_limit) and DISK_RESERVE, from the disk-scan service's figures
    (jhdeploy_hub.diskuse); Compose mode only."""
    if hub["disk_state"]:
        c.DockerSpawner.disk_state = hub["disk_state"]
        c.DockerSpawner.disk_limit = hub["settings"]["NOTEBOOK_DISK_LIMIT"]
        c.DockerSpawner.disk_group_limits = hub["groups"]["limits"].get("disk_limit", [])


def disk_notice(hub, user=None) -> str:
    """The banner of a user near or over their disk limit; read on every page, from the last scan."""
    if user is None or not hub["disk_state"]:
        return ""
    limit = diskuse.limit_of(hub["groups"], hub["settings"]["NOTEBOOK_DISK_LIMIT"], groups.names_of(user))
    return diskuse.notice(diskuse.used_by(diskuse.read_usage(Path(hub["disk_state"])), user.name), limit)


def update_database(hub, c, read=read_file) -> None:
    """The URL the tasks resolved; with the stack's PostgreSQL, the password from its mounted secret.

    It has to be in the URL (alembic's schema check sees only the URL); JupyterHub redacts it in logs.
    """
    url, password_file = hub["database"]["url"], hub["database"]["password_file"]
    if password_file:
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        password = quote(read(password_file).strip(), safe="")
        url = urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))
    c.JupyterHub.db_url = url


def update_proxy(hub, c) -> None:
    """The proxy is a service of its own: the hub neither starts nor stops it, and a hub
    that stops leaves users' servers running. On start it checks the proxy's routes against
    the servers that still run, and forgets the servers that died meanwhile."""
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = hub["proxy_api"]
    c.JupyterHub.cleanup_servers = False
    # Routes are checked this often too: a proxy that restarted on its own gets them back soon.
    c.JupyterHub.last_activity_interval = 30
    if hub["public_url"]:
        c.JupyterHub.public_url = hub["public_url"]
    if hub["hsts"]:
        c.JupyterHub.tornado_settings = {"headers": {"Strict-Transport-Security": "max-age=31536000"}}


def update_secrets(hub, c, read=read_file) -> None:
    """Secrets come from the files that Compose mounts at runtime, never from the image or the settings:
    each trait the tasks named gets a secret's content, or its path."""
    for secret in hub["secrets"].values():
        for trait in secret["content_traits"]:
            section, name = trait.split(".")
            setattr(c[section], name, read(secret["path"]).strip())
        for trait in secret["path_traits"]:
            section, name = trait.split(".")
            setattr(c[section], name, secret["path"])


def allow_userlist(hub, c) -> None:
    """userlist is the source of truth: a name removed from it loses access on restart."""
    c.Authenticator.allowed_users = set(hub["users"]["allowed"])
    c.Authenticator.admin_users = set(hub["users"]["admins"])
    c.Authenticator.allow_existing_users = False
    c.Authenticator.allow_all = False  # an empty userlist lets nobody in


def configure_shared_password(hub, c) -> None:
    """dummy_authenticator: one password for the users in userlist, the admins' own for admins."""
    c.JupyterHub.authenticator_class = "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
    allow_userlist(hub, c)


def configure_tmp(hub, c) -> None:
    """Every visitor gets a fresh user, deliberately; their number of servers is capped, and a
    temporary user's volume goes with the server (the culler deletes the user after it)."""
    c.JupyterHub.authenticator_class = "tmpauthenticator.TmpAuthenticator"
    c.TmpAuthenticator.allow_all = True
    c.JupyterHub.active_server_limit = hub["settings"]["TMP_ACTIVE_SERVER_LIMIT"]
    if hub["temporary_volume"]:
        c.DockerSpawner.temporary_volume = hub["temporary_volume"]


def configure_hash(hub, c) -> None:
    c.JupyterHub.authenticator_class = "hashauthenticator.HashAuthenticator"
    c.HashAuthenticator.password_length = hub["settings"]["HASH_PASSWORD_LENGTH"]
    allow_userlist(hub, c)


def configure_native(hub, c) -> None:
    """Sign-up decides who may log in (with admin approval unless open); userlist names the admins."""
    s = hub["settings"]
    compat.patch_nativeauthenticator()
    c.JupyterHub.authenticator_class = "jhdeploy_hub.authenticators.AdminsFirstNativeAuthenticator"
    c.NativeAuthenticator.open_signup = s["NATIVEAUTH_SIGNUP"] == "open_signup"
    c.NativeAuthenticator.ask_email_on_signup = s["NATIVEAUTH_EMAIL"]
    c.NativeAuthenticator.minimum_password_length = s["NATIVEAUTH_MIN_PASSWORD_LENGTH"]
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = s["NATIVEAUTH_FAILED_LOGINS"]
    c.NativeAuthenticator.seconds_before_next_try = s["NATIVEAUTH_LOCKOUT_SECONDS"]
    # Deliberate: sign-up and the admins' authorization decide who gets in, not a list.
    c.NativeAuthenticator.allow_all = True
    c.Authenticator.admin_users = set(hub["users"]["admins"])


def configure_github(hub, c) -> None:
    """GitHub (or GitHub Enterprise) OAuth: members of the organizations, besides userlist."""
    c.JupyterHub.authenticator_class = "oauthenticator.github.GitHubOAuthenticator"
    github, s = c.GitHubOAuthenticator, hub["settings"]
    github.oauth_callback_url = hub["oauth_callback_url"]
    github.client_id = s["GITHUB_CLIENT_ID"]
    if s["GITHUB_URL"]:
        github.github_url = s["GITHUB_URL"]
    github.allowed_organizations = set(s["GITHUB_ALLOWED_ORGS"])
    # The user's GitHub teams, by slug, become their JupyterHub groups at each login.
    github.scope = ["read:org"]
    github.populate_teams_in_auth_state = True
    github.manage_groups = True
    github.auth_state_groups_key = github_team_slugs
    allow_userlist(hub, c)


def github_team_slugs(auth_state: dict) -> list[str]:
    return sorted(team["slug"] for team in auth_state.get("teams") or [])


def configure_generic(hub, c) -> None:
    """Any OpenID Connect provider; endpoints from discovery unless given one by one."""
    s = hub["settings"]
    c.JupyterHub.authenticator_class = "oauthenticator.generic.GenericOAuthenticator"
    endpoints = discover(s["OAUTH_DISCOVERY_URL"]) if s["OAUTH_DISCOVERY_URL"] else {}
    g = c.GenericOAuthenticator
    g.authorize_url = s["OAUTH_AUTHORIZE_URL"] or endpoints["authorization_endpoint"]
    g.token_url = s["OAUTH_TOKEN_URL"] or endpoints["token_endpoint"]
    g.userdata_url = s["OAUTH_USERDATA_URL"] or endpoints["userinfo_endpoint"]
    g.client_id = s["OAUTH_CLIENT_ID"]
    g.oauth_callback_url = hub["oauth_callback_url"]
    g.scope = s["OAUTH_SCOPES"]
    g.username_claim = s["OAUTH_USERNAME_CLAIM"]
    g.login_service = s["OAUTH_LOGIN_SERVICE"]
    # The provider's groups become JupyterHub groups, and decide who may log in and who is admin.
    g.manage_groups = True
    g.auth_state_groups_key = f"oauth_user.{s['OAUTH_GROUPS_CLAIM']}"
    g.allowed_groups = set(s["OAUTH_ALLOWED_GROUPS"])
    g.admin_groups = set(s["OAUTH_ADMIN_GROUPS"])
    allow_userlist(hub, c)


AUTHENTICATORS = {f.__name__: f for f in (configure_shared_password, configure_tmp, configure_hash,
                                          configure_native, configure_github, configure_generic)}


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


def update_auth(hub, c) -> None:
    AUTHENTICATORS[hub["authenticator"]](hub, c)


def update_named_servers(hub, c) -> None:
    c.JupyterHub.allow_named_servers = hub["settings"]["ALLOW_NAMED_SERVERS"]
    c.JupyterHub.named_server_limit_per_user = hub["settings"]["NAMED_SERVERS_MAX"]


def update_ui(hub, c) -> None:
    """JUPYTER_UI: the page a server opens on, /lab or /tree (resolved by the tasks)."""
    c.Spawner.default_url = hub["settings"]["JUPYTER_UI"]


def update_branding(hub, c) -> None:
    """A logo from conf/, and templates in conf/templates that override JupyterHub's own."""
    if hub["logo_file"]:
        c.JupyterHub.logo_file = hub["logo_file"]
    c.JupyterHub.template_paths = [str(CONF / "templates")]
    c.JupyterHub.template_vars = {"announcement": announcement, "disk_notice": functools.partial(disk_notice, hub),
                                  "sharing": hub["settings"]["SHARING"]}


def update_logging(hub, c) -> None:
    c.JupyterHub.log_level = hub["settings"]["JUPYTERHUB_LOG_LEVEL"]


def resolve_names_afresh() -> None:
    """JupyterHub's HTTP client (aiohttp) prefers c-ares (aiodns) where it is installed, as in our images, and
    c-ares keeps an answer for its TTL: 600 s from Docker's DNS. A proxy that moved (a new swarm task, a new
    container without the fence's fixed addresses) would then stay unreachable for ten minutes. Each
    connection asks the system's resolver instead, as Python's own clients do. JupyterHub 5 speaks through
    Tornado, which already does, and has no aiohttp."""
    try:
        import aiohttp.connector
        import aiohttp.resolver
    except ImportError:
        return
    aiohttp.connector.DefaultResolver = aiohttp.resolver.ThreadedResolver


def apply_config(hub: dict, c, read_secret=read_file) -> None:
    resolve_names_afresh()
    update_network(hub, c)
    update_spawner(hub, c)
    update_database(hub, c, read_secret)
    update_proxy(hub, c)
    update_secrets(hub, c, read_secret)
    update_auth(hub, c)
    update_named_servers(hub, c)
    update_limits(hub, c)
    update_start_pace(hub, c)
    update_profiles(hub, c)
    update_groups(hub, c)
    update_disk(hub, c)
    update_services(hub, c, read_secret)
    update_sharing(hub, c)
    update_swarm(hub, c)
    update_ui(hub, c)
    update_branding(hub, c)
    update_logging(hub, c)


def snippets(directory: Path = CONF / "jupyterhub_config.d") -> list[Path]:
    """The escape hatch: `jupyterhub_config.d/*.py`, in name order."""
    return sorted(directory.glob("*.py")) if directory.is_dir() else []
