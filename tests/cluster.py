"""A three-node Docker Swarm and a registry, for the multi-node tests (not part of the product).

Each node is a Docker Engine in a container of its own (jhdeploy-standin/swarm-node), with
its own data volume, on one test network, started with the capabilities that these machines
allow (--privileged is refused; see ../shared/engine-notes.md). node1 is the manager, node2
and node3 are workers. The registry is Debian's docker-registry, plain HTTP, declared as an
insecure registry to the nodes' engines only. One host folder is mounted into every node at
the same path: that is the shared filesystem a real cluster mounts from NFS or a NAS.

The tasks talk to the manager's engine through DOCKER_HOST (a socket shared into a host
folder), as an admin logged in on the manager would. Everything made here carries the label
org.jhdeploy.test=<name>, and remove() removes exactly that.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness import docker

NODE_IMAGE = "jhdeploy-standin/swarm-node:latest"
LABEL = "org.jhdeploy.test"
REGISTRY = "registry:5000"  # as the nodes' engines reach it, on the test network
SHARED = "/srv/jhd-users"  # the shared filesystem's mount point, the same on every node
# What these machines allow instead of --privileged (no CAP_SYS_RESOURCE here).
NODE_FLAGS = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
              "--security-opt", "apparmor=unconfined", "--device-cgroup-rule", "a *:* rwm",
              "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
              # Shared, as on a systemd host: the fence sees namespaces made after it started.
              "--tmpfs", "/run:rshared",
              # IPv6 is off in the nodes' network namespaces, so the inner engines cannot switch it off
              # for each container of theirs; they refuse to start one unless told that it is fine.
              "--env", "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1"]
REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: 0.0.0.0:5000
"""


class Cluster:
    def __init__(self, name: str, workdir: Path, published_port: int, same_path: Path):
        """NAME prefixes everything made; the manager publishes PUBLISHED_PORT on the host's loopback
        and sees SAME_PATH (a deployment folder) at the same path, as an admin's checkout on it."""
        self.name, self.workdir = name, workdir
        self.port, self.same_path = published_port, same_path
        self.network = f"{name}-net"
        self.nodes = [f"{name}-node{i}" for i in (1, 2, 3)]
        self.manager, self.workers = self.nodes[0], self.nodes[1:]
        self.sockets = workdir / "manager-socket"
        self.shared = workdir / "shared"
        self.timings: dict[str, float] = {}

    @property
    def docker_host(self) -> str:
        return f"unix://{self.sockets}/docker.sock"

    def on(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`docker ARGS` against NODE's own engine."""
        return docker("exec", node, "docker", *args, check=check)

    def start(self, swarm: bool = True) -> None:
        """The registry and three engines, and unless SWARM is False, the swarm (form_swarm)."""
        began = time.monotonic()
        label = ["--label", f"{LABEL}={self.name}"]
        self.sockets.mkdir(parents=True, exist_ok=True)
        self.shared.mkdir(parents=True, exist_ok=True)
        (self.workdir / "registry.yml").write_text(REGISTRY_CONFIG)
        docker("network", "create", *label, self.network)
        docker("run", "--detach", "--name", f"{self.name}-registry", "--network", self.network,
               "--network-alias", "registry", *label, "--volume", f"{self.workdir / 'registry.yml'}:/etc/reg.yml:ro",
               NODE_IMAGE, "docker-registry", "serve", "/etc/reg.yml")
        for node in self.nodes:
            extra = []
            if node == self.manager:
                extra = ["--publish", f"127.0.0.1:{self.port}:{self.port}",
                         "--volume", f"{self.sockets}:/node-socket",
                         "--volume", f"{self.same_path}:{self.same_path}"]
            docker("volume", "create", *label, f"{node}-data")
            docker("run", "--detach", "--name", node, "--hostname", node, "--network", self.network, *label,
                   *NODE_FLAGS, "--volume", f"{node}-data:/var/lib/docker",
                   "--volume", f"{self.shared}:{SHARED}", *extra, NODE_IMAGE,
                   "dockerd", "--host=unix:///var/run/docker.sock",
                   *(["--host=unix:///node-socket/docker.sock"] if node == self.manager else []),
                   f"--insecure-registry={REGISTRY}")
        for node in self.nodes:
            self._wait(lambda n=node: self.on(n, "info", check=False).returncode == 0, f"{node}'s engine")
        self.timings["engines up"] = time.monotonic() - began
        if swarm:
            self.form_swarm()

    def form_swarm(self) -> None:
        """node1 becomes the manager, node2 and node3 join as workers."""
        began = time.monotonic()
        address = docker("inspect", "--format",
                         f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}',
                         self.manager).stdout.strip()
        self.on(self.manager, "swarm", "init", "--advertise-addr", address)
        token = self.on(self.manager, "swarm", "join-token", "--quiet", "worker").stdout.strip()
        for worker in self.workers:
            self.on(worker, "swarm", "join", "--token", token, f"{address}:2377")
        self._wait(lambda: self.ready_nodes() == 3, "three ready swarm nodes")
        self.timings["swarm formed"] = time.monotonic() - began

    def ready_nodes(self) -> int:
        listing = self.on(self.manager, "node", "ls", "--format", "{{.Status}}", check=False).stdout.split()
        return listing.count("Ready")

    def load_on_manager(self, *images: str) -> None:
        """Images built on the host engine, into the manager's: the admin built them there."""
        began = time.monotonic()
        save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        subprocess.run(["docker", "exec", "-i", self.manager, "docker", "load", "--quiet"], stdin=save.stdout,
                       check=True, capture_output=True)
        assert save.wait() == 0
        self.timings["images into the manager"] = time.monotonic() - began

    def has_image(self, node: str, ref: str) -> bool:
        """REPO@DIGEST is there, or any image of REPO:TAG's repository: a swarm task's pull leaves the
        image under its digest only, without the tag."""
        if "@" in ref:
            return self.on(node, "image", "inspect", ref, check=False).returncode == 0
        repository = ref.rsplit(":", 1)[0]
        return bool(self.on(node, "image", "ls", "--quiet", repository).stdout.split())

    def node_of(self, service: str) -> str:
        """The node that runs SERVICE's current task."""
        tasks = self.on(self.manager, "service", "ps", "--filter", "desired-state=running", "--format",
                        "{{.Node}} {{.CurrentState}}", service, check=False).stdout.splitlines()
        running = [line.split()[0] for line in tasks if " Running" in line]
        return running[0] if running else ""

    def describe(self, *services: str) -> str:
        """What the manager knows of SERVICES (their tasks and logs), for a failing test's output."""
        parts = []
        for service in services:
            parts.append(self.on(self.manager, "service", "ps", "--no-trunc", service, check=False).stdout)
            logs = self.on(self.manager, "service", "logs", "--tail", "40", service, check=False)
            parts.append(logs.stdout[-4000:] + logs.stderr[-4000:])
        return "\n".join(parts)

    def containers(self, node: str) -> list[str]:
        return self.on(node, "ps", "--all", "--format", "{{.Names}}").stdout.split()

    def remove(self) -> None:
        """Every container, volume and network labelled for this cluster, nothing else."""
        for kind, flags in (("container", ["--all"]), ("volume", []), ("network", [])):
            found = docker(kind, "ls", "--quiet", *flags, "--filter", f"label={LABEL}={self.name}",
                           check=False).stdout.split()
            if found:
                # --volumes: the registry's anonymous volume too
                flags = {"container": ["--force", "--volumes"], "volume": ["--force"]}.get(kind, [])
                docker(kind, "rm", *flags, *found, check=False)

    @staticmethod
    def _wait(condition, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        raise AssertionError(f"after {timeout:.0f} s, still waiting for {what}")
