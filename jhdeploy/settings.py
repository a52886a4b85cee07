"""Every `.env` key: its default, what it allows, what it is for, and its kind; and their resolution.

This table is the single definition. Resolution, validation, `.env-template`
and the values handed to the hub all come from it; a unit test keeps the
template in step. How each kind of value is checked and typed is in kinds.py.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jhdeploy import envfile, options
from jhdeploy.kinds import KINDS, UI_PATHS


class SettingsError(Exception):
    """One or more `.env` values are not allowed; each line names the key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    section: str
    help: str
    kind: str = "text"  # a key of kinds.KINDS
    choices: tuple[str, ...] = ()
    optional: bool = False  # may be left empty
    # A password or key: never in the Compose environment, the hub's settings, state/, a message
    # or a `--no-secrets` archive (options.Authenticator.from_env hands it to the hub as a file).
    secret: bool = False
    hub: bool = False  # the hub reads it as it is, under its own name (state/hub/settings.json)


STACK = "Stack"
TLS = "Web access and TLS"
AUTH = "Authentication"
HUB = "Hub"
IMAGES = "Images and versions"
SPAWNER = "User servers"
BUILD = "Building the notebook image"
LOOK = "Interface and branding"
DATABASE = "Database and backups"
OPERATIONS = "Operations"
SWARM = "Docker Swarm"
METRICS = "Metrics and alerts"
DISK = "Disk use and limits"

SETTINGS: tuple[Setting, ...] = (
    Setting("COMPOSE_PROJECT_NAME", "jupyterhub", STACK,
            "Compose project name. Give each stack on one host its own name.", kind="project"),
    Setting("DOCKER_NETWORK_NAME", "${COMPOSE_PROJECT_NAME}-network", STACK,
            "Docker network shared by the hub and the user containers. `invoke start` creates it with a "
            "subnet of its own: the lower half for the stack's services, the upper half for users' "
            "servers.", kind="docker_name", hub=True),
    Setting("USER_NETWORK_FENCE", "yes", STACK,
            "yes: a user's server reaches the hub, the proxy and the internet, but not other users' "
            "servers, services on this host (on Swarm: any node), or the cloud metadata address (firewall "
            "rules kept by the fence service: in Docker's DOCKER-USER chain, on Swarm in each server's own "
            "network namespace, docs/security.md). no: one flat network, as in earlier releases.",
            kind="bool"),
    Setting("DATA_VOLUME_HOST", "${COMPOSE_PROJECT_NAME}-data", STACK,
            "Docker volume that keeps the hub's database across stops and rebuilds.", kind="docker_name"),
    Setting("DATA_VOLUME_CONTAINER", "/data", STACK,
            "Where the data volume is mounted inside the hub.", kind="path"),

    Setting("JUPYTERHUB_SSL", "use_ssl_ss", TLS,
            "use_ssl_ss: the proxy serves HTTPS with a generated self-signed certificate. "
            "use_ssl_own: it serves your own certificate (SSL_CERT_PATH, SSL_KEY_PATH). "
            "use_ssl_le: Caddy in front gets a Let's Encrypt (ACME) certificate for JH_FQDN and renews "
            "it (also `invoke start --le`). no_ssl: plain HTTP, for running behind a proxy of your own.",
            choices=tuple(options.SSL_MODES)),
    Setting("JH_FQDN", "", TLS,
            "The hub's public host name. use_ssl_ss adds it to the certificate; use_ssl_le needs it "
            "(a public DNS name pointing at this host). Empty: localhost.",
            kind="hostname", optional=True),
    Setting("JH_EMAIL", "", TLS,
            "use_ssl_le: the ACME account's email, where Let's Encrypt sends expiry warnings.",
            optional=True),
    Setting("CERT_SERVER", "", TLS,
            "use_ssl_le: empty for Let's Encrypt production, --staging for its staging service, or the "
            "directory URL of another ACME server (an internal step-ca, for example).", optional=True),
    Setting("ACME_CA_ROOT", "", TLS,
            "use_ssl_le: a PEM file here with the root that signed the ACME server's own HTTPS "
            "certificate, for a private ACME server.", kind="relative_path", optional=True),
    Setting("JUPYTERHUB_HTTPS_PORT", "443", TLS,
            "Host port for HTTPS (use_ssl_ss, use_ssl_le).", kind="port"),
    Setting("JUPYTERHUB_HTTP_PORT", "8000", TLS,
            "Host port for plain HTTP (no_ssl).", kind="port"),
    Setting("JUPYTERHUB_BIND_IP", "", TLS,
            "The host address the public port listens on. Empty: 127.0.0.1 with no_ssl (for a proxy of "
            "your own on this host), every address otherwise. 0.0.0.0 opens no_ssl to the network.",
            kind="ip", optional=True),
    Setting("SSL_CERT_PATH", "", TLS,
            "use_ssl_own: your certificate (PEM, with its intermediates), a path here or an absolute "
            "one. Checked at start: it matches the key, has not expired and names JH_FQDN.",
            kind="file", optional=True),
    Setting("SSL_KEY_PATH", "", TLS,
            "use_ssl_own: the certificate's private key (PEM).", kind="file", optional=True),
    Setting("LE_HTTP_PORT", "80", TLS,
            "use_ssl_le: host port for HTTP, which answers ACME challenges and redirects to HTTPS. "
            "Let's Encrypt validates on port 80.", kind="port"),
    Setting("CADDY_IMAGE", "caddy:2.10.2", TLS,
            "use_ssl_le: the Caddy image (the official one, or a mirror's).", kind="image"),
    Setting("CADDY_VOLUME_HOST", "${COMPOSE_PROJECT_NAME}-caddy-data", TLS,
            "use_ssl_le: the volume that keeps certificates and the ACME account, so restarts and "
            "rebuilds never ask for a new certificate.", kind="docker_name"),

    Setting("JUPYTERHUB_AUTHENTICATOR", "dummy_authenticator", AUTH,
            "How people log in. dummy_authenticator: users in userlist, one shared password. "
            "tmp_authenticator: every visitor gets a temporary user, no password. "
            "hash_authenticator: users in userlist, each with a password derived from a secret key "
            "(`invoke user-password NAME`). native_authenticator: people sign up at /hub/signup; "
            "admins authorize them at /hub/authorize. github_authenticator: GitHub (or GitHub "
            "Enterprise) OAuth. generic_oauth: any OpenID Connect provider.",
            choices=tuple(options.AUTHENTICATORS)),
    Setting("DUMMY_AUTH_PASSWORD", "", AUTH,
            "dummy_authenticator: the users' shared password (8 characters or more). Empty: `invoke "
            "setup` generates one in secrets/shared_password. Admins have their own, generated in "
            "secrets/admin_password. `invoke user-password NAME` prints either.",
            kind="password", optional=True, secret=True),
    Setting("HASH_PASSWORD_LENGTH", "16", AUTH,
            "hash_authenticator: length of each user's password, in hex digits (4 bits each; 16 gives "
            "64 bits). The key is generated in secrets/hash_secret_key.", kind="hex_length", hub=True),
    Setting("TMP_ACTIVE_SERVER_LIMIT", "20", AUTH,
            "tmp_authenticator: most servers of anonymous visitors running at once; a temporary user's "
            "container and volume go when the server stops or is culled.", kind="count", hub=True),
    Setting("NATIVEAUTH_SIGNUP", "authorize_signup", AUTH,
            "native_authenticator: open_signup lets anyone who signs up log in; authorize_signup "
            "waits for an admin to authorize them at /hub/authorize.",
            choices=("authorize_signup", "open_signup"), hub=True),
    Setting("NATIVEAUTH_EMAIL", "no", AUTH,
            "native_authenticator: ask for an email address at sign-up.", kind="bool", hub=True),
    Setting("NATIVEAUTH_MIN_PASSWORD_LENGTH", "10", AUTH,
            "native_authenticator: shortest password accepted; common passwords are refused too.",
            kind="count", hub=True),
    Setting("NATIVEAUTH_FAILED_LOGINS", "3", AUTH,
            "native_authenticator: wrong passwords in a row before the account is locked.", kind="count", hub=True),
    Setting("NATIVEAUTH_LOCKOUT_SECONDS", "1200", AUTH,
            "native_authenticator: how long a locked account stays locked.", kind="seconds", hub=True),
    Setting("OAUTH_CALLBACK_URL", "", AUTH,
            "OAuth callback registered with the provider. Empty: https://JH_FQDN/hub/oauth_callback "
            "(with the HTTPS port when it is not 443).", kind="url", optional=True),
    Setting("GITHUB_CLIENT_ID", "", AUTH,
            "github_authenticator: the OAuth app's client id, from "
            "https://github.com/settings/developers (or your GitHub Enterprise).", optional=True, hub=True),
    Setting("GITHUB_CLIENT_SECRET", "", AUTH,
            "github_authenticator: the OAuth app's client secret. Or leave empty and put it in "
            "secrets/oauth_client_secret.", optional=True, secret=True),
    Setting("GITHUB_ALLOWED_ORGS", "", AUTH,
            "github_authenticator: members of these organizations (comma-separated; org:team works) "
            "may log in, besides the users in userlist.", kind="names", optional=True, hub=True),
    Setting("GITHUB_URL", "", AUTH,
            "github_authenticator: your GitHub Enterprise URL. Empty: https://github.com.",
            kind="url", optional=True, hub=True),
    Setting("OAUTH_CLIENT_ID", "", AUTH,
            "generic_oauth: the client id registered with your OpenID Connect provider.", optional=True, hub=True),
    Setting("OAUTH_CLIENT_SECRET", "", AUTH,
            "generic_oauth: the client secret. Or leave empty and put it in secrets/oauth_client_secret.",
            optional=True, secret=True),
    Setting("OAUTH_DISCOVERY_URL", "", AUTH,
            "generic_oauth: the provider's .well-known/openid-configuration URL; the hub reads the "
            "other URLs from it at start. Or set the three URLs below.", kind="url", optional=True, hub=True),
    Setting("OAUTH_AUTHORIZE_URL", "", AUTH, "generic_oauth: authorization endpoint.", kind="url", optional=True,
            hub=True),
    Setting("OAUTH_TOKEN_URL", "", AUTH, "generic_oauth: token endpoint.", kind="url", optional=True, hub=True),
    Setting("OAUTH_USERDATA_URL", "", AUTH, "generic_oauth: userinfo endpoint.", kind="url", optional=True, hub=True),
    Setting("OAUTH_SCOPES", "openid profile email", AUTH,
            "generic_oauth: scopes to request, separated by spaces.", kind="words", hub=True),
    Setting("OAUTH_USERNAME_CLAIM", "preferred_username", AUTH,
            "generic_oauth: the userinfo claim that becomes the JupyterHub user name.", hub=True),
    Setting("OAUTH_GROUPS_CLAIM", "groups", AUTH,
            "generic_oauth: the userinfo claim that lists the user's groups.", hub=True),
    Setting("OAUTH_ALLOWED_GROUPS", "", AUTH,
            "generic_oauth: members of these groups (comma-separated) may log in, besides userlist.",
            kind="names", optional=True, hub=True),
    Setting("OAUTH_ADMIN_GROUPS", "", AUTH,
            "generic_oauth: members of these groups (comma-separated) are admins.",
            kind="names", optional=True, hub=True),
    Setting("OAUTH_LOGIN_SERVICE", "single sign-on", AUTH,
            "generic_oauth: the name on the login button (\"Sign in with ...\").", hub=True),
    Setting("SHARING", "no", AUTH,
            "yes: users may share their servers with a link (and, with SHARING_BY_NAME, with users and groups), "
            "and edit notebooks together in real time. A share gives access to the owner's server: its files and "
            "its kernels, as the owner.", kind="bool", hub=True),
    Setting("SHARING_BY_NAME", "no", AUTH,
            "With SHARING=yes: users may also share with a user or a group by name. They can then see the "
            "names of every user and group on the hub.", kind="bool", hub=True),
    Setting("ALLOW_NAMED_SERVERS", "no", AUTH,
            "yes: each user may run several named servers, each with its own container and volume.",
            kind="bool", hub=True),
    Setting("NAMED_SERVERS_MAX", "2", AUTH,
            "With ALLOW_NAMED_SERVERS=yes: named servers per user.", kind="count", hub=True),

    Setting("JUPYTERHUB_DB_URL", "sqlite", DATABASE,
            "Hub database. sqlite: a file on the data volume. postgres: a PostgreSQL service in the "
            "stack (compose/postgres.yml). Or a full SQLAlchemy URL for a database of your own.",
            kind="db_url"),
    Setting("POSTGRES_VERSION", "17", DATABASE,
            "With postgres: the PostgreSQL major version.", kind="version"),
    Setting("POSTGRES_IMAGE", "postgres:${POSTGRES_VERSION}", DATABASE,
            "With postgres: the image (the official one, or a mirror's).", kind="image"),
    Setting("POSTGRES_DB", "jupyterhub", DATABASE, "With postgres: the database name.", kind="docker_name"),
    Setting("POSTGRES_USER", "jupyterhub", DATABASE,
            "With postgres: the role the hub connects as (its password is generated in "
            "secrets/postgres_password).", kind="docker_name"),
    Setting("DB_VOLUME_HOST", "${COMPOSE_PROJECT_NAME}-db", DATABASE,
            "With postgres: the Docker volume that holds the database. No task deletes it unless "
            "you run `invoke clean --volumes`.", kind="docker_name"),
    Setting("DB_VOLUME_CONTAINER", "/var/lib/postgresql/data", DATABASE,
            "With postgres: where the volume is mounted in the database container (PGDATA).", kind="path"),
    Setting("BACKUP_DIR", "backups", DATABASE,
            "Where `invoke backup` writes its archives (a folder here, or an absolute path).",
            kind="text"),
    Setting("BACKUP_SCHEDULE", "off", DATABASE,
            "Encrypted, incremental snapshots with restic (the backup service): off, manual (only "
            "`invoke backup-now`), a daily time such as 02:30 (the host's clock is UTC in containers), or a "
            "cron expression such as '0 */6 * * *'. Each snapshot holds the database, .env, userlist, conf/, "
            "secrets/ and every user's files, tagged by user.", kind="schedule"),
    Setting("BACKUP_REPOSITORY", "backups/restic", DATABASE,
            "Where the snapshots go: a folder here (or an absolute path), sftp:user@host:/path (key in "
            "secrets/backup_ssh_key, host key in secrets/backup_known_hosts), s3:host/bucket/path (an AWS "
            "credentials file in secrets/backup_s3_credentials) or rest:https://host/path. The repository "
            "password is secrets/restic_password: keep a copy elsewhere, without it the snapshots are lost.",
            kind="repository"),
    Setting("BACKUP_RETENTION", "--keep-daily 7 --keep-weekly 8 --keep-monthly 6", DATABASE,
            "Which snapshots to keep after each one (restic forget rules; the rest is pruned).", kind="retention"),
    Setting("BACKUP_IMAGE", "restic/restic:0.18.0", DATABASE,
            "The restic image that takes, lists and restores snapshots.", kind="image"),
    Setting("JUPYTERHUB_LOG_LEVEL", "INFO", HUB,
            "Hub log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), hub=True),
    Setting("LOG_MAX_SIZE", "10m", HUB,
            "Every container's log (the services' and each user's server) is rotated at this size, such "
            "as 10m or 1g, so that a chatty server cannot fill the disk.", kind="log_size", hub=True),
    Setting("LOG_MAX_FILES", "3", HUB,
            "Rotated log files kept per container.", kind="count", hub=True),

    Setting("JUPYTERHUB_VERSION", "6.1.1", IMAGES,
            "JupyterHub version, in the hub and in the notebook image (they must match).", kind="version"),
    Setting("DOCKERSPAWNER_VERSION", "14.0.0", IMAGES,
            "DockerSpawner version in the hub image.", kind="version"),
    Setting("JUPYTERLAB_VERSION", "4.6.6", IMAGES,
            "JupyterLab version in the notebook image.", kind="version"),
    Setting("NOTEBOOK_VERSION", "7.6.5", IMAGES,
            "Jupyter Notebook version in the notebook image (the /tree interface).", kind="version"),
    Setting("RESOURCE_USAGE_VERSION", "1.3.0", IMAGES,
            "jupyter-resource-usage version in the notebook image: users see their memory against their "
            "server's limit in the status bar.", kind="version"),
    Setting("COLLABORATION_VERSION", "5.0.4", IMAGES,
            "jupyter-collaboration version in the notebook image: real-time collaboration, on only with "
            "SHARING=yes.", kind="version"),
    Setting("JUPYTERHUB_BASE_IMAGE", "quay.io/jupyterhub/jupyterhub:${JUPYTERHUB_VERSION}", IMAGES,
            "Base of the hub image. Point it at a mirror or a private registry if needed.", kind="image"),
    Setting("LOCAL_HUB_IMAGE", "jupyterhub-hub:latest", IMAGES,
            "Tag of the hub image that `invoke build` makes.", kind="image"),
    Setting("PROXY_IMAGE", "quay.io/jupyterhub/configurable-http-proxy:5.3.0", IMAGES,
            "Base of the proxy image: the official configurable-http-proxy, pinned. The proxy runs apart "
            "from the hub, so that a hub restart does not cut users' connections.", kind="image"),
    Setting("LOCAL_PROXY_IMAGE", "jupyterhub-proxy:latest", IMAGES,
            "Tag of the proxy image that `invoke build` makes.", kind="image"),
    Setting("DOCKER_NOTEBOOK_BASE", "quay.io/jupyter/minimal-notebook:2026-11-23", IMAGES,
            "Base of the notebook image: a docker-stacks image or one with the same contract "
            "(tests/images/check_contract.py checks one). Pinned by a dated tag, which docker-stacks never "
            "rebuilds (a lab-X tag moves); the body layer installs JUPYTERLAB_VERSION and JUPYTERHUB_VERSION "
            "over whatever it holds.", kind="image"),
    Setting("LOCAL_NOTEBOOK_BASE", "jupyterhub-notebook-base:latest", IMAGES,
            "Tag of the notebook's first layer (system packages).", kind="image"),
    Setting("LOCAL_NOTEBOOK_BODY", "jupyterhub-notebook-body:latest", IMAGES,
            "Tag of the notebook's second layer (the Python environment).", kind="image"),
    Setting("LOCAL_NOTEBOOK_IMAGE", "jupyterhub-notebook:latest", IMAGES,
            "Tag of the finished notebook image that users run.", kind="image"),

    Setting("EXTRA_CA_CERTS", "", BUILD,
            "A PEM certificate file, or a folder of them, that every image we build trusts "
            "(pip, conda, npm, apt, requests, curl). For networks behind a TLS-inspecting proxy "
            "or an internal CA. Empty: none.", kind="relative_path", optional=True),
    Setting("NOTEBOOK_BUILD_RETRIES", "3", BUILD,
            "Attempts for each conda or pip install in the notebook_body layer.", kind="count"),
    Setting("NOTEBOOK_BUILD_RETRY_DELAY", "10", BUILD,
            "Seconds before the first retry; each retry waits twice as long.", kind="seconds"),

    Setting("JUPYTER_UI", "/lab", LOOK,
            "The interface a server opens on: /lab (JupyterLab) or /tree (Jupyter Notebook 7). "
            "The original values lab and notebook still work. A hub setting: no rebuild.",
            kind="ui", choices=tuple(UI_PATHS), hub=True),
    Setting("LOGO_IMAGE", "", LOOK,
            "The hub's logo: an image file under conf/, such as conf/logo.png (the hub serves it without "
            "login). Empty: JupyterHub's logo.", kind="conf_file", optional=True),
    Setting("JUPYTERLAB_NEWS", "no", LOOK,
            "yes: JupyterLab and Notebook show Jupyter's news feed, fetched from jupyter.org. no: never, "
            "and no user is asked. Other defaults for every user go in conf/notebook/overrides.json. "
            "Part of the notebook image: apply with `invoke notebook-image`.", kind="bool"),

    Setting("DOCKER_NOTEBOOK_DIR", "/home/jovyan/work", SPAWNER,
            "Where each user's volume is mounted in the user's container.", kind="path", hub=True),
    Setting("DOCKER_SPAWN_CMD", "start-singleuser.py", SPAWNER,
            "Command that starts the single-user server in the notebook image.", kind="command", hub=True),
    Setting("DOCKER_NOTEBOOK_PULL_POLICY", "ifnotpresent", SPAWNER,
            "When the hub pulls the notebook image before a spawn.",
            choices=("ifnotpresent", "always", "never", "skip"), hub=True),
    Setting("NB_UID", "1000", SPAWNER,
            "The notebook user's uid in the image (docker-stacks: 1000); owns the shared folder.",
            kind="count", hub=True),
    Setting("NB_GID", "100", SPAWNER,
            "The notebook user's gid in the image (docker-stacks: 100).", kind="count", hub=True),
    Setting("NOTEBOOK_MEM_LIMIT", "2G", SPAWNER,
            "Memory limit of each user's container, such as 512M or 2G. Empty: no limit.",
            kind="memory", optional=True, hub=True),
    Setting("NOTEBOOK_PIDS_LIMIT", "1024", SPAWNER,
            "Most processes and threads in each user's container, so that a fork loop stops there.",
            kind="count", hub=True),
    Setting("NOTEBOOK_CPU_LIMIT", "", SPAWNER,
            "CPU limit of each user's container, in cores, such as 0.5 or 2. Empty: no limit.",
            kind="cpus", optional=True, hub=True),
    Setting("NOTEBOOK_GPUS", "", SPAWNER,
            "NVIDIA GPUs for user containers: all, or device ids such as 0,1. Needs the NVIDIA Container "
            "Toolkit on the host and a CUDA-capable notebook image. Empty: none.",
            kind="gpus", optional=True, hub=True),
    Setting("SPAWN_TIMEOUT", "300", SPAWNER,
            "Seconds a server may take to start (pulling a large image on a slow disk takes long).",
            kind="count", hub=True),
    Setting("HTTP_TIMEOUT", "120", SPAWNER,
            "Seconds a started server may take to answer HTTP.", kind="count", hub=True),
    Setting("SPAWN_READY_POLL", "0.25", SPAWNER,
            "Longest pause, in seconds, between the spawner's checks that a new server answers. "
            "JupyterHub's own checks back off to 5 s; 0 leaves only those.", kind="nonneg", hub=True),
    Setting("SPAWN_CONCURRENCY", "auto", SPAWNER,
            "Servers that start at the same moment. The others wait their turn, first come first served, "
            "and see their place on the spawn page: a class that logs in at once gets its servers sooner "
            "than if all started together on the same cores. auto: twice the host's cores (on Swarm: no "
            "queue, the starts spread over the nodes). 0: no queue.", kind="auto_count"),
    Setting("USER_STORAGE_PATH", "", SPAWNER,
            "Users' files in folders under this absolute path instead of Docker volumes: PATH/NAME, and "
            "PATH/NAME--SERVER for a named server, created by the hub and owned by NB_UID. For a swarm, a "
            "shared filesystem (NFS, CephFS, a NAS) mounted at this same path on every node, so that a "
            "user's files follow the server to any node. Empty: one Docker volume per user.",
            kind="path", optional=True, hub=True),
    Setting("SHARED_VOLUME", "", SPAWNER,
            "A folder every user sees: a Docker volume name (created and owned by the notebook user on "
            "start) or an absolute host path. Empty: none.", kind="shared", optional=True),
    Setting("SHARED_MOUNT", "/home/jovyan/shared", SPAWNER,
            "Where the shared folder appears in each user's container.", kind="path"),
    Setting("SHARED_MODE", "rw", SPAWNER,
            "rw: users may write to the shared folder; ro: read-only.", choices=("rw", "ro")),
    Setting("NOTEBOOK_IMAGES", "", SPAWNER,
            "Images users may choose from when they start a server, as 'Name=image:tag' pairs "
            "separated by ';'. Empty: everyone gets LOCAL_NOTEBOOK_IMAGE, with no choice.",
            kind="profiles", optional=True, hub=True),

    Setting("NOTEBOOK_MEM_RESERVATION", "", SPAWNER,
            "Swarm: memory reserved for each user's service, such as 256M. Empty: none.",
            kind="memory", optional=True, hub=True),
    Setting("NOTEBOOK_CPU_RESERVATION", "", SPAWNER,
            "Swarm: cores reserved for each user's service, such as 0.25. Empty: none.",
            kind="cpus", optional=True, hub=True),

    Setting("REGISTRY", "", SWARM,
            "A registry every node can pull from, such as registry.example.org/team. It prefixes the "
            "names of the images we build; `invoke push` pushes them. Empty: images stay local.",
            kind="registry", optional=True),
    Setting("SWARM_ENDPOINT_MODE", "dnsrr", SWARM,
            "Swarm: dnsrr reaches services by DNS name and works on hosts without IPVS; vip uses "
            "Docker's virtual IPs.", choices=("dnsrr", "vip"), hub=True),
    Setting("SWARM_USER_CONSTRAINTS", "", SWARM,
            "Swarm: placement constraints for users' services, separated by ';', such as "
            "node.labels.jupyter==yes. Empty: the worker nodes when the swarm has any, else the manager.",
            kind="constraints", optional=True, hub=True),

    Setting("SERVER_TIMEOUT_SECONDS", "3600", OPERATIONS,
            "Idle culling: stop servers idle this long (jupyterhub-idle-culler). 0: never.", kind="seconds"),
    Setting("CULL_EVERY_SECONDS", "300", OPERATIONS,
            "Idle culling: how often to check for idle servers.", kind="count"),
    Setting("CULL_MAX_AGE_SECONDS", "0", OPERATIONS,
            "Idle culling: stop servers older than this even when busy. 0: no limit.", kind="seconds"),
    Setting("CULL_USERS", "no", OPERATIONS,
            "Idle culling: also delete idle users (for temporary users, as with tmp_authenticator).",
            kind="bool"),

    Setting("NOTEBOOK_DISK_LIMIT", "", DISK,
            "Most disk each user's files may take, all their servers together, such as 10G (K, M, G: powers "
            "of 1024). Measured by the disk-scan service: from 90% the user is told, and over it a new start is "
            "refused until they delete files (`invoke allow-start NAME` grants one start to do so); a running "
            "server is never stopped. conf/groups.toml's disk_limit sets it per group. Empty: no limit.",
            kind="memory", optional=True, hub=True),
    Setting("DISK_SCAN_MINUTES", "30", DISK,
            "Minutes between two measures of every user's volumes and folders (each keeps to DISK_SCAN_IOPS, "
            "so that users do not notice it).", kind="count"),
    Setting("DISK_SCAN_IOPS", "5000", DISK,
            "File operations a second the disk scan may use: 5000 is about 4% of one core on a local disk and "
            "measures 1,500 files a second. Lower it for NFS or another shared filesystem.", kind="count"),
    Setting("DISK_RESERVE", "10%,5G", DISK,
            "Free space kept where Docker keeps volumes: below it, no new server starts (running ones keep "
            "working), and backups and builds refuse to begin. Percentages of the disk and sizes, separated "
            "by commas; the largest counts.", kind="reserve"),
    Setting("METRICS", "no", METRICS,
            "yes: Prometheus watches the hub, the proxy, this host's disk, memory and CPU, and the "
            "certificate's expiry, and Alertmanager tells the admin (the metrics add-on, docs/metrics.md). "
            "Nothing of it is published beyond 127.0.0.1.", kind="bool"),
    Setting("METRICS_PORT", "9090", METRICS,
            "With metrics: Prometheus on this host only (127.0.0.1); `invoke metrics` says how to reach it "
            "from your machine.", kind="port"),
    Setting("METRICS_RETENTION", "90d", METRICS,
            "With metrics: how long Prometheus keeps what it measured, such as 90d or 26w.", kind="duration"),
    Setting("METRICS_SCRAPE_SECONDS", "30", METRICS,
            "With metrics: how often Prometheus measures, and evaluates the alert rules.", kind="count"),
    Setting("METRICS_VOLUME_HOST", "${COMPOSE_PROJECT_NAME}-metrics", METRICS,
            "With metrics: the Docker volume that holds Prometheus' data. No task deletes it unless you run "
            "`invoke clean --volumes`.", kind="docker_name"),
    Setting("PROMETHEUS_IMAGE", "prom/prometheus:v3.5.0", METRICS,
            "With metrics: the Prometheus image.", kind="image"),
    Setting("NODE_EXPORTER_IMAGE", "prom/node-exporter:v1.9.1", METRICS,
            "With metrics: the node-exporter image (this host's disk, memory and CPU).", kind="image"),
    Setting("BLACKBOX_EXPORTER_IMAGE", "prom/blackbox-exporter:v0.27.0", METRICS,
            "With metrics: the blackbox exporter image (the public URL's certificate).", kind="image"),
    Setting("ALERTMANAGER_IMAGE", "prom/alertmanager:v0.28.1", METRICS,
            "With metrics: the Alertmanager image.", kind="image"),
    Setting("ALERT_WEBHOOK_URL", "", METRICS,
            "With metrics: where alerts are posted (Alertmanager's webhook: Slack, Teams and Mattermost take "
            "it through their incoming webhooks or a small adapter). It usually holds a key: it is kept as "
            "secrets/alert_webhook_url, which you may write instead.", kind="url", optional=True, secret=True),
    Setting("ALERT_EMAIL_TO", "", METRICS,
            "With metrics: who gets alerts by email, such as admin@example.org (comma-separated). Needs "
            "ALERT_SMTP_HOST and ALERT_EMAIL_FROM.", kind="emails", optional=True),
    Setting("ALERT_EMAIL_FROM", "", METRICS,
            "With metrics: the sender of alert emails.", kind="emails", optional=True),
    Setting("ALERT_SMTP_HOST", "", METRICS,
            "With metrics: the SMTP relay as host:port, such as smtp.example.org:587 (STARTTLS when it "
            "offers it).", kind="host_port", optional=True),
    Setting("ALERT_SMTP_USER", "", METRICS,
            "With metrics: the SMTP relay's login, if it needs one.", optional=True),
    Setting("ALERT_SMTP_PASSWORD", "", METRICS,
            "With metrics: the SMTP relay's password; kept as secrets/alert_smtp_password, which you may write "
            "instead.", optional=True, secret=True),
    Setting("ALERT_HUB_DOWN_SECONDS", "120", METRICS,
            "Alert: the hub or the proxy has not answered Prometheus for this long.", kind="count"),
    Setting("ALERT_SPAWN_FAILURES", "3", METRICS,
            "Alert: this many server starts failed or were refused within 10 minutes.", kind="count"),
    Setting("ALERT_SPAWN_P95_SECONDS", "120", METRICS,
            "Alert: 95% of the server starts of the last 30 minutes took up to this long, or more.",
            kind="count"),
    Setting("ALERT_DISK_WARN_PERCENT", "85", METRICS,
            "Alert (warning): the disk where Docker keeps volumes is this full.", kind="percent"),
    Setting("ALERT_DISK_CRITICAL_PERCENT", "95", METRICS,
            "Alert (critical): the disk where Docker keeps volumes is this full.", kind="percent"),
    Setting("ALERT_CERT_DAYS", "14", METRICS,
            "Alert: the public URL's certificate expires within this many days.", kind="count"),
    Setting("ALERT_REPEAT_SECONDS", "300", METRICS,
            "Alertmanager tells a change in the alerts (a new one, or one resolved) at most this often, and "
            "repeats a firing alert every 4 hours.", kind="count"),
)

BY_NAME = {s.name: s for s in SETTINGS}

# Keys of the original project's .env that no longer do anything, and what replaced them.
# An old .env keeps working: each gets one warning line, never an error.
OBSOLETE = {
    "INSTALL_USER": "nothing: Docker is installed by your OS, not by this project",
    "DOCKER_MACHINE_NAME": "nothing: docker-machine is gone; the Docker CLI's context decides the engine",
    "DOCKER_EXEC": "nothing: tasks call docker and Compose directly",
    "DOCKERFILE_MULTISTAGE": "nothing: the notebook image is always three layers (invoke notebook-base/-body/-image)",
    "LOCAL_NOTEBOOK_PACKED": "nothing: --squash is gone; LOCAL_NOTEBOOK_IMAGE is the final image",
    "COMPOSE_DOCKER_CLI_BUILD": "nothing: Compose v2 always builds with the Docker CLI",
    "DOCKER_BUILDKIT": "nothing: your Docker client picks its builder",
    "JUPYTERHUB_SERVICE_HOST_IP": "nothing: users reach the hub by its service name (hub_connect_ip)",
    "COMPOSE_IGNORE_ORPHANS": "nothing: invoke stop removes orphans of options you switched off",
    "POSTGRES_DELETE_DB": "nothing: no task deletes the database; `invoke clean --volumes` does, when asked",
    "POSTGRES_PASSWORD": "secrets/postgres_password, generated by `invoke setup`",
    "CONFIGPROXY_AUTH_TOKEN": "secrets/proxy_token, generated by `invoke setup`",
    "GEN_CERT": "`invoke setup`, which makes the self-signed certificate in secrets/",
    "VIRTUAL_HOST": "JH_FQDN (the Caddy proxy of use_ssl_le)",
    "VIRTUAL_PORT": "nothing: Caddy reaches the hub on its service port",
    "NB_USER_PASS": "nothing: no password is baked into images any more",
    "NB_USER": "nothing: the notebook user comes from the base image (NB_UID, NB_GID)",
    "MAPBOX_API_KEY": "a runtime secret: set c.DockerSpawner.environment in conf/jupyterhub_config.d/, "
                      "never a build argument",
    "GITHUB_ACCESS_TOKEN": "nothing: oauthenticator needs no personal token",
    "IMAGE_TAG": "the tags in LOCAL_HUB_IMAGE, LOCAL_NOTEBOOK_BASE, LOCAL_NOTEBOOK_BODY and LOCAL_NOTEBOOK_IMAGE",
    "DOCKERFILE_BODY": "conf/notebook/ (environment.yml, requirements.txt, apt.txt)",
    "CONDA_VERSION": "the base image's conda (DOCKER_NOTEBOOK_BASE)",
    "PYTHON_VERSION": "the base image's Python (DOCKER_NOTEBOOK_BASE), or conf/notebook/environment.yml",
    "PLOTLY_VERSION": "conf/notebook/requirements.txt or environment.yml",
    "DOCKER_BUILD_CACHE_OPTION": "`invoke build --no-cache`",
    "BUILDKIT_PROGRESS": "nothing: build output is shown as it comes",
    "DEPLOY_MODE": "nothing: `invoke swarm-deploy` chooses Docker Swarm, `invoke start` Compose",
}
SECRET_KEYS = frozenset(setting.name for setting in SETTINGS if setting.secret)


def problems(raw: Mapping[str, str]) -> list[str]:
    """Every rule that the values break, one sentence each."""
    found = []
    for setting in SETTINGS:
        value = raw[setting.name]
        if value == "":
            if not setting.optional:
                found.append(f"{setting.name} is empty; it needs a value (default: {setting.default!r}).")
            continue
        if setting.choices and value not in setting.choices:
            allowed = ", ".join(setting.choices)
            found.append(f"{setting.name}={value!r} is not allowed; choose one of: {allowed}.")
            continue
        allowed = KINDS[setting.kind].check(value)
        if allowed:
            # A secret's value never reaches a message; its length is enough to act on.
            shown = f" ({len(value)} characters)" if setting.secret else f"={value!r}"
            found.append(f"{setting.name}{shown} is not allowed; expected {allowed}.")
    return found


def _parse(setting: Setting, value: str) -> Any:
    kind = KINDS[setting.kind]
    return kind.parse(value) if value else kind.empty


@dataclass(frozen=True)
class Settings:
    """Resolved settings: `raw` as Compose sees them, `values` typed for everything else."""

    raw: dict[str, str]
    values: dict[str, Any]
    unknown: tuple[str, ...] = ()
    obsolete: tuple[str, ...] = ()
    from_environment: tuple[str, ...] = ()  # keys the process environment set, over .env
    overrides: dict[str, str] = field(default_factory=dict)  # what task flags set

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def public(self) -> dict[str, str]:
        """The raw values without the secret ones: what Compose, state/ and messages may see."""
        return {key: value for key, value in self.raw.items() if key not in SECRET_KEYS}

    @property
    def secrets(self) -> dict[str, str]:
        """The secret values that are set, by key."""
        return {key: self.raw[key] for key in sorted(SECRET_KEYS) if self.raw[key]}

    def for_hub(self) -> dict[str, Any]:
        """The typed values of the settings that the hub reads as they are."""
        return {setting.name: self.values[setting.name] for setting in SETTINGS if setting.hub}

    def warnings(self) -> list[str]:
        """One line per key that does nothing here, never an error."""
        lines = [f"warning: .env sets {key}, which does nothing now; instead: {OBSOLETE[key]}."
                 for key in self.obsolete]
        lines += [f"warning: .env sets {key}, which this project does not use (misspelled?)."
                  for key in self.unknown]
        return lines + [f"note: {key}={self.raw[key]!r} comes from the environment, not .env."
                        for key in self.from_environment]


def resolve(entries: list[envfile.Entry], environ: Mapping[str, str] | None = None,
            overrides: Mapping[str, str] | None = None) -> Settings:
    """The one resolution: task flags, then the environment, then `.env`, then defaults.

    As in Compose, the process environment wins over `.env`, and `${VAR}` sees the
    environment first. A reference to a setting sees that setting's final value,
    default included, wherever in `.env` it is set. Raises SettingsError.
    """
    environ, overrides = environ or {}, overrides or {}
    in_file = {entry.key: entry for entry in entries}
    raw: dict[str, str] = {}
    pending: list[str] = []
    found: list[str] = []

    def lookup(name: str) -> str | None:
        if name in environ:
            return environ[name]
        if name in BY_NAME:
            return value_of(name)
        return expand(in_file[name]) if name in in_file else None

    def expand(entry: envfile.Entry) -> str:
        return entry.value if entry.literal else envfile.interpolate(entry.value, lookup, f".env, line {entry.line}")

    def value_of(name: str) -> str:
        if name in raw:
            return raw[name]
        if name in pending:
            raise envfile.EnvFileError(f"{name} refers to itself through {' -> '.join(pending[pending.index(name):])}")
        pending.append(name)
        try:
            if name in overrides:
                value = overrides[name]
            elif name in environ:
                value = environ[name]
            elif name in in_file:
                value = expand(in_file[name])
            else:
                value = envfile.interpolate(BY_NAME[name].default, lookup, f"the default of {name}")
        finally:
            pending.pop()
        raw[name] = value
        return value

    for setting in SETTINGS:
        try:
            value_of(setting.name)
        except envfile.EnvFileError as error:
            found.append(str(error))
            raw.setdefault(setting.name, "")
    if found:
        raise SettingsError(found)
    found = problems(raw)
    if found:
        raise SettingsError(found)
    values = {setting.name: _parse(setting, raw[setting.name]) for setting in SETTINGS}
    return Settings(
        raw={s.name: raw[s.name] for s in SETTINGS},
        values=values,
        unknown=tuple(sorted(k for k in in_file if k not in BY_NAME and k not in OBSOLETE)),
        obsolete=tuple(sorted(k for k in in_file if k in OBSOLETE)),
        from_environment=tuple(sorted(k for k in BY_NAME if k in environ and k not in overrides)),
        overrides=dict(overrides),
    )


def from_mapping(values: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> Settings:
    """Resolve plain `KEY: value` pairs, as if each were a literal line of `.env`."""
    return resolve([envfile.Entry(k, v, True, n) for n, (k, v) in enumerate(values.items(), 1)], {}, overrides)


def template_text() -> str:
    """The text of `.env-template`, made from the table above."""
    lines = [
        "# jupyterhub-deploy settings. `invoke setup` copies this file to .env.",
        "# Every key is optional: a missing key takes the default shown here.",
        "# ${VAR} refers to another key (its default too) or to an environment",
        "# variable, as in Compose; a variable set in the environment wins over this file.",
    ]
    section = None
    for setting in SETTINGS:
        if setting.section != section:
            section = setting.section
            lines += ["", f"## {section}"]
        lines += textwrap.wrap(setting.help, width=78, initial_indent="# ", subsequent_indent="# ")
        if setting.choices:
            lines.append(f"# Allowed: {', '.join(setting.choices)}")
        lines.append(f"{setting.name}={setting.default}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m jhdeploy.settings > .env-template
    print(template_text(), end="")
