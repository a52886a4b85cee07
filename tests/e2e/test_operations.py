"""Issue 7: limits, GPUs, shared folder, image profiles, culling, announcements, doctor."""

from __future__ import annotations

import datetime
import json
import socket
import time

import pytest
from harness import TEST_IMAGES, docker

pytestmark = pytest.mark.e2e

MINIMAL = "jhdeploy-standin/minimal-notebook:latest"


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.env.update(
        NOTEBOOK_MEM_LIMIT="512M", NOTEBOOK_CPU_LIMIT="0.5",
        SHARED_VOLUME=f"{deployment.project}-shared", SHARED_MODE="rw",
        NOTEBOOK_IMAGES=f"Standard={TEST_IMAGES['LOCAL_NOTEBOOK_IMAGE']};Minimal={MINIMAL}",
        SERVER_TIMEOUT_SECONDS="0",
    )
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def restart_with(hub, **env) -> None:
    hub.env.update(env)
    hub.write_env()
    hub.invoke("restart")


def inspect(name: str) -> dict:
    return json.loads(docker("inspect", name).stdout)[0]


def shell(container: str, command: str):
    return docker("exec", container, "sh", "-c", command, check=False)


def test_memory_and_cpu_limits_reach_the_users_container(hub):
    client = hub.logged_in("bob")
    client.spawn("bob", options={"image": "Standard"})
    host = inspect(f"{hub.project}-bob")["HostConfig"]
    assert host["Memory"] == 536870912
    assert host["NanoCpus"] == 500000000


def test_two_users_share_a_writable_folder(hub):
    hub.logged_in("alice").spawn("alice", options={"image": "Standard"})
    written = shell(f"{hub.project}-alice", "echo from-alice > /home/jovyan/shared/note.txt")
    assert written.returncode == 0, written.stderr
    assert shell(f"{hub.project}-bob", "cat /home/jovyan/shared/note.txt").stdout.strip() == "from-alice"


def test_a_profile_spawns_the_chosen_image_and_nothing_outside_the_list(hub):
    client = hub.logged_in("alice")
    client.stop_server("alice")
    client.wait_stopped("alice")
    client.spawn("alice", options={"image": "Minimal"})
    assert inspect(f"{hub.project}-alice")["Config"]["Image"] == MINIMAL
    client.stop_server("alice")
    client.wait_stopped("alice")

    refused = client.api("POST", "/users/alice/server", json={"image": "alpine:latest"})
    assert refused.status_code >= 400
    assert "is not allowed" in refused.text or "not in allowed" in refused.text.lower()
    assert docker("ps", "--all", "--quiet", "--filter", "ancestor=alpine:latest").stdout.strip() == ""


def test_an_announcement_shows_on_the_home_page_without_a_restart(hub):
    hub.invoke("announce", "--message", "Maintenance on Friday at 18:00")
    client = hub.logged_in("bob")
    assert "Maintenance on Friday at 18:00" in client.get("/hub/home").text
    hub.invoke("announce", "--clear")
    assert "Maintenance on Friday" not in client.get("/hub/home").text


def test_doctor_on_a_healthy_stack(hub):
    result = hub.invoke("doctor")
    assert "✗" not in result.stdout
    assert "✓ Docker Engine" in result.stdout and "is served by this stack" in result.stdout
    assert "Ready" in result.stdout


def test_read_only_shared_folder_refuses_writes(hub):
    restart_with(hub, SHARED_MODE="ro")  # for servers started from now on: bob's running one keeps rw
    bob = hub.logged_in("bob")
    bob.stop_server("bob")
    bob.wait_stopped("bob")
    bob.spawn("bob", options={"image": "Standard"})
    assert shell(f"{hub.project}-bob", "cat /home/jovyan/shared/note.txt").stdout.strip() == "from-alice"
    refused = shell(f"{hub.project}-bob", "echo x > /home/jovyan/shared/other.txt")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr


def test_gpus_are_requested_from_docker(hub):
    # Keep the container this machine cannot start, to inspect what was asked for.
    keep = hub.root / "conf/jupyterhub_config.d/90-keep-failed.py"
    keep.write_text("c.DockerSpawner.remove = False\n")
    try:
        restart_with(hub, NOTEBOOK_GPUS="all")
        client = hub.logged_in("alice")
        client.api("POST", "/users/alice/server", json={"image": "Standard"})
        for _ in range(60):
            if docker("ps", "--all", "--quiet", "--filter", f"name=^{hub.project}-alice$").stdout.strip():
                break
            time.sleep(0.5)
        (request,) = inspect(f"{hub.project}-alice")["HostConfig"]["DeviceRequests"]
        assert request["Driver"] == "nvidia" and request["Count"] == -1
        assert request["Capabilities"] == [["gpu"]]
    finally:
        keep.unlink()
        docker("rm", "--force", f"{hub.project}-alice", check=False)
        hub.env.pop("NOTEBOOK_GPUS")
        hub.write_env()


def test_idle_servers_are_culled_and_busy_ones_are_not(hub):
    restart_with(hub, SERVER_TIMEOUT_SECONDS="20", CULL_EVERY_SECONDS="5")
    admin = hub.logged_in("alice")
    admin.spawn("alice", options={"image": "Standard"})
    hub.logged_in("bob").spawn("bob", options={"image": "Standard"})
    containers = {f"{hub.project}-alice", f"{hub.project}-bob"}
    deadline = time.monotonic() + 20 + 5 + 20  # timeout + interval + slack for the stop itself
    while time.monotonic() < deadline:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        kept = admin.api("POST", "/users/bob/activity", json={"servers": {"": {"last_activity": now}}})
        assert kept.status_code in (200, 204), kept.text
        running = set(docker("ps", "--format", "{{.Names}}").stdout.split()) & containers
        if f"{hub.project}-alice" not in running:
            break
        time.sleep(3)
    running = set(docker("ps", "--format", "{{.Names}}").stdout.split())
    assert f"{hub.project}-alice" not in running  # culled
    assert f"{hub.project}-bob" in running  # kept busy
    assert f"{hub.project}-user-alice" in docker("volume", "ls", "--quiet").stdout.split()  # data kept
    roles = admin.api("GET", "/services/idle-culler").json()["roles"]
    assert roles == ["idle-culler"]  # its own least-privilege role, not admin


def test_doctor_names_each_injected_fault(hub):
    secret = hub.root / "secrets/proxy_token"
    secret.chmod(0o644)
    try:
        result = hub.invoke("doctor", check=False)
    finally:
        secret.chmod(0o600)
    assert result.returncode == 1
    assert "✗ secrets/proxy_token is readable by others" in result.stdout

    unreachable = hub.invoke_env({"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, "doctor")
    assert unreachable.returncode == 1 and "✗ Docker Engine is not reachable" in unreachable.stdout

    hub.invoke("stop")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("0.0.0.0", hub.port))
        squatter.listen()
        taken = hub.invoke("doctor", check=False)
        refused = hub.invoke("start", check=False)
    assert taken.returncode == 1
    assert f"✗ Port {hub.port} (JUPYTERHUB_HTTPS_PORT) is taken by another program" in taken.stdout
    assert refused.returncode == 1 and "is taken by another program" in refused.stderr
