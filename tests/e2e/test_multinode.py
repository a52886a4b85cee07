"""Issue 18: the stack on a three-node swarm (tests/cluster.py), with a registry and shared user storage.

The admin's side runs on this host's engine, as on the manager where the admin built the
images: `invoke build`, then the images are loaded into the manager's engine, and every
later task talks to the manager (DOCKER_HOST). The workers get images only from the registry.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cluster import SHARED, Cluster
from harness import STANDINS, Poller, docker

pytestmark = pytest.mark.e2e

CROWD = [f"u{i:02d}" for i in range(1, 11)]
METRICS_IMAGES = ("PROMETHEUS_IMAGE", "NODE_EXPORTER_IMAGE", "BLACKBOX_EXPORTER_IMAGE", "ALERTMANAGER_IMAGE")
# The crowd is a lab group: the same conf/groups.toml as on one host (limits, images, a shared folder).
USERLIST = "alice admin\nbob\ncarol\n" + "".join(f"{name} lab\n" for name in CROWD)
GROUPS = """
[images.course]
image = "{image}"
display_name = "Course"
description = "The course image, from the registry"

[folders.labshare]
mount = "/home/jovyan/labshare"

[groups.lab]
images = ["course"]
mem_limit = "1G"
cpu_limit = 0.5
folders = {{ labshare = "rw" }}
"""


@pytest.fixture(scope="module")
def cluster(docker_engine, deployment, tmp_path_factory):
    cluster = Cluster(deployment.project, tmp_path_factory.mktemp("cluster"), deployment.port, deployment.root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def on_manager(deployment, cluster, *args: str):
    """`invoke ARGS` against the manager's engine, as the admin logged in there."""
    result = deployment.invoke_env({"DOCKER_HOST": cluster.docker_host}, *args)
    assert result.returncode == 0, f"invoke {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def swarm_hub(cluster, deployment):
    (deployment.root / "userlist").write_text(USERLIST)
    # The metrics add-on's images come from the registry on every node, as the official ones would.
    metrics_images = {key: f"registry:5000/{STANDINS[key].removeprefix('jhdeploy-standin/')}" for key in METRICS_IMAGES}
    for key, ref in metrics_images.items():
        docker("tag", STANDINS[key], ref)
    deployment.env.update(REGISTRY="registry:5000/jhd", USER_STORAGE_PATH=SHARED, METRICS="yes",
                          METRICS_SCRAPE_SECONDS="5", **metrics_images)
    deployment.write_env()
    (deployment.root / "conf/groups.toml").write_text(GROUPS.format(
        image=f"registry:5000/jhd/{deployment.env['LOCAL_NOTEBOOK_IMAGE']}"))
    deployment.invoke("build")
    deployment.refs = {key: f"registry:5000/jhd/{deployment.env[key]}"
                       for key in ("LOCAL_HUB_IMAGE", "LOCAL_PROXY_IMAGE", "LOCAL_NOTEBOOK_IMAGE")}
    cluster.load_on_manager(*deployment.refs.values(), *metrics_images.values())
    for ref in metrics_images.values():
        cluster.on(cluster.manager, "push", "--quiet", ref)
    deployment.pushed = on_manager(deployment, cluster, "push")
    deployment.before_deploy = {node: cluster.has_image(node, deployment.refs["LOCAL_NOTEBOOK_IMAGE"])
                                for node in cluster.workers}
    deployment.deployed = on_manager(deployment, cluster, "swarm-deploy")
    yield deployment
    deployment.invoke_env({"DOCKER_HOST": cluster.docker_host}, "swarm-rm")


def test_push_checks_every_node_without_pulling_the_notebook_image(swarm_hub, cluster):
    output = swarm_hub.pushed.stdout
    assert "Every node can pull them: 3 of 3 node(s)." in output, output
    assert swarm_hub.before_deploy == {node: False for node in cluster.workers}


def test_swarm_deploy_prepulls_the_notebook_image_on_every_worker(swarm_hub, cluster):
    assert "Pre-pulled registry:5000/jhd/" in swarm_hub.deployed.stdout
    assert "on 2 of 2 node(s) (node.role == worker)" in swarm_hub.deployed.stdout, swarm_hub.deployed.stdout
    assert all(cluster.has_image(node, swarm_hub.refs["LOCAL_NOTEBOOK_IMAGE"]) for node in cluster.workers)


def test_the_hub_runs_on_the_manager_and_users_servers_on_workers(swarm_hub, cluster):
    hub = f"{swarm_hub.project}_jupyterhub"
    assert cluster.node_of(hub) == cluster.manager
    for name in ("alice", "bob"):
        swarm_hub.logged_in(name).spawn(name)
        assert cluster.node_of(f"{swarm_hub.project}-{name}") in cluster.workers
    status = on_manager(swarm_hub, cluster, "status").stdout
    assert f"{swarm_hub.project}-alice on {cluster.node_of(f'{swarm_hub.project}-alice')}: Running" in status
    # Each user's own folder on the shared storage, made by the hub for the notebook user.
    folder = cluster.shared / "alice"
    assert folder.is_dir() and (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (1000, 0o700)


def task_of(cluster, service: str) -> tuple[str, str]:
    """SERVICE's ID and its running task's ID, as the manager knows them."""
    service_id = cluster.on(cluster.manager, "service", "inspect", "--format", "{{.ID}}", service).stdout.strip()
    tasks = cluster.on(cluster.manager, "service", "ps", "--quiet", "--filter", "desired-state=running",
                       service).stdout.split()
    return service_id, ",".join(tasks)


def test_a_hub_only_redeploy_is_not_noticed_by_a_running_server(swarm_hub, cluster):
    """Issue 29: `swarm-deploy` of a change only the hub uses returns once the new hub task answers; alice's
    server, service and task stay, a poller against it never fails, and she logs in to it again at once."""
    service = f"{swarm_hub.project}-alice"
    swarm_hub.logged_in("alice").spawn("alice")
    before = task_of(cluster, service)
    hub_tasks = task_of(cluster, f"{swarm_hub.project}_jupyterhub")[1]
    swarm_hub.env["CULL_EVERY_SECONDS"] = "240"
    swarm_hub.write_env()
    with Poller(f"{swarm_hub.url}user/alice/api", str(swarm_hub.cert)) as poller:
        on_manager(swarm_hub, cluster, "swarm-deploy")
        assert task_of(cluster, f"{swarm_hub.project}_jupyterhub")[1] not in ("", hub_tasks)
        client = swarm_hub.logged_in("alice")
        lab = client.get("/user/alice/lab")
        time.sleep(2)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, (lab.status_code, lab.url, lab.text[-2000:])
    assert poller.requests > 20 and poller.failures == [], poller.failures
    assert task_of(cluster, service) == before
    assert client.run_code("alice", "print(6 * 7)").strip() == "42"


def test_prometheus_finds_node_exporter_on_every_node_and_counts_the_running_servers(swarm_hub, cluster):
    """Issue 27 on Swarm: node-exporter is a global service, found through Swarm's DNS (tasks.NAME)."""
    def answer(expression: str) -> list[str]:
        out = on_manager(swarm_hub, cluster, "metrics", "--query", expression).stdout
        return [line.rsplit(" ", 1)[1] for line in out.splitlines()]

    admin = swarm_hub.logged_in("alice")
    running = sum(1 for user in admin.api("GET", "/users").json() if user.get("servers", {}).get("", {}).get("ready"))
    assert running >= 2
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        nodes, servers = answer('up{job="node"} == 1'), answer("jupyterhub_running_servers")
        if len(nodes) == 3 and servers == [str(running)]:
            break
        time.sleep(3)
    prometheus = cluster.on(cluster.manager, "ps", "--quiet", "--filter",
                            f"label=com.docker.swarm.service.name={swarm_hub.project}_prometheus").stdout.split()[0]
    targets = cluster.on(cluster.manager, "exec", prometheus, "wget", "-qO-",
                         "http://localhost:9090/api/v1/targets", check=False).stdout
    assert (len(nodes), servers) == (3, [str(running)]), targets + cluster.describe(f"{swarm_hub.project}_prometheus")
    disks = answer('node_filesystem_avail_bytes{mountpoint="/docker-volumes"}')
    assert len(disks) == 3 and all(float(value) > 0 for value in disks)
    assert cluster.on(cluster.manager, "service", "ls", "--format", "{{.Name}} {{.Mode}}",
                      "--filter", f"name={swarm_hub.project}_node-exporter").stdout.split()[1] == "global"
    status = on_manager(swarm_hub, cluster, "status").stdout
    assert re.search(r"Metrics:  Prometheus on the metrics network, (\d+) of \1 targets up", status), status


def test_a_users_files_follow_the_server_when_its_worker_is_drained(swarm_hub, cluster):
    service = f"{swarm_hub.project}-bob"
    client = swarm_hub.logged_in("bob")
    client.spawn("bob")
    note = {"type": "file", "format": "text", "content": "written before the drain"}
    assert client.contents("PUT", "bob", "note.txt", json=note).status_code == 201
    first = cluster.node_of(service)
    other = next(node for node in cluster.workers if node != first)
    cluster.on(cluster.manager, "node", "update", "--availability", "drain", first)
    try:
        client.wait_stopped("bob", timeout=120)  # the hub notices that the server stopped with its node
        try:
            client.spawn("bob")  # and bob starts it again, from the hub
        except AssertionError:
            print(cluster.describe(service, f"{swarm_hub.project}_jupyterhub"))
            raise
        assert cluster.node_of(service) == other
        read = client.contents("GET", "bob", "note.txt")
        assert read.status_code == 200 and read.json()["content"] == "written before the drain"
    finally:
        cluster.on(cluster.manager, "node", "update", "--availability", "active", first)


def test_a_pushed_new_notebook_image_is_pulled_by_the_worker_of_the_next_spawn(swarm_hub, cluster):
    """The admin updates the image and pushes it: the next spawn pulls it on a worker that never had it."""
    ref = swarm_hub.refs["LOCAL_NOTEBOOK_IMAGE"]
    swarm_hub.env["JUPYTERLAB_NEWS"] = "yes"  # any change to the top layer makes a new image
    swarm_hub.write_env()
    swarm_hub.invoke("notebook-image")
    cluster.load_on_manager(ref)
    on_manager(swarm_hub, cluster, "push")
    digest = cluster.on(cluster.manager, "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).stdout.strip()
    assert not any(cluster.has_image(node, digest) for node in cluster.workers)

    swarm_hub.logged_in("carol").spawn("carol", timeout=300)
    service = f"{swarm_hub.project}-carol"
    # The spawn named the digest that `invoke push` recorded, not the tag (issue 29).
    named = cluster.on(cluster.manager, "service", "inspect", "--format",
                       "{{.Spec.TaskTemplate.ContainerSpec.Image}}", service).stdout.strip()
    assert named == digest
    node = cluster.node_of(service)
    running = cluster.on(node, "ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={service}").stdout
    new = cluster.on(node, "image", "inspect", "--format", "{{.Id}}", digest).stdout.strip()
    assert running.split() and all(cluster.on(node, "inspect", "--format", "{{.Image}}", container).stdout.strip()
                                   == new for container in running.split())


def test_ten_users_at_once_spread_over_both_workers(swarm_hub, cluster):
    def spawn(name: str) -> str:
        swarm_hub.logged_in(name).spawn(name, timeout=300)
        return cluster.node_of(f"{swarm_hub.project}-{name}")

    with ThreadPoolExecutor(len(CROWD)) as pool:
        nodes = list(pool.map(spawn, CROWD))
    assert set(nodes) == set(cluster.workers), nodes


def test_the_lab_group_gets_its_limits_and_one_folder_across_both_workers(swarm_hub, cluster):
    """After the crowd spread over both workers: each lab member's service has the group's limits, and
    what one writes in the group folder on one worker, another reads on the other."""
    nodes = {name: cluster.node_of(f"{swarm_hub.project}-{name}") for name in CROWD}
    for name in CROWD:
        spec = json.loads(cluster.on(cluster.manager, "service", "inspect", f"{swarm_hub.project}-{name}").stdout)[0]
        limits = spec["Spec"]["TaskTemplate"]["Resources"]["Limits"]
        assert (limits["MemoryBytes"], limits["NanoCPUs"]) == (1024 ** 3, 500_000_000), limits
    writer = CROWD[0]
    reader = next(name for name in CROWD if nodes[name] != nodes[writer])
    swarm_hub.logged_in(writer).run_code(writer, "open('/home/jovyan/labshare/plan.txt', 'w').write('week 1')")
    read = swarm_hub.logged_in(reader).run_code(reader, "print(open('/home/jovyan/labshare/plan.txt').read())")
    assert read.strip() == "week 1"
    folder = cluster.shared / "_groups" / "labshare"
    assert (folder.stat().st_uid, folder.stat().st_gid, folder.stat().st_mode & 0o7777) == (1000, 100, 0o2775)


# Run inside a user's server: how a TCP connection to each HOST:PORT ends.
CONNECT = """
import json, socket, sys
seen = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        seen[target] = "open"
    except ConnectionRefusedError:
        seen[target] = "refused"
    except OSError as error:
        seen[target] = type(error).__name__
print(json.dumps(seen))
"""


def container_of(cluster, service: str) -> tuple[str, str]:
    """The node that runs SERVICE and its container's ID there."""
    node = cluster.node_of(service)
    found = cluster.on(node, "ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={service}")
    return node, found.stdout.split()[0]


def test_the_fence_keeps_each_server_to_the_hub_and_proxy_across_workers(swarm_hub, cluster):
    """Issue 29: from real servers on the two workers, the other's server port and every node's address are
    refused and the hub's API answers; the metadata rule is read from the server's namespace."""
    nodes = {name: cluster.node_of(f"{swarm_hub.project}-{name}") for name in CROWD}
    first = CROWD[0]
    second = next(name for name in CROWD if nodes[name] != nodes[first])
    addresses = {node: docker("inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{cluster.network}")'
                                                      '.IPAddress}}', node).stdout.strip() for node in cluster.nodes}
    servers = {}
    for name in (first, second):
        spec = swarm_hub.logged_in(name).api("GET", f"/users/{name}").json()["servers"][""]
        servers[name] = spec["url"], *container_of(cluster, f"{swarm_hub.project}-{name}")
    ips = {name: cluster.on(node, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} "
                            "{{end}}", container).stdout.split()[0] for name, (_, node, container) in servers.items()}
    for name, (_, node, container) in servers.items():
        other = second if name == first else first
        # 7946: every node's gossip port, open on each; 2377: the manager's.
        targets = [f"{ips[other]}:8888", *(f"{address}:7946" for address in addresses.values()),
                   f"{addresses[cluster.manager]}:2377"]
        seen = json.loads(cluster.on(node, "exec", container, "python3", "-c", CONNECT, *targets).stdout)
        assert seen == {target: "refused" for target in targets}, (name, seen)
        hub = cluster.on(node, "exec", container, "python3", "-c", "import urllib.request; print(urllib.request."
                         "urlopen('http://jupyterhub:8081/hub/api/').status)")
        assert hub.stdout.strip() == "200"
        # No capability: no raw packet that could pose as the hub.
        raw = cluster.on(node, "exec", container, "python3", "-c", "import socket; socket.socket(socket.AF_INET, "
                         "socket.SOCK_RAW, socket.IPPROTO_ICMP)", check=False)
        assert raw.returncode != 0 and "PermissionError" in raw.stderr, raw.stderr
        sandbox = cluster.on(node, "inspect", "--format", "{{.NetworkSettings.SandboxKey}}", container).stdout.strip()
        rules = docker("exec", node, "nsenter", f"--net={sandbox}", "iptables", "-S", "OUTPUT").stdout
        assert "-A OUTPUT -d 169.254.169.254/32 -m comment --comment jhdeploy-fence -j REJECT" in rules, rules
    # Both servers still answer through the proxy: the fence let the hub and the proxy in.
    for name in (first, second):
        assert swarm_hub.logged_in(name).get(f"/user/{name}/api/status").status_code == 200
    status = on_manager(swarm_hub, cluster, "status").stdout
    for node in cluster.nodes:
        assert re.search(rf"^  {node}: in force for \d+ server\(s\) on this node$", status, re.M), status
    for node in cluster.workers:
        assert re.search(rf"^  {node}: in force for [1-9]\d* server\(s\)", status, re.M), status


def test_swarm_rm_leaves_no_service_and_no_container_on_any_node(swarm_hub, cluster):
    removed = on_manager(swarm_hub, cluster, "swarm-rm").stdout
    assert f"Kept: the network {swarm_hub.network}; on this node " in removed, removed
    assert f"users' folders under USER_STORAGE_PATH ({SHARED})" in removed
    services = cluster.on(cluster.manager, "service", "ls", "--quiet").stdout.split()
    assert services == []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(cluster.containers(node) for node in cluster.nodes):
        time.sleep(1)
    assert {node: cluster.containers(node) for node in cluster.nodes} == {node: [] for node in cluster.nodes}
    # Users' files stay on the shared storage.
    assert (cluster.shared / "bob" / "note.txt").read_text() == "written before the drain"
    on_manager(swarm_hub, cluster, "clean")
    assert cluster.on(cluster.manager, "network", "inspect", swarm_hub.network, check=False).returncode != 0
