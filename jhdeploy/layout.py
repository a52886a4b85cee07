"""Names shared by the host-side tasks, the Compose files and the hub."""

from __future__ import annotations

from pathlib import PurePosixPath

HUB_SERVICE = "jupyterhub"  # the Compose service, and the host name users connect to
POSTGRES_SERVICE = "postgres"
ANNOUNCEMENT_FILE = "announcement.html"  # under conf/, written by `invoke announce`
HUB_PORT = 8000  # the public (proxy) port inside the hub container
STACK_LABEL = "org.jhdeploy.stack"  # on every container the hub spawns

# Files under secrets/ on the host; Compose mounts each at /run/secrets/<name>.
SECRET_FILES = {
    "proxy_token": "proxy_token",
    "cookie_secret": "cookie_secret",
    "postgres_password": "postgres_password",
    "hash_secret_key": "hash_secret_key",
    "oauth_client_secret": "oauth_client_secret",
    "ssl_cert": "jupyterhub.crt",
    "ssl_key": "jupyterhub.key",
}


def public_host(s) -> str:
    return s["JH_FQDN"] or "localhost"


def public_url(s) -> str:
    """The URL users open, with a trailing slash, from the validated settings."""
    host = public_host(s)
    if s["JUPYTERHUB_SSL"] == "no_ssl":
        return f"http://{host}:{s['JUPYTERHUB_HTTP_PORT']}/"
    port = s["JUPYTERHUB_HTTPS_PORT"]
    return f"https://{host}/" if port == "443" else f"https://{host}:{port}/"


def image_ref(s, key: str) -> str:
    """An image we build, as every node names it: prefixed with REGISTRY when one is set."""
    return f"{s['REGISTRY']}/{s[key]}" if s["REGISTRY"] else s[key]


def container_secret(name: str) -> PurePosixPath:
    return PurePosixPath("/run/secrets") / name
