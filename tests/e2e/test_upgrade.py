"""Issue 15: a hub database made by an older JupyterHub, brought to the pinned version by `invoke upgrade-db`."""

from __future__ import annotations

import re

import pytest
from harness import STANDINS, TEST_IMAGES, docker

pytestmark = pytest.mark.e2e

OLDER = "5.5.4"


@pytest.fixture(scope="module")
def old_hub(deployment):
    """The stack as JupyterHub 5 left it: users, an admin, a named server."""
    deployment.env.update(JUPYTERHUB_VERSION=OLDER, JUPYTERHUB_BASE_IMAGE=f"jhdeploy-standin/jupyterhub:{OLDER}",
                          LOCAL_HUB_IMAGE="jhdtest-hub-older:latest", ALLOW_NAMED_SERVERS="yes")
    deployment.write_env()
    deployment.invoke("hub-image")
    deployment.invoke("proxy-image")
    # The notebook layers at the pinned version: the older hub only records what it spawns.
    deployment.invoke("notebook-image", "--with-deps")
    deployment.invoke("start")
    admin = deployment.logged_in("alice")
    assert admin.api("GET", "/").json()["version"] == OLDER
    assert admin.api("POST", "/users", json={"usernames": ["dora"]}).status_code == 201
    assert admin.api("PATCH", "/users/dora", json={"admin": True}).status_code == 200
    admin.spawn("alice", server="lab1")
    admin.api("DELETE", "/users/alice/servers/lab1")
    deployment.invoke("stop")
    return deployment


def test_a_start_on_the_newer_version_stops_with_the_upgrade_hint(old_hub):
    del old_hub.env["JUPYTERHUB_VERSION"], old_hub.env["JUPYTERHUB_BASE_IMAGE"]
    old_hub.env["LOCAL_HUB_IMAGE"] = TEST_IMAGES["LOCAL_HUB_IMAGE"]
    old_hub.env["JUPYTERHUB_BASE_IMAGE"] = STANDINS["JUPYTERHUB_BASE_IMAGE"]
    old_hub.write_env()
    old_hub.invoke("hub-image")
    refused = old_hub.invoke("start", check=False)
    assert refused.returncode == 1
    assert "older schema than this JupyterHub. The stack is stopped." in refused.stderr
    assert "invoke upgrade-db" in refused.stderr
    assert old_hub.running_containers() == []  # no restart loop


def test_upgrade_db_backs_up_upgrades_and_says_both_revisions(old_hub):
    archives = set((old_hub.root / "backups").glob("*.tar.gz"))
    result = old_hub.invoke("upgrade-db")
    revisions = re.search(r"Schema revision: (\w+) -> (\w+)", result.stdout)
    assert revisions and revisions.group(1) != revisions.group(2), result.stdout
    assert len(set((old_hub.root / "backups").glob("*.tar.gz")) - archives) == 2  # the archive and its secrets
    assert "✓ Backup first" in result.stdout


def test_after_the_upgrade_every_user_admin_flag_and_named_server_is_back(old_hub):
    old_hub.invoke("start")
    admin = old_hub.logged_in("alice")
    users = {u["name"]: u["admin"] for u in admin.api("GET", "/users").json()}
    assert users["alice"] is True and users["dora"] is True and users["bob"] is False
    assert "lab1" in admin.api("GET", "/users/alice?include_stopped_servers=1").json()["servers"]
    assert admin.api("GET", "/").json()["version"] != OLDER
    assert docker("inspect", "--format", "{{.State.Running}}", f"{old_hub.project}-jupyterhub-1").stdout.strip() == \
        "true"
