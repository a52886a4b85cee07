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


def patch_group_share_tokens() -> bool:
    """JupyterHub 5 and 6 cut a token's scopes to its owner's, counting the shares made with the owner but not
    with the owner's groups (scopes.get_scopes_for): a member of a group that a server was shared with sees it
    under "shared with me", then that server refuses them ("discarding scopes ... not present in roles of
    owner"). The owner's expanded scopes count their groups' shares too, as they do for the user's own
    session. Returns True if the patch was needed."""
    import inspect

    from jupyterhub import orm, roles, scopes

    token_branch = inspect.getsource(scopes.get_scopes_for).split("else:")[0]
    if ".groups" in token_branch or getattr(roles.roles_to_expanded_scopes, "counts_group_shares", False):
        return False
    original = roles.roles_to_expanded_scopes

    def roles_to_expanded_scopes(owner_roles, owner):
        expanded = original(owner_roles, owner)
        if isinstance(owner, orm.User):
            for group in owner.groups:
                for share in group.shared_with_me:
                    expanded = expanded | scopes.expand_share_scopes(share)
        return expanded

    roles_to_expanded_scopes.counts_group_shares = True
    roles_to_expanded_scopes.__wrapped__ = original
    roles.roles_to_expanded_scopes = roles_to_expanded_scopes
    return True
