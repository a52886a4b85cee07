"""The user network fence on Docker Swarm: rules in each user server's own network namespace.

On an overlay network, containers talk through VXLAN: the host's DOCKER-USER chain, where the
Compose-mode fence (fence.py) keeps its rules, never sees their traffic, and overlays have no
policy of their own (moby#31361). So a global service (compose/fence_swarm.yml) runs on every node
and writes, for each user server on its node, the filter table of that server's namespace:

- in: only the hub's and the proxy's tasks may open a connection to the server. They are looked up
  in Swarm's DNS from inside that namespace every few seconds, since a redeploy moves the hub. No
  other user's server, on this node or another, gets through;
- out: nothing to any address of this node, to the swarm address of any node, or to the cloud
  metadata address. The hub, the proxy and the internet stay reachable.

A server's rules are written as soon as Docker reports its container started, and stay with the
namespace: a restart of the fence leaves them in place. The fence needs the Docker socket (to find the
servers on its node and their namespaces), the node's /var/run/docker/netns, NET_ADMIN, NET_RAW and
SYS_ADMIN (to enter a namespace), and the host's network (to see the node's addresses).

    python3 -m jhdeploy_hub.swarmfence watch --project P --network NET
    python3 -m jhdeploy_hub.swarmfence check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
from docker.errors import NotFound

from jhdeploy_hub.contract import STACK_LABEL
from jhdeploy_hub.fence import METADATA, backend

NETNS = "/netns"  # the node's /var/run/docker/netns (compose/fence_swarm.yml)
STATE = Path("/tmp/fence-state.json")  # what the last round did, for `check` (the health check)
MARK = ["-m", "comment", "--comment", "jhdeploy-fence"]
EVERY = 2.0  # seconds between rounds: how long a moved hub waits before its servers let it in
FRESH = 30.0  # a round older than this: the fence is stuck


def rules(allowed: list[str], refused: list[str]) -> str:
    """A server namespace's filter table, for iptables-restore: in, only from ALLOWED (the hub and the
    proxy); out, nothing to REFUSED (the nodes, the metadata address)."""
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
             "-A INPUT -i lo -j ACCEPT",
             "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    lines += [f"-A INPUT -s {address}/32 -j ACCEPT" for address in allowed]
    lines += [f"-A INPUT {' '.join(MARK)} -j REJECT",
              "-A OUTPUT -o lo -j ACCEPT",
              "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    lines += [f"-A OUTPUT -d {address} {' '.join(MARK)} -j REJECT" for address in refused]
    return "\n".join([*lines, "COMMIT", ""])


def node_addresses(table: Path = Path("/proc/net/fib_trie")) -> set[str]:
    """Every IPv4 address of this node, from the kernel's table of local routes (the fence runs in the
    node's network namespace)."""
    found, address = set(), ""
    for line in table.read_text().splitlines():
        text = line.strip()
        if text.startswith(("|--", "+--")):
            address = text.split()[1]
        elif text == "/32 host LOCAL" and not address.startswith("127."):
            found.add(address)
    return found


def swarm_addresses(client, network: str) -> set[str]:
    """The swarm address of every node this one knows: itself, the managers, and each peer of NETWORK."""
    swarm = client.info().get("Swarm") or {}
    found = {swarm.get("NodeAddr") or ""}
    found |= {manager["Addr"].rsplit(":", 1)[0] for manager in swarm.get("RemoteManagers") or []}
    try:
        found |= {peer["IP"] for peer in client.inspect_network(network, verbose=True, scope="swarm").get("Peers")
                  or []}
    except NotFound:
        pass  # the network appears on a node with its first task there
    return {address for address in found if address}


def _skip_name(data: bytes, offset: int) -> int:
    while data[offset]:
        if data[offset] & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + data[offset]
    return offset + 1


def resolve(name: str, server: tuple[str, int] = ("127.0.0.11", 53), timeout: float = 2.0) -> list[str]:
    """NAME's IPv4 addresses from Docker's embedded DNS server: that of the namespace this runs in."""
    ident = random.randrange(65536)
    question = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(struct.pack(">6H", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">2H", 1, 1), server)
        data = sock.recv(4096)
    if struct.unpack(">H", data[:2])[0] != ident:
        return []
    offset, found = _skip_name(data, 12) + 4, []
    for _ in range(struct.unpack(">H", data[6:8])[0]):
        offset = _skip_name(data, offset)
        kind, _, _, length = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        if kind == 1 and length == 4:
            found.append(socket.inet_ntoa(data[offset:offset + 4]))
        offset += length
    return found


def in_namespace(path: str, function, *args):
    """FUNCTION(*ARGS) in the network namespace at PATH, on a thread of its own: a network namespace is
    a thread's, so the rest of the fence stays in the node's."""
    outcome: dict = {}

    def run():
        own, target = os.open("/proc/thread-self/ns/net", os.O_RDONLY), os.open(path, os.O_RDONLY)
        try:
            os.setns(target, os.CLONE_NEWNET)
            outcome["value"] = function(*args)
        except Exception as error:  # noqa: BLE001 - handed to the caller
            outcome["error"] = error
        finally:
            os.setns(own, os.CLONE_NEWNET)
            os.close(own)
            os.close(target)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class Fence:
    def __init__(self, project: str, network: str):
        self.project, self.network = project, network
        self.client = docker.APIClient()  # the node's engine, through its socket
        self.iptables = f"{backend()}-restore"
        self.applied: dict[str, str] = {}  # namespace path -> digest of the rules written there
        self.allowed: list[str] = []  # the hub's and the proxy's tasks, as last found
        self.wake = threading.Event()

    def servers(self) -> dict[str, str]:
        """{container name: its namespace's path} for each running user server of the stack on this node."""
        found = {}
        for summary in self.client.containers(filters={"label": f"{STACK_LABEL}={self.project}"}):
            key = self.client.inspect_container(summary["Id"])["NetworkSettings"].get("SandboxKey") or ""
            if key:
                found[summary["Names"][0].lstrip("/")] = f"{NETNS}/{os.path.basename(key)}"
        return found

    def find_hub(self, namespace: str) -> None:
        names = [f"tasks.{self.project}_{service}" for service in ("jupyterhub", "proxy")]
        try:
            found = sorted({address for name in names for address in in_namespace(namespace, resolve, name)})
        except OSError as error:
            print(f"fence: cannot ask Swarm's DNS for the hub and the proxy: {error}", flush=True)
            return
        if found and found != self.allowed:
            print(f"fence: the hub and the proxy are at {', '.join(found)}", flush=True)
            self.allowed = found

    def write(self, namespace: str, text: str) -> None:
        result = subprocess.run(["nsenter", f"--net={namespace}", self.iptables], input=text, text=True,
                                capture_output=True)
        if result.returncode:
            raise RuntimeError(result.stderr.strip())

    def round(self) -> dict:
        servers = self.servers()
        if servers:
            self.find_hub(next(iter(servers.values())))
        refused = sorted(node_addresses() | swarm_addresses(self.client, self.network)) + [METADATA]
        text = rules(self.allowed, refused)
        digest = hashlib.sha256(text.encode()).hexdigest()
        fenced, failed = [], {}
        for name, namespace in servers.items():
            if not self.allowed:
                failed[name] = "the hub's address is not known yet"
                continue
            try:
                if self.applied.get(namespace) != digest:
                    self.write(namespace, text)
                    self.applied[namespace] = digest
                fenced.append(name)
            except (OSError, RuntimeError) as error:
                failed[name] = str(error)
        self.applied = {ns: d for ns, d in self.applied.items() if ns in servers.values()}
        return {"time": time.time(), "fenced": sorted(fenced), "failed": failed, "allowed": self.allowed,
                "refused": refused}

    def follow_starts(self) -> None:
        """Wake the loop at once when a user server's container starts on this node."""
        for _ in self.client.events(decode=True, filters={"type": "container", "event": "start",
                                                          "label": f"{STACK_LABEL}={self.project}"}):
            self.wake.set()

    def watch(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the rules stay with the servers
        threading.Thread(target=self.follow_starts, daemon=True).start()
        said = None
        while True:
            outcome = self.round()
            write_state(outcome)
            summary = (tuple(outcome["fenced"]), tuple(sorted(outcome["failed"].items())))
            if summary != said:
                print(f"fence: {describe(outcome)}", flush=True)
                said = summary
            self.wake.wait(EVERY)
            self.wake.clear()


def write_state(outcome: dict) -> None:
    temporary = STATE.with_suffix(".tmp")
    temporary.write_text(json.dumps(outcome))
    temporary.replace(STATE)


def describe(outcome: dict) -> str:
    """One line: in force or not, and for how many servers on this node."""
    if outcome["failed"]:
        names = ", ".join(f"{name} ({why})" for name, why in sorted(outcome["failed"].items()))
        return f"NOT in force for {names}; in force for {len(outcome['fenced'])} server(s)"
    return f"in force for {len(outcome['fenced'])} server(s) on this node"


def check() -> int:
    """The health check: a recent round, which fenced every server it found."""
    try:
        outcome = json.loads(STATE.read_text())
    except (OSError, ValueError):
        print("fence: no round yet")
        return 1
    if time.time() - outcome["time"] > FRESH:
        print(f"fence: NOT in force: no round for {time.time() - outcome['time']:.0f} s")
        return 1
    print(f"fence: {describe(outcome)}")
    return 1 if outcome["failed"] else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m jhdeploy_hub.swarmfence")
    parser.add_argument("action", choices=("watch", "check"))
    parser.add_argument("--project", help="the stack's name (watch)")
    parser.add_argument("--network", help="the stack's overlay network (watch)")
    args = parser.parse_args(argv)
    if args.action == "check":
        return check()
    if not (args.project and args.network):
        parser.error("watch needs --project and --network")
    Fence(args.project, args.network).watch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
