"""Small, named workarounds for upstream packages that lag behind JupyterHub 6.

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
