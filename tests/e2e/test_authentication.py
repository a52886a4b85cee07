"""Issue 4: every authenticator through its real login flow, and named servers.

One stack; each test switches JUPYTERHUB_AUTHENTICATOR in .env and runs
`invoke restart`, as an admin would. No rebuild happens between them.
"""

from __future__ import annotations

import time

import pytest
import requests
from harness import REPO, ROOTFS, TEST_IMAGES, docker, image_id

pytestmark = pytest.mark.e2e

CLIENT_ID, CLIENT_SECRET = "e2e-client", "e2e-client-secret-value"
PROVIDER_INTERNAL = "http://idp:8080"


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.invoke("build")
    deployment.invoke("start")
    deployment.hub_image = image_id(TEST_IMAGES["LOCAL_HUB_IMAGE"])
    return deployment


def switch(hub, **env: str) -> None:
    """Edit .env and restart: the only step an admin takes to change the login method."""
    for key in list(hub.env):
        if key.startswith(("NATIVEAUTH_", "GITHUB_", "OAUTH_", "HASH_", "ALLOW_NAMED", "NAMED_")):
            del hub.env[key]
    hub.env.update(env)
    hub.write_env()
    hub.invoke("restart")
    assert image_id(TEST_IMAGES["LOCAL_HUB_IMAGE"]) == hub.hub_image  # no rebuild


@pytest.fixture(scope="module")
def provider(hub):
    """The test OAuth/OIDC provider, on the stack's network as `idp` and on a host port.

    Like an identity provider an admin runs beside the hub, it is not the stack's:
    it stays up while the hub restarts.
    """
    name = f"{hub.project}-idp"
    docker("run", "--detach", "--name", name, "--network", hub.network, "--network-alias", "idp",
           "--publish", "127.0.0.1::8080", "--volume", f"{REPO / 'tests/images/oauth-provider'}:/srv:ro",
           ROOTFS, "python3", "/srv/provider.py", "8080", CLIENT_ID, CLIENT_SECRET)
    port = docker("port", name, "8080/tcp").stdout.split(":")[-1].strip()
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):
        try:
            requests.get(f"{url}/.well-known/openid-configuration", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield url
    docker("rm", "--force", name, check=False)


def next_user(provider: str, **identity) -> None:
    assert requests.post(f"{provider}/_next_user", json=identity, timeout=10).status_code == 204


def logged_in_name(client) -> str | None:
    response = client.api("GET", "/user")
    return response.json()["name"] if response.status_code == 200 else None


def test_tmp_authenticator_gives_a_visitor_a_working_server(hub):
    switch(hub, JUPYTERHUB_AUTHENTICATOR="tmp_authenticator")
    visitor = hub.client()
    visitor.get("/hub/tmplogin")
    name = logged_in_name(visitor)
    assert name and name not in ("alice", "bob")  # a fresh temporary user, not from userlist
    visitor.spawn(name)
    assert visitor.get(f"/user/{name}/api").status_code == 200


def test_hash_authenticator_password_from_invoke_user_password(hub):
    switch(hub, JUPYTERHUB_AUTHENTICATOR="hash_authenticator", HASH_PASSWORD_LENGTH="12")
    password = hub.invoke("user-password", "alice").stdout.strip().splitlines()[-1]
    assert len(password) == 12
    other = hub.invoke("user-password", "bob").stdout.strip().splitlines()[-1]
    assert other != password

    client = hub.client()
    assert client.login("alice", password).status_code == 200
    assert logged_in_name(client) == "alice"
    assert hub.client().login("alice", other).status_code == 403
    assert hub.client().login("alice", hub.password("bob")).status_code == 403


def test_native_authenticator_signup_authorization_and_lockout(hub):
    switch(hub, JUPYTERHUB_AUTHENTICATOR="native_authenticator", NATIVEAUTH_SIGNUP="authorize_signup",
           NATIVEAUTH_FAILED_LOGINS="3", NATIVEAUTH_LOCKOUT_SECONDS="600")
    strong = "Lighthouse-Keeper-42"

    for weak in ("short", "1234567890"):  # under NATIVEAUTH_MIN_PASSWORD_LENGTH; too common
        refused = hub.client().signup("carol", weak)
        assert "your password has at least 10 characters and is not too common" in refused.text

    # alice is an admin in userlist: her account exists already, so nobody can sign up as her.
    taken = hub.client().signup("alice", strong)
    assert "this username is already in use" in taken.text
    signed_up = hub.client().signup("carol", strong)
    assert "Your information has been sent to the admin" in signed_up.text

    carol = hub.client()
    pending = carol.login("carol", strong)
    assert "has not been authorized by an administrator yet" in pending.text
    assert logged_in_name(carol) is None

    admin = hub.client()
    assert logged_in_name(admin) is None
    admin.login("alice", strong)
    assert logged_in_name(admin) is None  # the stranger's password is not alice's
    admin.login("alice", hub.invoke("user-password", "alice").stdout.strip().splitlines()[-1])
    assert logged_in_name(admin) == "alice"
    assert admin.get("/hub/authorize/carol").status_code == 200

    carol = hub.client()
    carol.login("carol", strong)
    assert logged_in_name(carol) == "carol"
    carol.spawn("carol")
    assert carol.get("/user/carol/api").status_code == 200

    for _ in range(3):
        hub.client().login("carol", "Wrong-Password-123")
    locked = hub.client()
    locked.login("carol", strong)
    assert logged_in_name(locked) is None  # locked out despite the right password


def test_github_authenticator_allows_userlist_and_orgs_only(hub, provider):
    switch(hub, JUPYTERHUB_AUTHENTICATOR="github_authenticator", GITHUB_CLIENT_ID=CLIENT_ID,
           GITHUB_CLIENT_SECRET=CLIENT_SECRET, GITHUB_URL=PROVIDER_INTERNAL, GITHUB_ALLOWED_ORGS="physics")

    def login_as(login: str, orgs: list[str], teams: tuple[str, ...] = ()):
        next_user(provider, login=login, orgs=orgs, teams=list(teams))
        client = hub.client()
        response = client.oauth_login(PROVIDER_INTERNAL, provider)
        return client, response

    bob, _ = login_as("bob", [])  # in userlist
    assert logged_in_name(bob) == "bob"
    erin, _ = login_as("erin", ["physics"], teams=("physics/ml",))  # in an allowed organization
    assert logged_in_name(erin) == "erin"
    mallory, response = login_as("mallory", ["chemistry"])
    assert response.status_code == 403 and logged_in_name(mallory) is None
    alice, _ = login_as("alice", [])
    assert alice.api("GET", "/users/alice").json()["admin"] is True
    # Her GitHub teams, by slug, are erin's JupyterHub groups, as of her last login.
    assert alice.api("GET", "/users/erin").json()["groups"] == ["ml"]
    login_as("erin", ["physics"])
    assert alice.api("GET", "/users/erin").json()["groups"] == []


def test_generic_oauth_uses_discovery_and_groups(hub, provider):
    switch(hub, JUPYTERHUB_AUTHENTICATOR="generic_oauth", OAUTH_CLIENT_ID=CLIENT_ID,
           OAUTH_CLIENT_SECRET=CLIENT_SECRET,
           OAUTH_DISCOVERY_URL=f"{PROVIDER_INTERNAL}/.well-known/openid-configuration",
           OAUTH_ALLOWED_GROUPS="students", OAUTH_ADMIN_GROUPS="staff")

    def login_as(login: str, groups: list[str]):
        next_user(provider, login=login, groups=groups)
        client = hub.client()
        return client, client.oauth_login(PROVIDER_INTERNAL, provider)

    frank, _ = login_as("frank", ["students"])
    assert logged_in_name(frank) == "frank"
    assert frank.api("GET", "/user").json()["admin"] is False
    grace, _ = login_as("grace", ["staff"])
    assert grace.api("GET", "/user").json()["admin"] is True
    mallory, response = login_as("mallory", ["visitors"])
    assert response.status_code == 403 and logged_in_name(mallory) is None

    # The groups claim sets frank's JupyterHub groups at each login (conf/groups.toml's groups, README).
    def groups_of(name: str) -> list[str]:
        return sorted(grace.api("GET", f"/users/{name}").json()["groups"])

    assert groups_of("frank") == ["students"]
    login_as("frank", ["students", "ml"])
    assert groups_of("frank") == ["ml", "students"]
    login_as("frank", ["students"])  # removed at the provider: gone at the next login
    assert groups_of("frank") == ["students"]

    # The client secret never shows in the merged Compose config.
    assert CLIENT_SECRET not in hub.invoke("config").stdout


def test_named_servers_each_with_container_and_volume_up_to_the_limit(hub):
    switch(hub, JUPYTERHUB_AUTHENTICATOR="dummy_authenticator", ALLOW_NAMED_SERVERS="yes", NAMED_SERVERS_MAX="2")
    client = hub.client()
    client.login("bob", hub.password("bob"))
    for server in ("one", "two"):
        client.spawn("bob", server=server)
        assert client.get(f"/user/bob/{server}/api").status_code == 200

    note = {"type": "file", "format": "text", "content": "only in one"}
    assert client.contents("PUT", "bob", "note.txt", server="one", json=note).status_code == 201
    assert client.contents("GET", "bob", "note.txt", server="one").status_code == 200
    assert client.contents("GET", "bob", "note.txt", server="two").status_code == 404  # its own volume

    containers = docker("ps", "--format", "{{.Names}}").stdout.split()
    assert f"{hub.project}-bob--one" in containers and f"{hub.project}-bob--two" in containers
    volumes = docker("volume", "ls", "--quiet").stdout.split()
    assert f"{hub.project}-user-bob--one" in volumes and f"{hub.project}-user-bob--two" in volumes

    third = client.api("POST", "/users/bob/servers/three")
    assert third.status_code == 400 and "maximum of 2 named servers" in third.text
