"""Issue 8: the same stack on a single-node Docker Swarm, with SwarmSpawner."""

from __future__ import annotations

import time

import pytest
import requests
from harness import PASSWORD, docker

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def single_node_swarm(docker_engine):
    """The host's engine as a swarm for this module; afterwards, as it was: no volume, network or container
    of the module's stack (removed by `swarm-rm` and the deployment's cleanup) or of the swarm is left."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    before = engine_objects()
    if state != "active":
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    yield
    if state != "active":
        docker("swarm", "leave", "--force", check=False)
        if "docker_gwbridge" not in before["network"]:  # made by `swarm init`, and left by `swarm leave`
            docker("network", "rm", "docker_gwbridge", check=False)
    assert engine_objects() == before


def engine_objects() -> dict[str, set[str]]:
    listings = {"volume": ["--format", "{{.Name}}"], "network": ["--format", "{{.Name}}"],
                "container": ["--all", "--format", "{{.Names}}"]}
    return {kind: set(docker(kind, "ls", *flags).stdout.split()) for kind, flags in listings.items()}


@pytest.fixture(scope="module")
def swarm_hub(single_node_swarm, deployment):
    deployment.invoke("build")
    deployment.invoke("swarm-deploy")
    yield deployment
    deployment.invoke("swarm-rm", check=False)
    docker("network", "rm", deployment.network, check=False)


def services(project: str) -> list[str]:
    return [name for name in docker("service", "ls", "--format", "{{.Name}}").stdout.split()
            if name.startswith((f"{project}_", f"{project}-"))]


def test_the_hub_answers_on_the_swarm(swarm_hub):
    assert f"{swarm_hub.project}_jupyterhub" in services(swarm_hub.project)
    health = requests.get(swarm_hub.url + "hub/health", verify=str(swarm_hub.cert), timeout=10)
    assert health.status_code == 200
    status = swarm_hub.invoke("status").stdout
    assert "Docker Swarm" in status


def test_a_users_server_is_a_swarm_service_and_stopping_it_removes_the_service(swarm_hub):
    client = swarm_hub.client()
    assert client.login("alice", swarm_hub.password("alice")).status_code == 200
    client.spawn("alice")
    assert f"{swarm_hub.project}-alice" in services(swarm_hub.project)
    lab = client.get("/user/alice/lab")
    assert lab.status_code == 200 and "JupyterLab" in lab.text

    client.stop_server("alice")
    client.wait_stopped("alice")
    for _ in range(30):
        if f"{swarm_hub.project}-alice" not in services(swarm_hub.project):
            break
        time.sleep(1)
    assert f"{swarm_hub.project}-alice" not in services(swarm_hub.project)


def test_swarm_rm_leaves_no_services_and_keeps_volumes(swarm_hub):
    client = swarm_hub.client()
    assert client.login("bob", PASSWORD).status_code == 200
    client.spawn("bob")
    removed = swarm_hub.invoke("swarm-rm").stdout
    assert services(swarm_hub.project) == []
    assert f"{swarm_hub.project}-data" in docker("volume", "ls", "--quiet").stdout.split()
    kept = next(line for line in removed.splitlines() if line.startswith("Kept: "))
    volumes = [f"{swarm_hub.project}-{name}" for name in ("data", "user-alice", "user-bob")]
    assert f"on this node 3 volume(s) ({', '.join(volumes)})" in kept, kept
