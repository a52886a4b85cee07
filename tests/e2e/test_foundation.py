"""Issue 2: `invoke build` and `invoke start` bring up a real hub that users log in to."""

from __future__ import annotations

import pytest
import requests
from harness import PASSWORD, docker

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def test_health_answers_over_https_verified_against_the_generated_cert(hub):
    response = requests.get(hub.url + "hub/health", verify=str(hub.cert), timeout=10)
    assert response.status_code == 200


def test_userlist_user_logs_in_and_wrong_password_is_rejected(hub):
    assert hub.logged_in("alice").api("GET", "/user").json()["name"] == "alice"

    wrong = hub.client().login("alice", "not-the-password")
    assert wrong.status_code == 403
    assert "Invalid username or password" in wrong.text

    stranger = hub.client().login("mallory", PASSWORD)  # right password, not in userlist
    assert stranger.status_code == 403


def test_server_spawns_in_its_own_container_and_serves_jupyterlab(hub):
    client = hub.logged_in("bob")
    client.spawn("bob")

    lab = client.get("/user/bob/lab")
    assert lab.status_code == 200
    assert "JupyterLab" in lab.text
    assert client.contents("GET", "bob").status_code == 200

    container = docker("inspect", f"{hub.project}-bob").stdout
    assert f'"{hub.project}-network"' in container  # on the stack's network
    assert f"{hub.project}-user-bob" in container  # with its own named volume


def test_file_survives_stop_and_start(hub):
    client = hub.logged_in("alice")
    client.spawn("alice")
    written = client.contents("PUT", "alice", "kept.txt",
                              json={"type": "file", "format": "text", "content": "still here"})
    assert written.status_code == 201, written.text

    hub.invoke("stop")
    hub.invoke("start")

    client = hub.logged_in("alice")
    client.spawn("alice")
    read = client.contents("GET", "alice", "kept.txt")
    assert read.status_code == 200
    assert read.json()["content"] == "still here"


def test_restart_keeps_users_and_the_hub_database(hub):
    admin = hub.logged_in("alice")
    bob_before = admin.api("GET", "/users/bob").json()

    hub.invoke("restart")

    # The session cookie survives: the cookie secret is kept in secrets/.
    assert admin.api("GET", "/user").json()["name"] == "alice"
    bob_after = admin.api("GET", "/users/bob").json()
    assert bob_after["created"] == bob_before["created"]  # same database row, not a new user
    assert admin.api("GET", "/users/alice").json()["admin"] is True


def test_an_admin_reaches_the_admin_page_and_starts_and_stops_another_users_server(hub):
    admin = hub.logged_in("alice")
    assert admin.get("/hub/admin").status_code == 200
    started = admin.api("POST", "/users/bob/server")
    assert started.status_code in (201, 202) or "already" in started.text
    admin.spawn("bob")  # waits until bob's server is ready
    assert docker("inspect", "--format", "{{.State.Running}}", f"{hub.project}-bob").stdout.strip() == "true"
    admin.stop_server("bob")
    admin.wait_stopped("bob")
    assert docker("ps", "--quiet", "--filter", f"name=^{hub.project}-bob$").stdout.strip() == ""


def test_stop_leaves_no_running_container_of_the_stack(hub):
    client = hub.logged_in("bob")
    client.spawn("bob")
    assert len(hub.running_containers()) >= 2  # the hub and bob's server

    hub.invoke("stop")

    assert hub.running_containers() == []
    volumes = docker("volume", "ls", "--quiet").stdout.split()
    assert f"{hub.project}-data" in volumes and f"{hub.project}-user-bob" in volumes  # kept


def test_stop_stops_what_runs_after_env_names_another_project(hub):
    hub.invoke("start")
    hub.logged_in("bob").spawn("bob")
    running = hub.env["COMPOSE_PROJECT_NAME"]
    hub.env["COMPOSE_PROJECT_NAME"] = f"{running}-renamed"
    hub.write_env()
    try:
        result = hub.invoke("stop")
    finally:
        hub.env["COMPOSE_PROJECT_NAME"] = running
        hub.write_env()
    assert f"stopping the running {running!r}" in result.stderr
    assert hub.running_containers() == []  # neither the hub nor bob's server
    assert docker("ps", "--quiet", "--filter", f"name={running}").stdout.strip() == ""


def test_an_invalid_env_neither_locks_the_admin_out_nor_starts_anything(hub):
    """stop and status act on what `invoke start` saved; start still refuses, naming the key."""
    hub.invoke("start")
    hub.logged_in("bob").spawn("bob")
    valid = dict(hub.env)
    hub.env["JUPYTERHUB_SSL"] = "bogus"
    hub.write_env()
    try:
        status = hub.invoke("status")
        refused = hub.invoke("start", check=False)
        stopped = hub.invoke("stop")
    finally:
        hub.env = valid
        hub.write_env()
    said = (f"note: .env is invalid and was not used (JUPYTERHUB_SSL='bogus' is not allowed; choose one of: "
            f"use_ssl_ss, use_ssl_own, use_ssl_le, no_ssl.); this acts on {hub.project!r} as `invoke start` "
            "recorded it.\n")
    assert (status.stdout + status.stderr).count(said) == 1
    assert f"Project:  {hub.project}" in status.stdout and "bob: Up" in status.stdout
    assert refused.returncode == 2
    assert ("JUPYTERHUB_SSL='bogus' is not allowed; choose one of: use_ssl_ss, use_ssl_own, use_ssl_le, "
            "no_ssl.") in refused.stderr
    assert (stopped.stdout + stopped.stderr).count(said) == 1
    assert hub.running_containers() == []  # the hub, the proxy, the fence and bob's server
