"""jhdeploy_sharing: a shared server stops serving a guest as soon as the hub says the share has ended.

A Jupyter server extension, loaded only where the hub shares servers (JHDEPLOY_SHARING=1: the config dir
that collaboration-switch.py writes enables it). jupyterhub-singleuser alone lets a revoked guest go on:
  - HubOAuth keeps the hub's answer for a token for cache_max_age (300 s), so a revoked share keeps
    working for up to five minutes;
  - a WebSocket (kernel, terminal, events, the collaboration room) is authenticated only when it opens,
    so it stays open as long as the browser keeps it.
The guard therefore (1) lets HubOAuth keep only the owner's answers, so each request of a guest asks the
hub; (2) every CHECK_SECONDS asks the hub, without the cache, about the token of each guest's open
WebSocket and closes those that lost access with CLOSE_CODE (the jhdeploy-sharing JupyterLab extension
then reloads the page); (3) shows a refused guest a page that says their access has ended (templates/403.html,
which jupyter_server_config.py puts on the template path) instead of a bare "403 Forbidden".

It fails safe: without JupyterHub's identity provider (a plain `jupyter lab`) it logs and does nothing, and
a hub that does not answer closes nothing.
"""

from __future__ import annotations

import asyncio
import os
import weakref

from tornado.ioloop import PeriodicCallback
from tornado.web import HTTPError
from tornado.websocket import WebSocketHandler

CHECK_SECONDS = 2
CLOSE_CODE = 4403  # 4000-4999: for applications; "403" for people reading logs
CLOSE_REASON = "access to this server has ended"


def _jupyter_server_extension_points():
    return [{"module": "jhdeploy_sharing"}]


# The pure policy, unit-tested without a server (tests/unit/test_sharing.py).

def is_owner(model: dict | None, owner: str) -> bool:
    """Whether the hub's user model is the server's owner (a service of the same name is not)."""
    return bool(model) and model.get("kind", "user") == "user" and model.get("name") == owner


def keep_in_cache(model: dict | None, owner: str) -> bool:
    """Which of the hub's answers HubOAuth may keep: the owner's, whom no share concerns, and refusals
    (None: the hub knows no such token; refusing again from the cache grants nothing). A guest's answer
    is never kept, so that a guest whose share ends is refused on their next request."""
    return model is None or is_owner(model, owner)


def connection_state(handler) -> str:
    """"open", "pending" (authenticated, not upgraded yet) or "gone" (closed, or the upgrade failed)."""
    connection = handler.ws_connection
    if connection is not None:
        return "gone" if connection.is_closing() else "open"
    # tornado sets ws_connection before it finishes the upgrade, and clears it on close; a finished handler
    # without one was closed or never upgraded. (_finished is tornado's, and has no public accessor.)
    return "gone" if getattr(handler, "_finished", True) else "pending"


def to_close(sockets: dict, access: dict) -> list:
    """The open connections to close: those whose token the hub says has lost access (False). A token the
    hub gave no answer for (None: hub restarting, network) keeps its connections: a hub outage must not
    cut guests off, and their next request is checked anyway."""
    return [handler for handler, token in sockets.items()
            if access.get(token) is False and connection_state(handler) == "open"]


def owner_only_cache(expiring_dict: type, owner: str, max_age: int):
    """HubOAuth's cache (a jupyterhub.services.auth._ExpiringDict) that keeps only what keep_in_cache allows."""

    class OwnerOnlyCache(expiring_dict):
        def __setitem__(self, key, value):
            if keep_in_cache(value, owner):
                super().__setitem__(key, value)
            else:
                self.pop(key, None)

    return OwnerOnlyCache(max_age)


class AccessEnded(HTTPError):
    """A guest whose share was revoked or expired; templates/403.html reads owner and home."""

    def __init__(self, guest: str, owner: str, home: str):
        super().__init__(403, "%s's access to %s's server has ended.", guest, owner, reason="Access ended")
        self.jhdeploy_owner = owner
        self.jhdeploy_home = home


class Guard:
    def __init__(self, identity_provider, owner: str, home: str, log):
        self.identity_provider = identity_provider
        self.hub_auth = identity_provider.hub_auth
        self.owner = owner
        self.home = home
        self.log = log
        # Guests' WebSocket handlers and their tokens; weak, so a handler that tornado drops never stays here.
        self.sockets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def install(self, expiring_dict: type) -> None:
        self.hub_auth.cache = owner_only_cache(expiring_dict, self.owner, self.hub_auth.cache_max_age)
        get_user = self.identity_provider.get_user

        async def guarded_get_user(handler):
            user = await get_user(handler)
            await self.observe(handler, user)
            return user

        # On the instance: JupyterHub's provider is the one jupyterhub-singleuser configures, and its
        # config outranks ours, so a subclass could not take its place.
        self.identity_provider.get_user = guarded_get_user
        PeriodicCallback(self.sweep, CHECK_SECONDS * 1000).start()

    async def observe(self, handler, user) -> None:
        """Remember a guest's WebSocket; give a refused guest AccessEnded instead of a bare 403."""
        # HubAuth keeps its answer on the handler: this costs no second call to the hub.
        model = await self.hub_auth.get_user(handler, sync=False)
        if user is not None:
            if isinstance(handler, WebSocketHandler) and not is_owner(model, self.owner):
                token = self.hub_auth.get_token(handler)
                if token:
                    self.sockets[handler] = token
        elif model and not is_owner(model, self.owner):
            # Authenticated but no longer allowed: JupyterHub's provider made redirect() raise a bare 403
            # (pages); API requests still get their JSON 403, which never calls redirect().
            def access_ended(*args, **kwargs):
                raise AccessEnded(model.get("name", "?"), self.owner, self.home)

            handler.redirect = access_ended

    async def check(self, token: str) -> bool | None:
        """Whether the token still has access to this server, asked to the hub without the cache; None when
        the hub did not answer."""
        try:
            model = await self.hub_auth.user_for_token(token, use_cache=False, sync=False)
        except Exception as e:  # HTTPError 500/502 from HubAuth when the hub is down
            self.log.warning("jhdeploy_sharing: could not check a guest's access with the hub: %s", e)
            return None
        return bool(model) and bool(self.hub_auth.check_scopes(self.hub_auth.access_scopes, model))

    async def sweep(self) -> None:
        for handler in [h for h in list(self.sockets.keys()) if connection_state(h) == "gone"]:
            self.sockets.pop(handler, None)
        sockets = dict(self.sockets.items())
        tokens = sorted(set(sockets.values()))
        if not tokens:
            return
        access = dict(zip(tokens, await asyncio.gather(*map(self.check, tokens)), strict=True))
        for handler in to_close(sockets, access):
            self.log.info("jhdeploy_sharing: closing %s: the guest's access has ended", handler.request.path)
            self.sockets.pop(handler, None)
            handler.close(CLOSE_CODE, CLOSE_REASON)


def _load_jupyter_server_extension(serverapp):
    log = serverapp.log
    owner = os.environ.get("JUPYTERHUB_USER", "")
    home = os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/home"
    provider = serverapp.identity_provider
    try:
        if not owner or not hasattr(provider, "hub_auth"):
            raise TypeError(f"no JupyterHub identity provider ({type(provider).__name__}, user {owner!r})")
        # HubOAuth's own cache class (jupyterhub.services.auth._ExpiringDict), narrowed; taken from the instance,
        # so that nothing of JupyterHub is imported here: a server the hub spawns has it already.
        Guard(provider, owner, home, log).install(type(provider.hub_auth.cache))
    except Exception as e:  # keep serving the owner: the guard only ever removes access
        log.warning("jhdeploy_sharing: revoked shares are NOT enforced early on this server: %s", e)
        return
    log.info("jhdeploy_sharing: guests are checked with the hub on each request and every %s s", CHECK_SECONDS)
