"""Authenticator classes of our own, each a small change over an upstream one. Runs inside the hub."""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt
from jupyterhub import orm
from jupyterhub.auth import Authenticator
from jupyterhub.utils import maybe_future
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.orm import UserInfo
from sqlalchemy.orm import object_session
from traitlets import Dict, Unicode
from traitlets.utils.importstring import import_item


def native_admin_password(key: str, name: str) -> str:
    """The generated first password of one native_authenticator admin (`invoke user-password NAME`)."""
    digest = hmac.new(key.encode(), name.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:24]


class AdminsFirstNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator whose userlist admins have accounts before anybody can sign up.

    Upstream approves a sign-up under an admin's name at once, so the first stranger
    to sign up as `jovyan` would become an admin. Here each admin's account is created
    when the hub starts (JupyterHub calls add_user for every admin), with a password
    derived from secrets/admin_password; a sign-up under that name then finds it taken.
    An admin may change the password later at /hub/change-password.
    """

    admin_key = Unicode(config=True, help="The key that derives each admin's first password.")

    def add_user(self, user):
        if user.name in self.admin_users and not self.user_exists(user.name):
            password = native_admin_password(self.admin_key, user.name).encode()
            self.db.add(UserInfo(username=user.name, password=bcrypt.hashpw(password, bcrypt.gensalt()),
                                 is_authorized=True))
            self.db.commit()
            self.log.info("Created the native account of admin %s (its password: `invoke user-password %s`)",
                          user.name, user.name)
        return super().add_user(user)


class UserlistGroups(Authenticator):
    """Groups from userlist (`alice bio101`), mixed in before the configured authenticator: each user's
    JupyterHub groups are set to their userlist groups at login, and again before each start
    (`refresh_pre_spawn`), so that a userlist edit applied with `invoke restart` reaches a user at their
    next start without a new login."""

    user_groups = Dict(config=True, help="user -> the groups userlist gives them")

    async def authenticate(self, handler, data):
        found = await maybe_future(super().authenticate(handler, data))
        if not found:
            return found
        model = {"name": found} if isinstance(found, str) else dict(found)
        model["groups"] = self.user_groups.get(self.normalize_username(model["name"]), [])
        return model

    async def refresh_user(self, user, handler=None):
        return {"name": user.name, "groups": self.user_groups.get(user.name, [])}

    def add_user(self, user):
        """At the hub's start JupyterHub adds every user it knows, userlist's among them: each gets their
        groups then, so that a group exists (and can be shared with) before any of its members logs in."""
        orm_user = getattr(user, "orm_user", user)
        db = object_session(orm_user)
        if db is not None:  # as refresh_user: a user whom userlist gives no group is in none
            orm_user.groups = [orm.Group.find(db, name) or orm.Group(name=name)
                               for name in self.user_groups.get(orm_user.name, [])]
            db.commit()
        return super().add_user(user)


def with_userlist_groups(authenticator_class: str) -> type:
    """The configured authenticator, with its users' groups from userlist."""
    base = import_item(authenticator_class)
    return type(f"UserlistGroups{base.__name__}", (UserlistGroups, base), {})
