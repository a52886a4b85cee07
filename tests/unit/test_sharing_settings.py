"""Issue 31: SHARING and SHARING_BY_NAME in the hub's roles, its page, and users' servers."""

from __future__ import annotations

import pytest
from configs import applied, stack
from jhdeploy_hub import sharing

from jhdeploy import validation


def user_role(c) -> dict | None:
    roles = c.JupyterHub.load_roles if "load_roles" in c.JupyterHub else []
    return next((role for role in roles if role["name"] == "user"), None)


def test_without_sharing_users_keep_jupyterhubs_role_and_get_no_page_nor_collaboration():
    c = applied()
    assert user_role(c) is None
    assert "extra_handlers" not in c.JupyterHub
    assert "environment" not in c.Spawner
    assert c.JupyterHub.template_vars["sharing"] is False


def test_sharing_lets_users_share_their_own_servers_by_link_only():
    c = applied(SHARING="yes")
    assert user_role(c) == {"name": "user", "scopes": ["self", "shares!user"]}
    [(path, handler, kwargs)] = c.JupyterHub.extra_handlers
    assert (path, handler, kwargs) == (r"/shares", sharing.SharesHandler, {"by_name": False})
    assert c.Spawner.environment == {"JHDEPLOY_SHARING": "1"}
    assert c.JupyterHub.template_vars["sharing"] is True


def test_sharing_by_name_lets_users_see_names_and_nothing_more():
    c = applied(SHARING="yes", SHARING_BY_NAME="yes")
    assert user_role(c)["scopes"] == ["self", "shares!user", "read:users:name", "read:groups:name"]
    assert c.JupyterHub.extra_handlers[0][2] == {"by_name": True}


def test_the_user_role_comes_with_the_services_roles():
    c = applied(SHARING="yes", METRICS="yes")
    names = [role["name"] for role in c.JupyterHub.load_roles]
    assert "user" in names and "prometheus" in names


def test_sharing_by_name_without_sharing_is_refused_with_the_keys():
    problems = validation.problems(stack(SHARING_BY_NAME="yes"))
    assert problems == ["SHARING_BY_NAME=yes needs SHARING=yes: it adds sharing by name to sharing with a link."]


@pytest.mark.parametrize("key", ["SHARING", "SHARING_BY_NAME"])
def test_a_bad_sharing_value_names_the_key(key):
    from jhdeploy import settings

    with pytest.raises(settings.SettingsError) as error:
        settings.from_mapping({key: "maybe"})
    assert key in str(error.value) and "maybe" in str(error.value)


def test_a_new_link_lasts_a_day_unless_the_user_picks_another():
    assert sharing.LINK_EXPIRY[sharing.DEFAULT_LINK_EXPIRY] == 86400


def test_a_token_of_a_group_member_keeps_the_groups_share(monkeypatch):
    """JupyterHub's own scopes for a token (what a shared server asks the hub) with the patch in force."""
    from jhdeploy_hub import compat
    from jupyterhub import orm, roles, scopes

    current = roles.roles_to_expanded_scopes  # JupyterHub's own, also after a test that applied SHARING=yes
    monkeypatch.setattr(roles, "roles_to_expanded_scopes", getattr(current, "__wrapped__", current))
    db = orm.new_session_factory("sqlite:///:memory:")()
    alice, carol = orm.User(name="alice"), orm.User(name="carol")
    bio101 = orm.Group(name="bio101", users=[carol])
    spawner = orm.Spawner(user=alice, name="")
    db.add_all([alice, carol, bio101, spawner, orm.OAuthClient(identifier="jupyterhub")])
    db.commit()
    orm.Share.grant(db, spawner, bio101, scopes=["access:servers!server=alice/"])
    token = orm.APIToken.find(db, carol.new_api_token(scopes=["access:servers!server=alice/"]))

    assert "access:servers!server=alice/" not in scopes.get_scopes_for(token)  # JupyterHub's bug
    assert compat.patch_group_share_tokens() is True
    assert "access:servers!server=alice/" in scopes.get_scopes_for(token)
    bio101.users = []  # membership, not the past, decides
    db.commit()
    assert "access:servers!server=alice/" not in scopes.get_scopes_for(token)


def shared_server(url: str, owner_name: str, guest_name: str):
    """A hub database (JupyterHub's ORM) where the owner's server is shared with the guest and has a link."""
    from jupyterhub import orm

    db = orm.new_session_factory(url)()
    owner, guest = orm.User(name=owner_name), orm.User(name=guest_name)
    spawner = orm.Spawner(user=owner, name="")
    db.add_all([owner, guest, spawner])
    db.commit()
    orm.Share.grant(db, spawner, guest)
    orm.ShareCode.new(db, spawner, scopes=[f"access:servers!server={owner_name}/"])
    return db, owner, guest


@pytest.mark.parametrize("leaves", ["owner", "guest"])
def test_shares_go_with_a_user_who_is_deleted(leaves):
    """What tmp_authenticator relies on: the culler deletes a temporary user, and JupyterHub's database drops
    the shares of their servers and the shares made with them."""
    from jupyterhub import orm

    db, owner, guest = shared_server("sqlite:///:memory:", "tmp-owner", "tmp-guest")
    db.delete(owner if leaves == "owner" else guest)
    db.commit()
    assert db.query(orm.Share).count() == 0
    if leaves == "owner":
        assert db.query(orm.ShareCode).count() == 0


def test_with_sharing_off_the_hubs_start_ends_every_share_and_link(tmp_path):
    from jupyterhub import orm

    url = f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    shared_server(url, "alice", "bob")[0].close()
    said = []
    sharing.end_all(url, said.append)
    assert said == ["SHARING is off: ended 1 share(s) and 1 share link(s)."]
    db = orm.new_session_factory(url)()
    assert db.query(orm.Share).count() == db.query(orm.ShareCode).count() == 0
    assert db.query(orm.User).count() == 2  # nothing else
    said.clear()
    sharing.end_all(url, said.append)
    assert said == []  # nothing to end, nothing said


def test_ending_shares_never_stops_the_hub(tmp_path):
    said = []
    sharing.end_all(f"sqlite:///{tmp_path / 'new.sqlite'}", said.append)  # a first start: no tables yet
    assert said == []
    sharing.end_all(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}", said.append)
    assert len(said) == 1 and said[0].startswith("SHARING is off, but the shares could not be checked")

