"""One record per option choice: the Compose override it adds, and what that brings.

Every `compose/*.yml` file belongs to exactly one `Override`; an SSL mode, an
authenticator, a database or an add-on names the overrides it needs. The rest
of the code asks these records (which files, ports, volumes, secrets,
services, login hint) instead of branching on names, and
tests/unit/test_options.py checks each record against `compose config`.

Adding an option with its own Compose file takes four edits: its setting
(settings.py), its record (here), its Compose file (compose/) and its hub
mapping (hub/jhdeploy_hub/config.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from jhdeploy.stack import Stack


@dataclass(frozen=True)
class Override:
    """A Compose file and everything it adds to the stack."""

    compose: str
    services: tuple[str, ...] = ()  # services it defines
    ports: tuple[str, ...] = ()  # settings that name the host ports it publishes
    volumes: tuple[str, ...] = ()  # settings that name the external volumes it mounts
    secrets: tuple[str, ...] = ()  # files under secrets/ it mounts (keys of layout.SECRET_FILES)
    # Secrets copied into a container that does not run as root, through the variable
    # JHDEPLOY_SECRET_<NAME> of the Compose process (an `environment:` Compose secret).
    copied: tuple[str, ...] = ()


def _none(stack: Stack) -> list[str]:
    return []


BASE = Override("compose/base.yml", services=("jupyterhub", "proxy"), volumes=("DATA_VOLUME_HOST",),
                secrets=("cookie_secret", "proxy_token"), copied=("proxy_token",))


# --- SSL modes (JUPYTERHUB_SSL) -------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
LETS_ENCRYPT = {
    "": "https://acme-v02.api.letsencrypt.org/directory",
    "--staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


def le_problems(stack: Stack) -> list[str]:
    """use_ssl_le needs a public name, an email, and a usable ACME server."""
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


def own_certificate_problems(stack: Stack) -> list[str]:
    """use_ssl_own: the certificate is checked at start, and served as it is."""
    from jhdeploy import certs  # cryptography, imported only when a certificate is checked

    s = stack.settings
    missing = [key for key in ("SSL_CERT_PATH", "SSL_KEY_PATH", "JH_FQDN") if not s[key]]
    if missing:
        return [f"JUPYTERHUB_SSL=use_ssl_own needs {', '.join(missing)}: your certificate, its key, and the "
                "host name it is for."]
    return certs.own_problems(stack.secret_source("ssl_cert"), stack.secret_source("ssl_key"), s["JH_FQDN"])


@dataclass(frozen=True)
class SslMode:
    name: str
    override: Override
    scheme: str  # of the public URL
    port_key: str  # the setting whose port is in the public URL
    verify: str  # how this host checks the hub: with the "generated" certificate, "by_name" (SNI), or "none"
    default_bind_ip: str = "0.0.0.0"  # where the public port listens unless JUPYTERHUB_BIND_IP says
    acme: bool = False  # the certificate comes over ACME: JH_FQDN must resolve here; not on swarm yet
    front: str | None = None  # a service in front of the proxy, if any: `invoke status` shows it
    tls_files: tuple[str, str] | None = None  # settings naming the certificate and key, if not secrets/'s
    # An inner hop (Caddy -> proxy) says http: the hub then takes the scheme from its public URL.
    set_public_url: bool = False
    login_note: str = ""
    problems: Callable[[Stack], list[str]] = _none


PROXY_TLS = Override("compose/proxy_tls.yml", ports=("JUPYTERHUB_HTTPS_PORT",), copied=("ssl_cert", "ssl_key"))
SSL_MODES = {mode.name: mode for mode in (
    SslMode("use_ssl_ss", PROXY_TLS, "https", "JUPYTERHUB_HTTPS_PORT", "generated",
            login_note="The certificate is self-signed: your browser asks you to accept it once."),
    SslMode("use_ssl_own", PROXY_TLS, "https", "JUPYTERHUB_HTTPS_PORT", "by_name",
            tls_files=("SSL_CERT_PATH", "SSL_KEY_PATH"), problems=own_certificate_problems),
    SslMode("use_ssl_le", Override("compose/letsencrypt.yml", services=("caddy",),
                                   ports=("LE_HTTP_PORT", "JUPYTERHUB_HTTPS_PORT"), volumes=("CADDY_VOLUME_HOST",)),
            "https", "JUPYTERHUB_HTTPS_PORT", "by_name", front="caddy", acme=True, set_public_url=True,
            problems=le_problems),
    SslMode("no_ssl", Override("compose/no_ssl.yml", ports=("JUPYTERHUB_HTTP_PORT",)),
            "http", "JUPYTERHUB_HTTP_PORT", "none", default_bind_ip="127.0.0.1"),
)}


# --- Authenticators (JUPYTERHUB_AUTHENTICATOR) ----------------------------------------------

OAUTH_CLIENT = Override("compose/oauth.yml", secrets=("oauth_client_secret",))
ADMIN_PASSWORD = Override("compose/admin_password.yml", secrets=("admin_password",))


def oauth_problems(stack: Stack) -> list[str]:
    """The OAuth client secret (in .env or in secrets/), the callback's host, and generic_oauth's URLs."""
    s, found, auth = stack.settings, [], stack.authenticator
    key = auth.from_env[0]
    if not s[key] and not stack.secret_path("oauth_client_secret").exists():
        found.append(f"JUPYTERHUB_AUTHENTICATOR={auth.name} needs {key} in .env, or the secret in "
                     f"secrets/oauth_client_secret: it comes with the client id.")
    if auth.name == "generic_oauth" and not s["OAUTH_DISCOVERY_URL"]:
        missing = [k for k in ("OAUTH_AUTHORIZE_URL", "OAUTH_TOKEN_URL", "OAUTH_USERDATA_URL") if not s[k]]
        if missing:
            found.append("JUPYTERHUB_AUTHENTICATOR=generic_oauth needs OAUTH_DISCOVERY_URL (the provider's "
                         f".well-known/openid-configuration), or else {', '.join(missing)}.")
    callback = s["OAUTH_CALLBACK_URL"]
    if callback and urlsplit(callback).hostname != stack.host:
        found.append(f"OAUTH_CALLBACK_URL={callback!r} must point at this hub's host {stack.host!r} "
                     "(JH_FQDN, or localhost when JH_FQDN is empty).")
    return found


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
    problems: Callable[[Stack], list[str]] = _none


AUTHENTICATORS = {auth.name: auth for auth in (
    Authenticator("dummy_authenticator", "configure_shared_password",
                  "Log in as a user listed in userlist with the shared password (in secrets/shared_password, "
                  "or DUMMY_AUTH_PASSWORD); admins have their own, in secrets/admin_password. "
                  "`invoke user-password NAME` prints either.",
                  overrides=(Override("compose/shared_password.yml", secrets=("shared_password",)),
                             ADMIN_PASSWORD),
                  from_env=("DUMMY_AUTH_PASSWORD", "shared_password")),
    Authenticator("tmp_authenticator", "configure_tmp", "Every visitor gets a temporary user.",
                  uses_userlist=False, temporary_users=True),
    Authenticator("hash_authenticator", "configure_hash",
                  "Log in as a user listed in userlist; `invoke user-password NAME` prints the password.",
                  overrides=(Override("compose/hash.yml", secrets=("hash_secret_key",)),)),
    Authenticator("native_authenticator", "configure_native",
                  "Sign up at /hub/signup; admins authorize new users at /hub/authorize. The admins in userlist "
                  "exist already: `invoke user-password NAME` prints their generated passwords.",
                  overrides=(ADMIN_PASSWORD,), uses_userlist=False),
    Authenticator("github_authenticator", "configure_github", "Log in through your identity provider.",
                  overrides=(OAUTH_CLIENT,), from_env=("GITHUB_CLIENT_SECRET", "oauth_client_secret"),
                  problems=oauth_problems,
                  required=(("GITHUB_CLIENT_ID", "create an OAuth app at https://github.com/settings/developers "
                                                 "(or in your GitHub Enterprise)"),)),
    Authenticator("generic_oauth", "configure_generic", "Log in through your identity provider.",
                  overrides=(OAUTH_CLIENT,), from_env=("OAUTH_CLIENT_SECRET", "oauth_client_secret"),
                  problems=oauth_problems,
                  required=(("OAUTH_CLIENT_ID", "register a client (confidential, authorization code flow) "
                                                "with your OpenID provider"),)),
)}


# --- Databases (JUPYTERHUB_DB_URL) ----------------------------------------------------------

@dataclass(frozen=True)
class Database:
    name: str  # sqlite, postgres, or external (a full URL)
    override: Override | None
    dump: str | None  # how `invoke backup` copies it: "sqlite", "pg_dump", or None (its own tools)


DATABASES = {db.name: db for db in (
    Database("sqlite", None, "sqlite"),
    Database("postgres", Override("compose/postgres.yml", services=("postgres",), volumes=("DB_VOLUME_HOST",),
                                  secrets=("postgres_password",), copied=("postgres_password",)), "pg_dump"),
    Database("external", None, None),
)}


def database_of(url: str) -> Database:
    return DATABASES.get(url, DATABASES["external"])


# --- Add-ons: overrides that apply when a condition holds ------------------------------------

@dataclass(frozen=True)
class Addon:
    override: Override
    applies: Callable[[Stack], bool]


ADDONS = (
    # A private ACME server's root (Pebble in the tests, an internal step-ca in real life).
    Addon(Override("compose/acme_ca_root.yml"), lambda stack: stack.ssl.front == "caddy"
          and bool(stack.settings["ACME_CA_ROOT"])),
    # `invoke swarm-deploy`: only what Docker Swarm needs beyond the other files.
    Addon(Override("compose/swarm.yml"), lambda stack: stack.in_swarm),
    # USER_STORAGE_PATH: users' folders on a shared filesystem, which the hub creates.
    Addon(Override("compose/user_storage.yml"), lambda stack: bool(stack.settings["USER_STORAGE_PATH"])),
    # USER_NETWORK_FENCE: users' servers fenced from each other and from this host.
    Addon(Override("compose/fence.yml", services=("fence",)), lambda stack: stack.fenced),
)


def all_overrides() -> list[Override]:
    """Every record that claims a Compose file, once each."""
    found = [BASE, *(mode.override for mode in SSL_MODES.values()),
             *(override for auth in AUTHENTICATORS.values() for override in auth.overrides),
             *(db.override for db in DATABASES.values() if db.override),
             *(addon.override for addon in ADDONS)]
    unique: list[Override] = []
    for override in found:
        if override not in unique:
            unique.append(override)
    return unique
