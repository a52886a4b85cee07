"""What a resolved `.env` means: the option records chosen, Compose files, ports,
volumes, URLs, and the decisions handed to Compose and to the hub.

A `Stack` is made by resolve.py (from `.env`, or from what `invoke start` saved);
validation.py checks it. This module only derives: it reads no file but the
secrets whose content Compose or the masking needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jhdeploy_hub import contract, schedule

from jhdeploy import options, userlist
from jhdeploy.groups import Groups
from jhdeploy.layout import (
    DISK_STATE,
    HUB_SERVICE,
    METRICS_STATE,
    POSTGRES_SERVICE,
    PROXY_API_PORT,
    PROXY_SERVICE,
    SNAPSHOT_STATE,
    TEXTFILE_STATE,
    image_ref,
)
from jhdeploy.settings import Settings

COPIED_SECRET = "JHDEPLOY_SECRET_"  # the Compose variables that `environment:` Compose secrets read
IMAGE_KEYS = ("LOCAL_HUB_IMAGE", "LOCAL_PROXY_IMAGE", "LOCAL_NOTEBOOK_IMAGE")


def _digest(contents: dict[str, str], names) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(contents.get(name, "").encode() + b"\0")
    return digest.hexdigest()[:16]


def container_secret(name: str) -> PurePosixPath:
    return PurePosixPath(contract.SECRETS) / name


@dataclass(frozen=True)
class Stack:
    root: Path
    settings: Settings
    users: userlist.Userlist = field(default_factory=userlist.Userlist)
    mode: str = "compose"  # or "swarm" (`invoke swarm-deploy`)
    groups: Groups = field(default_factory=Groups)  # conf/groups.toml

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
    def in_swarm(self) -> bool:
        return self.mode == "swarm"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    def secret_path(self, name: str) -> Path:
        return self.secrets_dir / options.SECRETS[name].file

    @property
    def backup_dir(self) -> Path:
        return self.root / self.settings["BACKUP_DIR"]

    @property
    def user_volume_prefix(self) -> str:
        """Every user volume of this stack starts with it."""
        return contract.user_volume_prefix(self.project)

    @property
    def data_volume_prefixes(self) -> tuple[str, str]:
        """Users' volumes and group folders' volumes start with these; backups hold both."""
        return contract.data_volume_prefixes(self.project)

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

    def applies(self, addon: options.Addon) -> bool:
        return (self.mode in addon.modes and (not addon.ssl_modes or self.ssl.name in addon.ssl_modes)
                and (addon.setting is None or bool(self.settings[addon.setting])))

    @property
    def addons(self) -> list[options.Addon]:
        return [addon for addon in options.ADDONS if self.applies(addon)]

    @property
    def secrets_from_env(self) -> list[tuple[str, str]]:
        """(setting, secret): the secrets the chosen records let .env give, kept as files under secrets/."""
        auth = [self.authenticator.from_env] if self.authenticator.from_env else []
        return auth + [pair for addon in self.addons for pair in addon.from_env]

    @property
    def fenced(self) -> bool:
        """The user network fence is on, in Compose mode (options.FENCE): rules for the stack's bridge."""
        return options.FENCE in self.addons

    @property
    def swarm_fenced(self) -> bool:
        """The user network fence is on, on Swarm (options.FENCE_SWARM): rules in each server's namespace."""
        return options.FENCE_SWARM in self.addons

    @property
    def overrides(self) -> list[options.Override]:
        chosen = [options.BASE, self.ssl.override, *self.authenticator.overrides, self.database.override]
        chosen += [addon.override for addon in self.addons]
        return [override for override in chosen if override]

    def added(self, what: str) -> list[str]:
        """One field of the chosen overrides (services, ports, volumes, secrets, copied), all together."""
        return [item for override in self.overrides for item in getattr(override, what)]

    @property
    def compose_files(self) -> list[str]:
        return [override.compose for override in self.overrides]

    @property
    def services(self) -> list[str]:
        return self.added("services")

    @property
    def published_ports(self) -> dict[str, int]:
        """Host ports the stack publishes, by the setting that names them."""
        return {key: self.settings[key] for key in self.added("ports")}

    @property
    def volumes(self) -> list[str]:
        """The stack's own named volumes (user volumes are found by their prefix)."""
        return [self.settings[key] for key in self.added("volumes")]

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
    def database_url(self) -> str:
        """The hub database's URL, without its password (the hub adds it from the mounted secret)."""
        return self.database.url.format(**self.settings.raw)

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
    def oauth_callback_url(self) -> str:
        """Where an OAuth provider sends users back: OAUTH_CALLBACK_URL, or the hub's own callback."""
        return self.settings["OAUTH_CALLBACK_URL"] or self.url + "hub/oauth_callback"

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
        env = dict(self.settings.public)
        env.update(self.images)
        env["ACME_CA"] = self.acme_directory
        if self.settings["ACME_CA_ROOT"]:
            env["ACME_CA_ROOT_PATH"] = str((self.root / self.settings["ACME_CA_ROOT"]).resolve())
        env["PUBLISH_IP"] = self.bind_ip
        # Where the hub finds conf/ and its settings (hub/jhdeploy_hub/contract.py).
        env["HUB_CONF"], env["HUB_CONFIG_FILE"] = contract.CONF, contract.CONFIG_FILE
        env["HUB_STATE"] = str(PurePosixPath(contract.SETTINGS_FILE).parent)
        # An optional secret that is not there (an alert receiver's) is an empty file.
        copied = {name: self.secret_source(name) for name in self.added("copied")}
        contents = {name: path.read_text() if path.exists() else "" for name, path in copied.items()}
        env.update({f"{COPIED_SECRET}{name.upper()}": content for name, content in contents.items()})
        # Compose's own hash leaves secrets out: these make a changed token, certificate or receiver
        # recreate the services that hold a copy, and only those.
        env["PROXY_SECRETS_DIGEST"] = _digest(contents, [*options.BASE.copied, *self.ssl.override.copied])
        env["METRICS_SECRETS_DIGEST"] = _digest(contents, options.METRICS.override.copied)
        env["METRICS_CONFIG"], env["TEXTFILE_DIR"] = str(self.root / METRICS_STATE), str(self.root / TEXTFILE_STATE)
        env["TEXTFILE_DIR_CONTAINER"] = contract.TEXTFILE
        if options.SNAPSHOTS in self.addons:
            env["SNAPSHOT_STATE"], env["SNAPSHOT_STATE_CONTAINER"] = str(self.snapshot_state), contract.SNAPSHOT_STATE
            env["SNAPSHOT_PLAN"] = json.dumps(self.snapshot_plan())
        if options.DISK_SCAN in self.addons:
            env.update(self.disk_env())
        return env

    @property
    def disk_state(self) -> Path:
        """state/disk/: the disk-scan service's usage.json, start grants and the usage log (options.DISK_SCAN)."""
        return self.root / DISK_STATE

    def disk_env(self) -> dict[str, str]:
        """What the disk-scan service sees, where, and what it is to do (hub/jhdeploy_hub/diskscan.py). Without
        USER_STORAGE_PATH it gets state/disk/ for its folders, where no name is a user's."""
        s = self.settings
        plan = {"volumes": "/scan/volumes", "folders": "/scan/folders" if s["USER_STORAGE_PATH"] else "",
                "volume_prefix": contract.user_volume_prefix(self.project), "minutes": s["DISK_SCAN_MINUTES"],
                "iops": s["DISK_SCAN_IOPS"], "reserve": s["DISK_RESERVE"]}
        return {"DISK_STATE": str(self.disk_state), "DISK_STATE_CONTAINER": contract.DISK_STATE,
                "DISK_VOLUMES_CONTAINER": plan["volumes"], "DISK_FOLDERS_CONTAINER": "/scan/folders",
                "DISK_FOLDERS": s["USER_STORAGE_PATH"] or str(self.disk_state), "DISK_PLAN": json.dumps(plan)}

    @property
    def snapshot_state(self) -> Path:
        """state/backup/: the backup service's status.json (options.SNAPSHOTS)."""
        return self.root / SNAPSHOT_STATE

    def snapshot_plan(self) -> dict[str, Any]:
        """What the backup service is to do (hub/jhdeploy_hub/snapshots.py), decided: host paths for the
        restic containers it starts, names and rules. Never a secret: only the paths of their files."""
        s = self.settings
        repository = s["BACKUP_REPOSITORY"]
        kind = options.repository_of(repository)
        needed = [options.SECRETS["restic_password"], *(options.SECRETS[name] for name in kind.secrets)]
        # The snapshot's /stack: what `invoke restore` would need, with every secret but the password itself.
        files = {self.env_file: "config/.env", self.userlist_file: "config/userlist", self.root / "conf": "conf",
                 **{self.secret_path(secret.name): f"secrets/{secret.file}" for secret in options.SECRETS.values()
                    if secret.archived and secret.name != "restic_password"}}
        return {
            "project": self.project,
            "image": s["BACKUP_IMAGE"],
            "repository": "/repository" if not kind.scheme else repository,
            "repository_shown": re.sub(r"//[^/@]*@", "//***@", repository),  # a rest: URL's password never shows
            "repository_host": "" if kind.scheme else str((self.root / repository).resolve()),
            "cache_volume": f"{self.project}-restic-cache",
            "credentials": {str(self.secret_path(secret.name)): secret.restic_path for secret in needed},
            "schedule": "" if s["BACKUP_SCHEDULE"] == schedule.MANUAL else schedule.as_cron(s["BACKUP_SCHEDULE"]),
            "retention": s["BACKUP_RETENTION"],
            "user_prefix": self.user_volume_prefix,
            "group_prefix": self.data_volume_prefixes[1],
            "user_storage": s["USER_STORAGE_PATH"],
            "owner": [s["NB_UID"], s["NB_GID"]],
            "database": {"dump": self.database.dump, "path": f"{s['DATA_VOLUME_CONTAINER']}/jupyterhub.sqlite",
                         "service": POSTGRES_SERVICE, "user": s["POSTGRES_USER"], "db": s["POSTGRES_DB"]},
            "stack_files": {str(path): inside for path, inside in files.items() if path.exists()},
            "staging_host": str(self.snapshot_state / "staging"),
        }

    @property
    def cull_users(self) -> bool:
        """Idle users are deleted too: when asked, and always for temporary users."""
        return self.authenticator.temporary_users or self.settings["CULL_USERS"]

    @property
    def temporary_volume(self) -> str | None:
        """The volume name that goes with a temporary user's server; a folder under USER_STORAGE_PATH stays
        for the admin to remove."""
        if self.authenticator.temporary_users and not self.settings["USER_STORAGE_PATH"]:
            return contract.USER_VOLUME
        return None

    def hub_namespace(self) -> dict[str, Any]:
        """What a hub service's arguments may name: the settings (never a secret one: arguments show in
        `ps`), and the decisions made here."""
        values = self.settings.values
        return {**{key: values[key] for key in self.settings.public}, "cull_users": self.cull_users}

    def hub_services(self) -> tuple[dict[str, dict], dict[str, dict]]:
        """JupyterHub's services and roles, by name, from the records that apply (Z2JH's hub.services
        and hub.loadRoles): each record adds its own, and none knows the others."""
        namespace, services, roles = self.hub_namespace(), {}, {}
        for addon in self.addons:
            for service in addon.hub_services:
                spec: dict[str, Any] = {}
                if service.module:
                    spec["module"] = service.module
                    spec["args"] = [arg.format(**namespace) for arg in service.args]
                if service.token:
                    spec["token_file"] = str(container_secret(service.token))
                services[service.name] = spec
                scopes = list(service.scopes)
                scopes += [scope for decision, more in service.scopes_when if namespace[decision] for scope in more]
                roles[service.name] = {"scopes": scopes, "services": [service.name]}
        if self.settings["SHARING"]:
            roles["user"] = {"scopes": self.user_scopes()}
        return services, roles

    def user_scopes(self) -> list[str]:
        """JupyterHub's `user` role with SHARING, as its sharing tutorial grants it: users share their own
        servers (share codes need nothing more); by name, they also see every user's and group's name."""
        scopes = ["self", "shares!user"]
        if self.settings["SHARING_BY_NAME"]:
            scopes += ["read:users:name", "read:groups:name"]
        return scopes

    @property
    def user_groups(self) -> dict[str, list[str]] | None:
        """Each user's groups when userlist names them (and the identity provider does not): the hub then
        sets users' groups from it."""
        if self.authenticator.groups_from_provider or not self.users.groups:
            return None
        return {user: list(groups) for user, groups in sorted(self.users.groups.items())}

    def groups_current(self, user: str, started_with: str) -> bool:
        """Whether a server whose groups label says `started_with` (DIGEST:GROUP,...) started under what
        conf/groups.toml (and userlist, when it names the groups) say now."""
        digest, _, names = started_with.partition(":")
        if digest != self.groups.digest():
            return False
        return self.authenticator.groups_from_provider or names == ",".join(sorted(self.users.groups.get(user, ())))

    def group_folders(self) -> list[str]:
        """The folders of conf/groups.toml that the tasks make: Docker volumes and host paths (those under
        USER_STORAGE_PATH are made by the hub at first use, on the storage every node mounts)."""
        storage = self.settings["USER_STORAGE_PATH"]
        used = {folder for spec in self.groups.groups.values() for folder in spec.get("folders", {})}
        return sorted(self.groups.folder_source(folder, self.project, "") for folder in used
                      if not storage or self.groups.folders[folder].get("host_path"))

    def user_mounts(self) -> dict[str, Any]:
        """Each server's own volume (or folder under USER_STORAGE_PATH), and the shared folder when there is one."""
        s = self.settings
        own = f"{s['USER_STORAGE_PATH']}/{contract.USER_FOLDER}" if s["USER_STORAGE_PATH"] else contract.USER_VOLUME
        mounts: dict[str, Any] = {own: s["DOCKER_NOTEBOOK_DIR"]}
        if s["SHARED_VOLUME"]:
            mounts[s["SHARED_VOLUME"]] = {"bind": s["SHARED_MOUNT"], "mode": s["SHARED_MODE"]}
        return mounts

    @property
    def start_concurrency(self) -> int:
        """SPAWN_CONCURRENCY: `auto` is twice this host's cores, where the Compose stack starts every server;
        on Swarm the starts spread over the nodes, and the hub's cores say nothing of theirs."""
        value = self.settings["SPAWN_CONCURRENCY"]
        if value != "auto":
            return value
        return 0 if self.mode == "swarm" else 2 * (os.cpu_count() or 1)

    def hub_settings(self) -> dict[str, Any]:
        """Everything the hub needs, decided: its configuration maps each entry to traitlets and decides
        nothing. Each value has one name: a setting the hub reads as it is (rows marked `hub`) or a
        decision made here, never both."""
        s, db = self.settings, self.database
        services, roles = self.hub_services()
        https = self.ssl.scheme == "https"
        return {
            "format": contract.SETTINGS_FORMAT,
            "project": self.project,
            "mode": self.mode,
            # Behind Caddy the proxy's hop says http; the public URL makes the login cookies Secure all the same.
            "public_url": self.url if self.ssl.set_public_url else None,
            # Browsers then keep to HTTPS for this host, whichever page they saw first.
            "hsts": https,
            "hub_service": HUB_SERVICE,
            "labels": {"stack": contract.STACK_LABEL, "user": contract.USER_LABEL, "server": contract.SERVER_LABEL,
                       "groups": contract.GROUPS_LABEL},
            "proxy_api": f"http://{PROXY_SERVICE}:{PROXY_API_PORT}",
            "authenticator": self.authenticator.hub_function,
            "oauth_callback_url": self.oauth_callback_url if self.authenticator.oauth_callback else None,
            "temporary_volume": self.temporary_volume,
            "start_concurrency": self.start_concurrency,
            # The disk-scan service's figures, which the spawner checks starts against (options.DISK_SCAN).
            "disk_state": contract.DISK_STATE if options.DISK_SCAN in self.addons else None,
            "users": {"allowed": sorted(self.users.allowed), "admins": sorted(self.users.admins)},
            "groups": self.groups.for_hub(self.project, s["USER_STORAGE_PATH"]),
            "user_groups": self.user_groups,
            "database": {"url": self.database_url,
                         "password_file": str(container_secret(db.password_secret)) if db.password_secret else None},
            "secrets": {name: {"path": str(container_secret(name)),
                               "content_traits": list(options.SECRETS[name].content_traits),
                               "path_traits": list(options.SECRETS[name].path_traits)}
                        for name in self.added("secrets")},
            "services": services,
            "roles": roles,
            "notebook_image": self.images["LOCAL_NOTEBOOK_IMAGE"],
            "volumes": self.user_mounts(),
            "logo_file": f"{contract.CONF}/{s['LOGO_IMAGE'].removeprefix('conf/')}"
            if s["LOGO_IMAGE"] and (self.root / s["LOGO_IMAGE"]).is_file() else None,
            "settings": s.for_hub(),
        }

    def secret_values(self) -> list[str]:
        """Every secret value this stack knows, for masking output."""
        values = list(self.settings.secrets.values())
        for secret in options.SECRETS.values():
            path = self.secret_path(secret.name)
            if secret.masked and path.is_file():
                values.append(path.read_text().strip())
        return [v for v in values if len(v) >= 6]
