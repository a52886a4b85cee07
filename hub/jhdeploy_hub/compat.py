"""Small, named workarounds: for upstream packages that lag behind JupyterHub 6, and for a hub still on
JupyterHub 5 (JUPYTERHUB_VERSION may name one, to upgrade its database from).

Each one checks for the problem first, so it turns into a no-op once upstream
fixes it. Runs inside the hub.
"""

from __future__ import annotations


class _Timer:
    def start(self):
        return self

    def stop(self, send: bool = True) -> None:
        pass


class _NoStatsd:
    """Stands in for the statsd client that JupyterHub 6 no longer gives handlers."""

    def timer(self, name: str) -> _Timer:
        return _Timer()


def patch_nativeauthenticator() -> bool:
    """nativeauthenticator 1.3.0 times logins with `self.statsd`, gone from JupyterHub 6's handlers:
    every login POST failed with HTTP 500. Returns True if the patch was needed."""
    try:
        from nativeauthenticator import handlers
    except ImportError:  # not installed: nothing to patch (the unit tests' case)
        return False
    if hasattr(handlers.LoginHandler, "statsd"):
        return False
    handlers.LoginHandler.statsd = _NoStatsd()
    return True


def spawn_refusal(message: str, reason: str, status_code: int) -> Exception:
    """A start refused by a policy: JupyterHub 6's SpawnException (its message on the spawn page and in the
    REST API, no traceback, `failure` in the metrics). JupyterHub 5 has none: an HTTPError whose
    `jupyterhub_message` its pages and API show the same way."""
    try:
        from jupyterhub.spawner import SpawnException
    except ImportError:
        from tornado import web

        error = web.HTTPError(status_code, "%s", message)
        error.jupyterhub_message = message
        return error
    return SpawnException(message, reason=reason, status_code=status_code)
