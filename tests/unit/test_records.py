"""The records of options.py hold together: secrets, settings rows, hub services, and the hub file they make."""

import pytest
from configs import applied, hub_settings, stack
from jhdeploy_hub import config

from jhdeploy import options, secretfiles, settings
from jhdeploy.stack import Stack

EVERY_AUTH = [{"JUPYTERHUB_AUTHENTICATOR": name, "GITHUB_CLIENT_ID": "x", "OAUTH_CLIENT_ID": "x",
               "OAUTH_AUTHORIZE_URL": "https://id.example.org/a", "OAUTH_TOKEN_URL": "https://id.example.org/t",
               "OAUTH_USERDATA_URL": "https://id.example.org/u"} for name in options.AUTHENTICATORS]


def test_every_secret_an_override_names_has_a_record():
    for override in options.all_overrides():
        assert set(override.secrets) | set(override.copied) <= set(options.SECRETS), override.compose


def test_every_secret_record_has_its_own_file_and_a_known_way_to_be_made():
    files = [secret.file for secret in options.SECRETS.values()]
    assert len(files) == len(set(files))
    assert {secret.generate for secret in options.SECRETS.values()} <= {*secretfiles.TOKENS, "certificate", ""}


def test_a_setting_that_gives_a_secret_is_a_secret_row_and_every_secret_row_gives_one():
    given = {auth.from_env[0] for auth in options.AUTHENTICATORS.values() if auth.from_env}
    given |= {key for addon in options.ADDONS for key, _ in addon.from_env}
    assert given == settings.SECRET_KEYS == {row.name for row in settings.SETTINGS if row.secret}


def test_the_settings_take_their_choices_from_the_records():
    assert settings.BY_NAME["JUPYTERHUB_SSL"].choices == tuple(options.SSL_MODES)
    assert settings.BY_NAME["JUPYTERHUB_AUTHENTICATOR"].choices == tuple(options.AUTHENTICATORS)
    with pytest.raises(settings.SettingsError, match="'sqlite', 'postgres', or a full SQLAlchemy URL"):
        settings.from_mapping({"JUPYTERHUB_DB_URL": "mysql"})


def test_secret_rows_stay_out_of_everything_but_the_secret_files():
    s = stack(DUMMY_AUTH_PASSWORD="a-password-of-mine", OAUTH_CLIENT_SECRET="a-client-secret")
    assert "a-password-of-mine" not in str(s.compose_env()) + str(s.hub_settings()) + str(s.settings.public)
    assert s.settings.secrets == {"DUMMY_AUTH_PASSWORD": "a-password-of-mine", "OAUTH_CLIENT_SECRET": "a-client-secret"}


def test_the_hub_file_holds_each_value_under_one_name():
    """A setting the tasks derive a decision from never reaches the hub raw beside it."""
    derived = {"LOCAL_NOTEBOOK_IMAGE", "JUPYTERHUB_DB_URL", "LOGO_IMAGE", "CULL_USERS", "OAUTH_CALLBACK_URL",
               "SHARED_VOLUME", "SERVER_TIMEOUT_SECONDS", "JUPYTERHUB_SSL", "JUPYTERHUB_AUTHENTICATOR"}
    for values in EVERY_AUTH:
        hub = hub_settings(**values)
        assert set(hub["settings"]) == {row.name for row in settings.SETTINGS if row.hub}
        assert not derived & set(hub["settings"])


class Reads(dict):
    """A dict that remembers the keys read from it."""

    read: set = set()

    def __getitem__(self, key):
        Reads.read.add(key)
        return super().__getitem__(key)


def test_every_setting_handed_to_the_hub_is_read_there():
    Reads.read = set()
    for mode, storage in (("compose", ""), ("swarm", "/srv/users")):
        for values in EVERY_AUTH:
            hub = stack(mode=mode, USER_STORAGE_PATH=storage, **values).hub_settings()
            hub["settings"] = Reads(hub["settings"])
            config.apply_config(hub, config_object(), read_secret=lambda path: "secret")
    assert Reads.read == {row.name for row in settings.SETTINGS if row.hub}


def config_object():
    from traitlets.config import Config

    return Config()


def test_the_culler_is_one_record_among_the_hub_services():
    services, roles = stack(SERVER_TIMEOUT_SECONDS="600", CULL_USERS="yes").hub_services()
    assert set(services) == set(roles) == {"idle-culler"}
    assert services["idle-culler"]["module"] == "jupyterhub_idle_culler"
    assert "--cull-users=True" in services["idle-culler"]["args"] and "admin:users" in roles["idle-culler"]["scopes"]
    assert stack(SERVER_TIMEOUT_SECONDS="0").hub_services() == ({}, {})


def test_temporary_users_are_culled_with_their_volumes_as_the_host_decides():
    s = stack(JUPYTERHUB_AUTHENTICATOR="tmp_authenticator")
    assert s.cull_users and s.hub_settings()["temporary_volume"] == "{prefix}-user-{username}{server_suffix}"
    assert stack(JUPYTERHUB_AUTHENTICATOR="tmp_authenticator", USER_STORAGE_PATH="/srv/u").temporary_volume is None


def test_a_service_with_a_token_gets_it_from_its_secret_and_its_role_merges_with_the_others(monkeypatch):
    """An add-on brings its hub service, role and token without knowing the culler (Z2JH's hub.services)."""
    watcher = options.HubService("watcher", scopes=("read:metrics",), token="proxy_token")
    monkeypatch.setattr(options, "ADDONS", (*options.ADDONS, options.Addon("watching", "ALLOW_NAMED_SERVERS",
                                                                             hub_services=(watcher,))))
    c = applied(ALLOW_NAMED_SERVERS="yes", SERVER_TIMEOUT_SECONDS="600")
    by_name = {service["name"]: service for service in c.JupyterHub.services}
    assert by_name["watcher"] == {"name": "watcher", "api_token": "from /run/secrets/proxy_token"}
    assert "command" in by_name["idle-culler"]
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["watcher"] == {"name": "watcher", "scopes": ["read:metrics"], "services": ["watcher"]}


def test_hsts_and_the_public_url_are_decided_by_the_ssl_mode():
    assert hub_settings()["hsts"] is True and hub_settings()["public_url"] is None
    assert hub_settings(JUPYTERHUB_SSL="no_ssl")["hsts"] is False
    le = hub_settings(JUPYTERHUB_SSL="use_ssl_le", JH_FQDN="hub.example.org", JH_EMAIL="a@example.org")
    assert le["public_url"] == "https://hub.example.org/"


def test_addons_apply_by_their_setting_mode_and_ssl_mode():
    def files(mode="compose", **values):
        return Stack(stack().root, settings.from_mapping(values), mode=mode).compose_files

    assert "compose/fence.yml" in files() and "compose/fence.yml" not in files(USER_NETWORK_FENCE="no")
    assert "compose/fence.yml" not in files("swarm") and "compose/swarm.yml" in files("swarm")
    assert "compose/acme_ca_root.yml" not in files(ACME_CA_ROOT="conf/ca.pem")
    assert "compose/acme_ca_root.yml" in files(ACME_CA_ROOT="conf/ca.pem", JUPYTERHUB_SSL="use_ssl_le")


def test_the_database_url_is_decided_by_its_record():
    assert stack().database_url == "sqlite:////data/jupyterhub.sqlite"
    assert stack(JUPYTERHUB_DB_URL="postgres").database_url == "postgresql+psycopg2://jupyterhub@postgres:5432/jupyterhub"
    assert stack(JUPYTERHUB_DB_URL="postgresql://u@db/h").hub_settings()["database"]["url"] == "postgresql://u@db/h"
