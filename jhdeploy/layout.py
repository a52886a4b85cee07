"""Names shared by the host-side tasks and the Compose files."""

from __future__ import annotations

from pathlib import PurePosixPath

HUB_SERVICE = "jupyterhub"  # the Compose service, and the host name users connect to
POSTGRES_SERVICE = "postgres"
PROXY_SERVICE = "proxy"  # configurable-http-proxy (compose/base.yml)
PROXY_API_PORT = 8001
ANNOUNCEMENT_FILE = "announcement.html"  # under conf/, written by `invoke announce`
STACK_LABEL = "org.jhdeploy.stack"  # on every container the hub spawns
HUB_CONF = "/srv/jupyterhub/conf"  # where compose/base.yml mounts conf/ in the hub

# Files under secrets/ on the host; Compose mounts each at /run/secrets/<name>.
SECRET_FILES = {
    "proxy_token": "proxy_token",
    "cookie_secret": "cookie_secret",
    "postgres_password": "postgres_password",
    "hash_secret_key": "hash_secret_key",
    "oauth_client_secret": "oauth_client_secret",
    "shared_password": "shared_password",
    "admin_password": "admin_password",
    "ssl_cert": "jupyterhub.crt",
    "ssl_key": "jupyterhub.key",
}


def image_ref(s, key: str) -> str:
    """An image we build, as every node names it: prefixed with REGISTRY when one is set."""
    return f"{s['REGISTRY']}/{s[key]}" if s["REGISTRY"] else s[key]


def container_secret(name: str) -> PurePosixPath:
    return PurePosixPath("/run/secrets") / name
