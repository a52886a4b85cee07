"""One record per option choice and per secret: plain data that the rest of the code asks.

Every `compose/*.yml` file belongs to exactly one `Override`; an SSL mode, an
authenticator, a database or an add-on names the overrides it needs, and an
add-on may add services to the hub (`HubService`: a managed process or a token,
with its role). Each file under `secrets/` has one `Secret`. The code asks these
records which files, ports, volumes, secrets, services and hub traits a stack
has; it does not branch on their names. validation.py holds the rules that the
records' fields call for, stack.py what a chosen set of records means, and
tests/unit/test_options.py checks each record against `compose config`.

docs/development.md walks through adding an option, with the edits it takes.
This module imports only layout's service names, so every other module may ask it.
"""

from __future__ import annotations

from dataclasses import dataclass

from jhdeploy.layout import DISK_SCAN_SERVICE, HUB_SERVICE, POSTGRES_SERVICE, PROXY_SERVICE


@dataclass(frozen=True)
class Override:
    """A Compose file and everything it adds to the stack."""

    compose: str
    services: tuple[str, ...] = ()  # services it defines
    ports: tuple[str, ...] = ()  # settings that name the host ports it publishes
    volumes: tuple[str, ...] = ()  # settings that name the external volumes it mounts
    secrets: tuple[str, ...] = ()  # Secret names it mounts as files (into the hub, unless copied)
    # Secrets copied into a container that does not run as root, through the variable
    # JHDEPLOY_SECRET_<NAME> of the Compose process (an `environment:` Compose secret).
    copied: tuple[str, ...] = ()


# The hub, the proxy, their network and the hub's data volume: always there.
BASE = Override("compose/base.yml", services=(HUB_SERVICE, PROXY_SERVICE), volumes=("DATA_VOLUME_HOST",),
                secrets=("cookie_secret", "proxy_token"), copied=("proxy_token",))


# --- Secrets (files under secrets/, mounted at /run/secrets/NAME) ---------------------------------

@dataclass(frozen=True)
class Secret:
    name: str  # the Compose secret, and its path in a container: /run/secrets/NAME
    file: str  # under secrets/ on the host
    # How `invoke setup` makes it: "hex" or "urlsafe" (Python's secrets, `length` bytes), "certificate"
    # (the self-signed one, for use_ssl_ss only), or "" when the admin gives it.
    generate: str = ""
    length: int = 32
    content_traits: tuple[str, ...] = ()  # hub traits ("Class.trait") set to its content
    path_traits: tuple[str, ...] = ()  # hub traits set to its path in the hub
    masked: bool = True  # replaced by ******** wherever the tasks print text that may hold it
    archived: bool = True  # `invoke backup` puts it into the secrets archive (never with --no-secrets)
    restic_path: str = ""  # where the restic containers of the backup service see it, if they need it
    notice: str = ""  # said loudly, once, when `invoke setup` makes it


SECRETS = {secret.name: secret for secret in (
    Secret("proxy_token", "proxy_token", "hex", content_traits=("ConfigurableHTTPProxy.auth_token",)),
    # JupyterHub reads its cookie secret from the file, and wants hex.
    Secret("cookie_secret", "cookie_secret", "hex", path_traits=("JupyterHub.cookie_secret_file",)),
    Secret("postgres_password", "postgres_password", "urlsafe"),  # the hub puts it into the database URL
    Secret("hash_secret_key", "hash_secret_key", "hex", content_traits=("HashAuthenticator.secret_key",)),
    Secret("oauth_client_secret", "oauth_client_secret", content_traits=("OAuthenticator.client_secret",)),
    # dummy_authenticator's users, unless DUMMY_AUTH_PASSWORD sets it.
    Secret("shared_password", "shared_password", "urlsafe", 16,
           content_traits=("SharedPasswordAuthenticator.user_password",)),
    # dummy_authenticator's admins (SharedPasswordAuthenticator wants 32 characters or more),
    # or the key of native_authenticator admins' first passwords.
    Secret("admin_password", "admin_password", "urlsafe",
           content_traits=("SharedPasswordAuthenticator.admin_password", "AdminsFirstNativeAuthenticator.admin_key")),
    Secret("ssl_cert", "jupyterhub.crt", "certificate", masked=False),  # a certificate is public
    Secret("ssl_key", "jupyterhub.key", "certificate"),
    # The snapshots' repository password (BACKUP_SCHEDULE). The snapshots hold the other secrets, not this one.
    Secret("restic_password", "restic_password", "urlsafe", restic_path="/run/secrets/restic_password",
           notice="secrets/restic_password encrypts the snapshots (BACKUP_SCHEDULE). Without it they cannot "
                  "be read: print it with `cat secrets/restic_password` and keep a copy somewhere safe, "
                  "away from this host."),
    # An sftp: repository's login, and its host key (public, but refused unless it is this one).
    Secret("backup_ssh_key", "backup_ssh_key", restic_path="/root/.ssh/id_ed25519"),
    Secret("backup_known_hosts", "backup_known_hosts", masked=False, restic_path="/root/.ssh/known_hosts"),
    # An s3: repository's keys, as an AWS shared credentials file.
    Secret("backup_s3_credentials", "backup_s3_credentials", restic_path="/root/.aws/credentials"),
    # Prometheus' token for the hub's /hub/metrics (its role has read:metrics only).
    Secret("metrics_token", "metrics_token", "hex"),
    # Alertmanager's receivers: given in .env (ALERT_WEBHOOK_URL, ALERT_SMTP_PASSWORD) or written here.
    Secret("alert_webhook_url", "alert_webhook_url"),
    Secret("alert_smtp_password", "alert_smtp_password"),
)}


# --- Snapshot repositories (BACKUP_REPOSITORY) ----------------------------------------------------

@dataclass(frozen=True)
class Repository:
    scheme: str  # how BACKUP_REPOSITORY starts; "" for a folder on this host
    secrets: tuple[str, ...] = ()  # the Secrets the restic containers need for it, beyond the password


REPOSITORIES = (Repository("sftp:", ("backup_ssh_key", "backup_known_hosts")),
                Repository("s3:", ("backup_s3_credentials",)), Repository("rest:"), Repository(""))


def repository_of(value: str) -> Repository:
    return next(kind for kind in REPOSITORIES if value.startswith(kind.scheme))


# --- Services of the hub (JupyterHub's `services` and `load_roles`) ------------------------------

@dataclass(frozen=True)
class HubService:
    """A JupyterHub service with a role of its own: a process the hub runs, or an outside one with a token.

    `args` are formatted with the stack's settings and decisions (stack.Stack.hub_namespace)."""

    name: str
    scopes: tuple[str, ...]
    scopes_when: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (decision, more scopes while it holds)
    module: str = ""  # a Python module of the hub image that the hub runs as the service
    args: tuple[str, ...] = ()
    token: str = ""  # a Secret whose content is the service's API token


# --- SSL modes (JUPYTERHUB_SSL) -------------------------------------------------------------

LETS_ENCRYPT = {
    "": "https://acme-v02.api.letsencrypt.org/directory",
    "--staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True)
class SslMode:
    name: str
    override: Override
    scheme: str  # of the public URL
    port_key: str  # the setting whose port is in the public URL
    verify: str  # how this host checks the hub: with the "generated" certificate, "by_name" (SNI), or "none"
    default_bind_ip: str = "0.0.0.0"  # where the public port listens unless JUPYTERHUB_BIND_IP says
    # The certificate comes over ACME: it needs a public JH_FQDN, JH_EMAIL and an ACME server; not on swarm yet.
    acme: bool = False
    front: str | None = None  # a service in front of the proxy, if any: `invoke status` shows it
    # Settings naming the admin's certificate and key (checked at start), if not secrets/' generated ones.
    tls_files: tuple[str, str] | None = None
    # An inner hop (Caddy -> proxy) says http: the hub then takes the scheme from its public URL.
    set_public_url: bool = False
    login_note: str = ""


PROXY_TLS = Override("compose/proxy_tls.yml", ports=("JUPYTERHUB_HTTPS_PORT",), copied=("ssl_cert", "ssl_key"))
SSL_MODES = {mode.name: mode for mode in (
    SslMode("use_ssl_ss", PROXY_TLS, "https", "JUPYTERHUB_HTTPS_PORT", "generated",
            login_note="The certificate is self-signed: your browser asks you to accept it once."),
    SslMode("use_ssl_own", PROXY_TLS, "https", "JUPYTERHUB_HTTPS_PORT", "by_name",
            tls_files=("SSL_CERT_PATH", "SSL_KEY_PATH")),
    SslMode("use_ssl_le", Override("compose/letsencrypt.yml", services=("caddy",),
                                   ports=("LE_HTTP_PORT", "JUPYTERHUB_HTTPS_PORT"), volumes=("CADDY_VOLUME_HOST",)),
            "https", "JUPYTERHUB_HTTPS_PORT", "by_name", front="caddy", acme=True, set_public_url=True),
    SslMode("no_ssl", Override("compose/no_ssl.yml", ports=("JUPYTERHUB_HTTP_PORT",)),
            "http", "JUPYTERHUB_HTTP_PORT", "none", default_bind_ip="127.0.0.1"),
)}


# --- Authenticators (JUPYTERHUB_AUTHENTICATOR) ----------------------------------------------

OAUTH_CLIENT = Override("compose/oauth.yml", secrets=("oauth_client_secret",))
ADMIN_PASSWORD = Override("compose/admin_password.yml", secrets=("admin_password",))


@dataclass(frozen=True)
class Authenticator:
    name: str
    hub_function: str  # the function of jhdeploy_hub.config that configures it
    login_hint: str
    overrides: tuple[Override, ...] = ()
    required: tuple[tuple[str, str], ...] = ()  # (setting, where an admin gets it)
    # (setting, secret): a secret that may be given in .env, handed to the hub as a file under secrets/
    from_env: tuple[str, str] | None = None
    uses_userlist: bool = True  # userlist says who may log in (an empty one lets nobody in)
    temporary_users: bool = False  # users come and go: their volumes and accounts are removed with their servers
    oauth_callback: bool = False  # the provider redirects to the hub's OAuth callback, on this hub's host
    # (setting, endpoint settings): a discovery URL, or else every endpoint one by one.
    discovery: tuple[str, tuple[str, ...]] | None = None
    password: str = ""  # how `invoke user-password` finds a password: "shared", "hash", "native_admin", or none
    groups_from_provider: bool = False  # users' groups come from the identity provider at login, not userlist


AUTHENTICATORS = {auth.name: auth for auth in (
    Authenticator("dummy_authenticator", "configure_shared_password",
                  "Log in as a user listed in userlist with the shared password (in secrets/shared_password, "
                  "or DUMMY_AUTH_PASSWORD); admins have their own, in secrets/admin_password. "
                  "`invoke user-password NAME` prints either.",
                  overrides=(Override("compose/shared_password.yml", secrets=("shared_password",)),
                             ADMIN_PASSWORD),
                  from_env=("DUMMY_AUTH_PASSWORD", "shared_password"), password="shared"),
    Authenticator("tmp_authenticator", "configure_tmp", "Every visitor gets a temporary user.",
                  uses_userlist=False, temporary_users=True),
    Authenticator("hash_authenticator", "configure_hash",
                  "Log in as a user listed in userlist; `invoke user-password NAME` prints the password.",
                  overrides=(Override("compose/hash.yml", secrets=("hash_secret_key",)),), password="hash"),
    Authenticator("native_authenticator", "configure_native",
                  "Sign up at /hub/signup; admins authorize new users at /hub/authorize. The admins in userlist "
                  "exist already: `invoke user-password NAME` prints their generated passwords.",
                  overrides=(ADMIN_PASSWORD,), uses_userlist=False, password="native_admin"),
    Authenticator("github_authenticator", "configure_github", "Log in through your identity provider.",
                  overrides=(OAUTH_CLIENT,), from_env=("GITHUB_CLIENT_SECRET", "oauth_client_secret"),
                  oauth_callback=True, groups_from_provider=True,
                  required=(("GITHUB_CLIENT_ID", "create an OAuth app at https://github.com/settings/developers "
                                                 "(or in your GitHub Enterprise)"),)),
    Authenticator("generic_oauth", "configure_generic", "Log in through your identity provider.",
                  overrides=(OAUTH_CLIENT,), from_env=("OAUTH_CLIENT_SECRET", "oauth_client_secret"),
                  oauth_callback=True, groups_from_provider=True,
                  discovery=("OAUTH_DISCOVERY_URL", ("OAUTH_AUTHORIZE_URL", "OAUTH_TOKEN_URL", "OAUTH_USERDATA_URL")),
                  required=(("OAUTH_CLIENT_ID", "register a client (confidential, authorization code flow) "
                                                "with your OpenID provider"),)),
)}


# --- Databases (JUPYTERHUB_DB_URL) ----------------------------------------------------------

@dataclass(frozen=True)
class Database:
    name: str  # sqlite, postgres, or external (a full URL)
    override: Override | None
    dump: str | None  # how `invoke backup` copies it: "sqlite", "pg_dump", or None (its own tools)
    url: str  # the hub's database URL, formatted with the settings
    password_secret: str = ""  # a Secret the hub adds to the URL as its password


DATABASES = {db.name: db for db in (
    Database("sqlite", None, "sqlite", "sqlite:///{DATA_VOLUME_CONTAINER}/jupyterhub.sqlite"),
    Database("postgres", Override("compose/postgres.yml", services=(POSTGRES_SERVICE,), volumes=("DB_VOLUME_HOST",),
                                  secrets=("postgres_password",), copied=("postgres_password",)), "pg_dump",
             f"postgresql+psycopg2://{{POSTGRES_USER}}@{POSTGRES_SERVICE}:5432/{{POSTGRES_DB}}",
             password_secret="postgres_password"),
    Database("external", None, None, "{JUPYTERHUB_DB_URL}"),
)}
EXTERNAL_DATABASE = "external"  # any JUPYTERHUB_DB_URL that names no other record


def database_of(url: str) -> Database:
    return DATABASES.get(url, DATABASES[EXTERNAL_DATABASE])


# --- Add-ons: what a setting switches on --------------------------------------------------

@dataclass(frozen=True)
class Addon:
    name: str
    setting: str | None  # it applies while this setting is set (yes, a non-empty value, a number above 0)
    override: Override | None = None
    modes: tuple[str, ...] = ("compose", "swarm")  # `invoke start` (compose) and/or `invoke swarm-deploy`
    ssl_modes: tuple[str, ...] = ()  # only with these SSL modes; empty: with any
    hub_services: tuple[HubService, ...] = ()
    # (setting, secret): secrets that may be given in .env, kept as files under secrets/
    from_env: tuple[tuple[str, str], ...] = ()


# jupyterhub-idle-culler, with only the scopes its docs list (admin:users only to delete users).
CULLER = HubService(
    "idle-culler", module="jupyterhub_idle_culler",
    args=("--timeout={SERVER_TIMEOUT_SECONDS}", "--cull-every={CULL_EVERY_SECONDS}",
          "--max-age={CULL_MAX_AGE_SECONDS}", "--cull-users={cull_users}", "--cull-admin-users=False"),
    scopes=("list:users", "read:users:activity", "read:servers", "delete:servers"),
    scopes_when=(("cull_users", ("admin:users",)),))

# USER_NETWORK_FENCE: users' servers fenced from each other and from the host. Its rules are for a
# Docker bridge in Compose mode, and in each server's own network namespace on Swarm.
FENCE = Addon("user network fence", "USER_NETWORK_FENCE", Override("compose/fence.yml", services=("fence",)),
              modes=("compose",))
FENCE_SWARM = Addon("user network fence on Swarm", "USER_NETWORK_FENCE",
                    Override("compose/fence_swarm.yml", services=("fence",)), modes=("swarm",))

# BACKUP_SCHEDULE other than off: the backup service takes restic snapshots (hub/jhdeploy_hub/snapshots.py).
# Its restic containers mount users' volumes on this host, so Compose mode only.
SNAPSHOTS = Addon("snapshots", "BACKUP_SCHEDULE", Override("compose/backup.yml", services=("backup",)),
                  modes=("compose",))

# METRICS=yes: Prometheus, its exporters and Alertmanager (compose/metrics.yml; their configuration is
# made by jhdeploy/metricsconf.py). Prometheus reads the hub's metrics as a service whose role has only
# read:metrics. On Swarm, node-exporter runs on every node (compose/metrics_swarm.yml).
METRICS = Addon("metrics", "METRICS", Override(
    "compose/metrics.yml", services=("prometheus", "node-exporter", "blackbox-exporter", "alertmanager"),
    ports=("METRICS_PORT",), volumes=("METRICS_VOLUME_HOST",), secrets=("metrics_token",),
    copied=("metrics_token", "alert_webhook_url", "alert_smtp_password")),
    hub_services=(HubService("prometheus", scopes=("read:metrics",), token="metrics_token"),),
    from_env=(("ALERT_WEBHOOK_URL", "alert_webhook_url"), ("ALERT_SMTP_PASSWORD", "alert_smtp_password")))
METRICS_SWARM = Addon("metrics on Swarm", "METRICS", Override("compose/metrics_swarm.yml"), modes=("swarm",))

# Always, in Compose mode: the disk-scan service measures users' volumes and folders, and the free space
# where Docker keeps volumes, for NOTEBOOK_DISK_LIMIT, DISK_RESERVE and `invoke usage`. On Swarm users'
# volumes are on the workers, which it does not see.
DISK_SCAN = Addon("disk use", None, Override("compose/diskscan.yml", services=(DISK_SCAN_SERVICE,)),
                  modes=("compose",))

ADDONS = (
    # A private ACME server's root (Pebble in the tests, an internal step-ca in real life).
    Addon("private ACME root", "ACME_CA_ROOT", Override("compose/acme_ca_root.yml"), ssl_modes=("use_ssl_le",)),
    # `invoke swarm-deploy`: only what Docker Swarm needs beyond the other files.
    Addon("Docker Swarm", None, Override("compose/swarm.yml"), modes=("swarm",)),
    # USER_STORAGE_PATH: users' folders on a shared filesystem, which the hub creates.
    Addon("user storage", "USER_STORAGE_PATH", Override("compose/user_storage.yml")),
    FENCE,
    FENCE_SWARM,
    SNAPSHOTS,
    METRICS,
    METRICS_SWARM,
    DISK_SCAN,
    # SERVER_TIMEOUT_SECONDS above 0: idle servers are stopped by a hub service.
    Addon("idle culling", "SERVER_TIMEOUT_SECONDS", hub_services=(CULLER,)),
)


def all_overrides() -> list[Override]:
    """Every record that claims a Compose file, once each."""
    found = [BASE, *(mode.override for mode in SSL_MODES.values()),
             *(override for auth in AUTHENTICATORS.values() for override in auth.overrides),
             *(db.override for db in DATABASES.values() if db.override),
             *(addon.override for addon in ADDONS if addon.override)]
    unique: list[Override] = []
    for override in found:
        if override not in unique:
            unique.append(override)
    return unique

