import pytest
from configs import applied
from invoke import Context
from jhdeploy_hub import config

from jhdeploy import secretfiles
from jhdeploy.resolve import from_env
from jhdeploy.settings import SettingsError
from jhdeploy.setup import ensure_runtime_files
from jhdeploy.stack import Stack

OIDC = {"JUPYTERHUB_AUTHENTICATOR": "generic_oauth", "OAUTH_CLIENT_ID": "hub",
        "OAUTH_CLIENT_SECRET": "s3cret", "OAUTH_AUTHORIZE_URL": "https://idp.example.org/auth",
        "OAUTH_TOKEN_URL": "https://idp.example.org/token", "OAUTH_USERDATA_URL": "https://idp.example.org/me"}


def test_userlist_authenticators_allow_only_userlist_and_drop_removed_users():
    for auth in ("dummy_authenticator", "hash_authenticator"):
        c = applied(JUPYTERHUB_AUTHENTICATOR=auth)
        assert c.Authenticator.allowed_users == {"alice", "bob"}
        assert c.Authenticator.admin_users == {"alice"}
        assert c.Authenticator.allow_existing_users is False


def test_tmp_authenticator_is_not_blocked_by_userlist():
    c = applied(JUPYTERHUB_AUTHENTICATOR="tmp_authenticator")
    assert c.JupyterHub.authenticator_class == "tmpauthenticator.TmpAuthenticator"
    assert c.TmpAuthenticator.allow_all is True
    assert "allowed_users" not in c.Authenticator


def test_hash_authenticator_key_is_a_runtime_secret_and_length_from_env():
    c = applied(JUPYTERHUB_AUTHENTICATOR="hash_authenticator", HASH_PASSWORD_LENGTH="12")
    assert c.HashAuthenticator.secret_key == "from /run/secrets/hash_secret_key"
    assert c.HashAuthenticator.password_length == 12


def test_native_authenticator_settings():
    c = applied(JUPYTERHUB_AUTHENTICATOR="native_authenticator", NATIVEAUTH_SIGNUP="open_signup",
                NATIVEAUTH_EMAIL="yes", NATIVEAUTH_FAILED_LOGINS="5", NATIVEAUTH_LOCKOUT_SECONDS="60")
    n = c.NativeAuthenticator
    assert (n.open_signup, n.ask_email_on_signup, n.allowed_failed_logins, n.seconds_before_next_try) == (
        True, True, 5, 60)
    assert n.minimum_password_length == 10 and n.check_common_password is True
    assert c.Authenticator.admin_users == {"alice"}
    assert "allowed_users" not in c.Authenticator  # sign-up, not userlist, decides


def test_github_settings_go_on_the_real_class():
    c = applied(JUPYTERHUB_AUTHENTICATOR="github_authenticator", GITHUB_CLIENT_ID="id",
                GITHUB_ALLOWED_ORGS="physics, chem:teachers", GITHUB_URL="https://ghe.example.org",
                JH_FQDN="hub.example.org")
    g = c.GitHubOAuthenticator
    assert c.JupyterHub.authenticator_class == "oauthenticator.github.GitHubOAuthenticator"
    assert g.client_id == "id" and c.OAuthenticator.client_secret == "from /run/secrets/oauth_client_secret"
    assert g.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
    assert g.allowed_organizations == {"physics", "chem:teachers"}
    assert g.github_url == "https://ghe.example.org"
    assert c.Authenticator.allowed_users == {"alice", "bob"}


def test_generic_oauth_endpoints_claims_and_groups():
    c = applied(**OIDC, OAUTH_ALLOWED_GROUPS="students", OAUTH_ADMIN_GROUPS="staff,it",
                JUPYTERHUB_HTTPS_PORT="8443")
    g = c.GenericOAuthenticator
    assert g.authorize_url == "https://idp.example.org/auth" and g.userdata_url == "https://idp.example.org/me"
    assert g.oauth_callback_url == "https://localhost:8443/hub/oauth_callback"
    assert g.username_claim == "preferred_username" and g.scope == ["openid", "profile", "email"]
    assert g.manage_groups is True and g.auth_state_groups_key == "oauth_user.groups"
    assert g.allowed_groups == {"students"} and g.admin_groups == {"staff", "it"}


def test_discovery_reads_the_three_endpoints():
    document = {"authorization_endpoint": "a", "token_endpoint": "t", "userinfo_endpoint": "u", "issuer": "i"}
    assert config.discover("https://idp/.well-known/openid-configuration", lambda url: document) == {
        "authorization_endpoint": "a", "token_endpoint": "t", "userinfo_endpoint": "u"}

    def unreachable(url):
        raise OSError("connection refused")

    with pytest.raises(SystemExit, match="OAUTH_DISCOVERY_URL='https://idp/x' could not be read"):
        config.discover("https://idp/x", unreachable)


def test_named_servers():
    c = applied(ALLOW_NAMED_SERVERS="yes", NAMED_SERVERS_MAX="3")
    assert c.JupyterHub.allow_named_servers is True and c.JupyterHub.named_server_limit_per_user == 3
    assert applied().JupyterHub.allow_named_servers is False


def stack_in(tmp_path, **values) -> Stack:
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    (tmp_path / "userlist").write_text("alice admin\nbob\n")
    return from_env(tmp_path, environ={})


@pytest.mark.parametrize(("values", "message"), [
    ({"JUPYTERHUB_AUTHENTICATOR": "github_authenticator", "GITHUB_CLIENT_SECRET": "x"},
     "needs GITHUB_CLIENT_ID: create an OAuth app at https://github.com/settings/developers"),
    ({"JUPYTERHUB_AUTHENTICATOR": "github_authenticator", "GITHUB_CLIENT_ID": "x"},
     "needs GITHUB_CLIENT_SECRET in .env, or the secret in secrets/oauth_client_secret"),
    ({**OIDC, "OAUTH_AUTHORIZE_URL": ""},
     "needs OAUTH_DISCOVERY_URL (the provider's .well-known/openid-configuration), or else OAUTH_AUTHORIZE_URL"),
    ({**OIDC, "JH_FQDN": "hub.example.org", "OAUTH_CALLBACK_URL": "https://other.example.org/hub/oauth_callback"},
     "must point at this hub's host 'hub.example.org'"),
])
def test_oauth_choices_say_what_is_missing_and_where_to_get_it(tmp_path, values, message):
    with pytest.raises(SettingsError) as error:
        stack_in(tmp_path, **values)
    assert message in str(error.value)


def test_client_secret_may_live_in_secrets_instead_of_env(tmp_path):
    secretfiles.store(tmp_path / "secrets", "oauth_client_secret", "from-file")
    stack = stack_in(tmp_path, **{**OIDC, "OAUTH_CLIENT_SECRET": ""})
    assert "compose/oauth.yml" in stack.compose_files


def test_client_secret_from_env_reaches_the_hub_as_an_owner_only_file(tmp_path):
    stack = stack_in(tmp_path, **OIDC, JUPYTERHUB_SSL="no_ssl")
    ensure_runtime_files(Context(), stack)
    path = tmp_path / "secrets" / "oauth_client_secret"
    assert path.read_text() == "s3cret\n" and path.stat().st_mode & 0o077 == 0


def test_compose_files_follow_the_authenticator(tmp_path):
    assert "compose/hash.yml" in stack_in(tmp_path, JUPYTERHUB_AUTHENTICATOR="hash_authenticator").compose_files
    assert stack_in(tmp_path).compose_files == ["compose/base.yml", "compose/proxy_tls.yml",
                                                "compose/shared_password.yml", "compose/admin_password.yml",
                                                "compose/fence.yml", "compose/diskscan.yml"]


def test_the_password_earlier_templates_published_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="DUMMY_AUTH_PASSWORD .13 characters. is not allowed; expected a password "
                                            "of your own"):
        stack_in(tmp_path, DUMMY_AUTH_PASSWORD="change-me-now")
    assert stack_in(tmp_path, DUMMY_AUTH_PASSWORD="xyz-long-enough").warnings() == []


def test_an_empty_userlist_lets_nobody_in_and_says_so(tmp_path):
    stack = stack_in(tmp_path)
    (tmp_path / "userlist").write_text("# only comments\n")
    empty = from_env(tmp_path, environ={})
    assert empty.warnings() == ["warning: userlist names nobody, so nobody can log in. Add `name` or `name admin` "
                                "lines, then `invoke restart`."]
    c = applied(users="# only comments\n")
    assert c.Authenticator.allowed_users == set() and c.Authenticator.allow_all is False
    assert stack.warnings() == []


def test_native_admins_get_a_generated_first_password_and_their_names_are_taken():
    from jhdeploy_hub.authenticators import native_admin_password

    c = applied(JUPYTERHUB_AUTHENTICATOR="native_authenticator")
    assert c.JupyterHub.authenticator_class == "jhdeploy_hub.authenticators.AdminsFirstNativeAuthenticator"
    assert c.AdminsFirstNativeAuthenticator.admin_key == "from /run/secrets/admin_password"
    first, other = native_admin_password("k", "alice"), native_admin_password("k", "bob")
    assert len(first) == 24 and first != other and first == native_admin_password("k", "alice")


def test_tmp_users_are_capped_and_leave_nothing_behind():
    c = applied(JUPYTERHUB_AUTHENTICATOR="tmp_authenticator", TMP_ACTIVE_SERVER_LIMIT="7")
    assert c.JupyterHub.active_server_limit == 7
    assert c.DockerSpawner.temporary_volume == "{prefix}-user-{username}{server_suffix}"
    assert "--cull-users=True" in c.JupyterHub.services[0]["command"]
    assert "temporary_volume" not in applied().DockerSpawner


def test_hash_passwords_have_64_bits_by_default():
    assert applied(JUPYTERHUB_AUTHENTICATOR="hash_authenticator").HashAuthenticator.password_length == 16


@pytest.mark.parametrize("values", [
    {"JUPYTERHUB_AUTHENTICATOR": "dummy_authenticator"},
    {"JUPYTERHUB_AUTHENTICATOR": "tmp_authenticator"},
    {"JUPYTERHUB_AUTHENTICATOR": "hash_authenticator"},
    {"JUPYTERHUB_AUTHENTICATOR": "native_authenticator"},
    {"JUPYTERHUB_AUTHENTICATOR": "github_authenticator", "GITHUB_CLIENT_ID": "id", "GITHUB_ALLOWED_ORGS": "a"},
    {**OIDC, "OAUTH_ALLOWED_GROUPS": "students", "OAUTH_ADMIN_GROUPS": "staff"},
], ids=lambda v: v["JUPYTERHUB_AUTHENTICATOR"])
def test_the_real_authenticator_class_accepts_our_config(values):
    """What the hub does at start: resolve the class and build it from the config."""
    from jupyterhub import orm
    from jupyterhub.app import JupyterHub

    c = applied(**values)
    hub = JupyterHub(config=c)
    db = orm.new_session_factory("sqlite://")()  # nativeauthenticator creates its table at start
    authenticator = hub.authenticator_class(config=c, _deprecated_db_session=db)
    if "oauth_client_secret" in str(c):
        assert authenticator.client_secret == "from /run/secrets/oauth_client_secret"
    assert authenticator.admin_users == ({"alice"} if values["JUPYTERHUB_AUTHENTICATOR"] != "tmp_authenticator"
                                         else set())
