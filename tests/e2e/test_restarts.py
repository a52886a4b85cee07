"""Issue 13: restarts that users never notice, servers that outlive the hub, bounded logs."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
import requests
from harness import Poller, docker

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def container_id(name: str) -> str:
    return docker("inspect", "--format", "{{.Id}}", name).stdout.strip()


def start_kernel(client, name: str) -> str:
    client.get(f"/user/{name}/lab")
    kernel = client.request("POST", f"{client.base}/user/{name}/api/kernels", json={"name": "python3"},
                            headers={"X-XSRFToken": client._xsrf(f"/user/{name}/")})
    assert kernel.status_code == 201, kernel.text
    return kernel.json()["id"]


def kernels(client, name: str) -> list[str]:
    return [k["id"] for k in client.get(f"/user/{name}/api/kernels").json()]


def wait_healthy(hub, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(hub.url + "hub/health", verify=str(hub.cert), timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError("the hub did not come back")


@pytest.fixture(scope="module")
def alice(hub):
    client = hub.logged_in("alice")
    client.spawn("alice")
    return client, start_kernel(client, "alice"), container_id(f"{hub.project}-alice")


def test_a_userlist_edit_and_restart_leave_a_running_server_and_its_kernel_alone(hub, alice):
    client, kernel, container = alice
    (hub.root / "userlist").write_text((hub.root / "userlist").read_text() + "carol\n")
    with Poller(f"{hub.url}user/alice/api", str(hub.cert)) as poller:
        result = hub.invoke("restart")
        time.sleep(2)
    assert poller.requests > 20 and poller.failures == [], poller.failures
    assert "1 user server(s) left running" in result.stdout
    assert container_id(f"{hub.project}-alice") == container
    assert kernel in kernels(client, "alice")
    assert hub.logged_in("carol").api("GET", "/user").json()["name"] == "carol"  # the new user logs in


def test_a_hub_killed_inside_its_container_comes_back_and_users_notice_nothing(hub, alice):
    client, kernel, container = alice
    hub_container = f"{hub.project}-jupyterhub-1"
    restarts = int(docker("inspect", "--format", "{{.RestartCount}}", hub_container).stdout)
    with Poller(f"{hub.url}user/alice/api", str(hub.cert)) as poller:
        os.kill(int(docker("inspect", "--format", "{{.State.Pid}}", hub_container).stdout), signal.SIGKILL)
        time.sleep(1)
        wait_healthy(hub)
    assert int(docker("inspect", "--format", "{{.RestartCount}}", hub_container).stdout) == restarts + 1
    assert poller.requests > 10 and poller.failures == [], poller.failures
    assert container_id(f"{hub.project}-alice") == container and kernel in kernels(client, "alice")


def test_status_shows_the_proxy_its_routes_and_the_user_servers(hub, alice):
    status = hub.invoke("status").stdout
    routes = int(re.search(r"Proxy: +proxy, (\d+) route\(s\)", status).group(1))
    assert routes >= 2  # the hub and alice's server
    assert re.search(r"User servers: \d+\n( +\S+: .*\n)* +alice: Up", status), status


def test_every_container_logs_with_a_size_cap_and_logs_user_follows_a_server(hub, alice):
    for name in (f"{hub.project}-alice", f"{hub.project}-jupyterhub-1", f"{hub.project}-proxy-1"):
        config = json.loads(docker("inspect", "--format", "{{json .HostConfig.LogConfig}}", name).stdout)
        assert config == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}, name
    shown = hub.invoke("logs", "--user", "alice", "--no-follow")
    assert "ServerApp] 200 GET /user/alice/api/kernels" in shown.stdout + shown.stderr  # its own log
    assert hub.invoke("logs", "--user", "nobody-here", "--no-follow", check=False).returncode == 2


def test_a_server_that_fails_to_start_leaves_its_last_lines_in_the_hub_log(hub):
    hub.env["DOCKER_SPAWN_CMD"] = "sh -c 'echo jhdeploy-marker: cannot start; exit 3'"
    hub.write_env()
    try:
        hub.invoke("restart")
        hub.client().login("bob", hub.password("bob"))  # logging in starts bob's server, which fails
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = hub.invoke("logs", "--service", "jupyterhub", "--no-follow", "--tail", "300").stdout
            if "jhdeploy-marker: cannot start" in log:
                break
            time.sleep(2)
        assert "stopped by itself (exit code 3)" in log and "jhdeploy-marker: cannot start" in log
    finally:
        del hub.env["DOCKER_SPAWN_CMD"]
        hub.write_env()
        hub.invoke("restart")


def test_stop_keep_servers_leaves_exactly_the_user_containers_and_stop_leaves_none(hub, alice):
    client, kernel, container = alice
    users = set(docker("ps", "--quiet", "--filter", f"label=org.jhdeploy.stack={hub.project}").stdout.split())
    result = hub.invoke("stop", "--keep-servers")
    assert f"{len(users)} user server(s) kept running" in result.stdout
    running = set(docker("ps", "--quiet", "--filter", f"name={hub.project}").stdout.split())
    assert running == users and container in {docker("inspect", "--format", "{{.Id}}", r).stdout.strip()
                                              for r in running}

    hub.invoke("start")  # the hub comes back to the server it left
    assert container_id(f"{hub.project}-alice") == container and kernel in kernels(client, "alice")

    result = hub.invoke("stop")
    assert re.search(r"[1-9]\d* user server\(s\) stopped", result.stdout)
    assert hub.running_containers() == []
