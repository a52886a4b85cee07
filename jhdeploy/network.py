"""The stack's network: a subnet of its own, split in two.

The lower half holds the hub and the proxy at fixed addresses (ADDRESSES; set
by compose/fence.yml), and whatever an admin attaches with an address from it.
Docker hands the upper half to every other container: users' servers, and a
service with no fixed address, such as Caddy (use_ssl_le). The user network
fence (jhdeploy_hub.fence) keeps the upper half from reaching itself, this host
and the cloud metadata address; so such a service still reaches the hub, the
proxy and the internet, and no user's server reaches it. engine.py creates and
inspects the network; this module only knows the layout.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from jhdeploy.layout import HUB_SERVICE, PROXY_SERVICE

# A service's address: the subnet's network address plus this.
ADDRESSES = {PROXY_SERVICE: 2, HUB_SERVICE: 3}
# What `invoke config` shows before `invoke start` has created the network (TEST-NET-1, RFC 5737).
EXAMPLE = ipaddress.IPv4Network("192.0.2.0/24")


@dataclass(frozen=True)
class Plan:
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def services(self) -> ipaddress.IPv4Network:
        return next(self.subnet.subnets(prefixlen_diff=1))

    @property
    def users(self) -> ipaddress.IPv4Network:
        return list(self.subnet.subnets(prefixlen_diff=1))[1]

    def address(self, service: str) -> str:
        return str(self.subnet.network_address + ADDRESSES[service])

    def compose_env(self) -> dict[str, str]:
        return {"NETWORK_SUBNET": str(self.subnet), "USERS_RANGE": str(self.users),
                "PROXY_IP": self.address(PROXY_SERVICE), "HUB_IP": self.address(HUB_SERVICE)}


def from_ipam(configs: list[dict]) -> Plan | None:
    """The layout of a network from `docker network inspect`'s IPAM config, if it is ours."""
    for config in configs or []:
        try:
            plan = Plan(ipaddress.IPv4Network(config.get("Subnet", "")))
        except ValueError:
            continue
        if config.get("IPRange") == str(plan.users):
            return plan
    return None
