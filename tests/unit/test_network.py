"""The stack network's layout and the fence's rules (no firewall is touched here)."""

import ipaddress

from configs import stack
from jhdeploy_hub import fence

from jhdeploy import network


def test_the_subnet_is_split_into_services_and_users():
    plan = network.Plan(ipaddress.IPv4Network("172.20.0.0/16"))
    assert str(plan.services) == "172.20.0.0/17" and str(plan.users) == "172.20.128.0/17"
    assert plan.gateway == "172.20.0.1"
    assert plan.address("proxy") == "172.20.0.2" and plan.address("jupyterhub") == "172.20.0.3"
    assert plan.compose_env()["USERS_RANGE"] == "172.20.128.0/17"


def test_a_network_is_ours_only_when_docker_hands_out_the_users_half():
    ours = [{"Subnet": "172.20.0.0/16", "IPRange": "172.20.128.0/17", "Gateway": "172.20.0.1"}]
    assert network.from_ipam(ours).subnet == ipaddress.IPv4Network("172.20.0.0/16")
    assert network.from_ipam([{"Subnet": "172.20.0.0/16", "Gateway": "172.20.0.1"}]) is None
    assert network.from_ipam([]) is None


def test_the_fence_refuses_user_to_user_metadata_and_this_host_and_answers_replies():
    forward, inbound = fence.rules("172.20.128.0/17").values()
    assert forward[0] == fence.ESTABLISHED and inbound[0] == fence.ESTABLISHED
    assert ["-d", "169.254.169.254/32", "-j", "REJECT"] in forward
    assert ["-d", "172.20.128.0/17", "-j", "REJECT"] in forward
    assert inbound[-1] == ["-j", "REJECT"]  # nothing new from a user's server to this host
    jumps = dict(fence.jumps("lab", "172.20.128.0/17"))
    assert jumps["DOCKER-USER"][:2] == ["-s", "172.20.128.0/17"] and jumps["INPUT"][:2] == ["-s", "172.20.128.0/17"]


def test_each_stack_has_chains_of_its_own_short_enough_for_iptables():
    assert fence.chains("lab") != fence.chains("lab2")
    assert all(len(name) <= 28 for name in fence.chains("a-very-long-project-name-indeed"))


def test_the_fence_is_on_by_default_in_compose_mode_only():
    assert stack().fenced and "compose/fence.yml" in stack().compose_files
    assert not stack(mode="swarm").fenced and not stack(USER_NETWORK_FENCE="no").fenced


def test_the_hub_reaches_the_stack_and_its_network_without_any_http_proxy(tmp_path):
    from invoke import MockContext, Result

    from jhdeploy import engine

    ipam = '[{"Subnet": "172.20.0.0/16", "IPRange": "172.20.128.0/17", "Gateway": "172.20.0.1"}]'
    c = MockContext(run={"docker network inspect --format '{{json .IPAM.Config}}' jupyterhub-network": Result(ipam),
                         "docker info --format '{{.DockerRootDir}}'": Result("/srv/docker\n")}, repeat=True)
    env = engine.compose_env(c, stack(tmp_path))
    assert env["HUB_NO_PROXY"].split(",") == ["localhost", "127.0.0.1", "jupyterhub", "proxy", "fence", "diskscan",
                                              "172.20.0.0/16"]
    assert env["DOCKER_VOLUMES_DIR"] == "/srv/docker/volumes"
    assert env["USERS_RANGE"] == "172.20.128.0/17" and env["HUB_IP"] == "172.20.0.3"
