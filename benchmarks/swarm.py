"""Spawn figures for docs/scaling.md: a server on a swarm worker against one on the same nested engine
outside swarm, each spawn broken down, and a crowd on the swarm.

    python benchmarks/swarm.py [--rounds 3] [--crowd 50]

Needs what the tests need (a Docker Engine, the stand-in images, JHDEPLOY_TEST_CA_DIR behind a
TLS-inspecting proxy): it uses the test harness's deployment (tests/harness.py) and three nested
engines (tests/cluster.py). One deployment, in three steps:

1. Before the swarm forms, `invoke start` on node1's engine: the stack in Compose mode on a nested
   engine. ROUNDS users log in one after the other; each spawn is broken down into container
   created, container started, server answering.
2. The swarm forms, `invoke push` and `invoke swarm-deploy`. ROUNDS spawns on the workers for each
   way of waiting for a new server: the image's health check (every 15 s, as before issue 29); a
   health check with a 1 s start interval (engines from 25 on); none, the spawner's own readiness
   wait (the default); and the default again by tag instead of the pushed digest. Each spawn is
   broken down into service created, task scheduled on a node, container started, task running,
   server answering.
3. CROWD users log in at once on the swarm, with the default.

Every time is in seconds from the login form's submission. Prints tables and writes
bench-results/swarm.json.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "hub")]

from cluster import SHARED, Cluster  # noqa: E402
from harness import Deployment, make_ca  # noqa: E402
from jhdeploy_hub.contract import STACK_LABEL  # noqa: E402

IMAGE_CHECK = ["CMD", "python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:8888' + "
               "os.environ.get('JUPYTERHUB_SERVICE_PREFIX', '/') + 'api', timeout=4)"]
SECOND = 1_000_000_000
# Each way a swarm spawn may wait for its server: the container spec a conf/jupyterhub_config.d snippet gives,
# in place of the default's ({"healthcheck": {"Test": ["NONE"]}} and the fence's label). A snippet gets a Config
# of its own, merged over the main one: it cannot read what the main one set.
VARIANTS = {
    "image's health check, every 15 s (before)": {},
    "health check with a 1 s start interval": {"healthcheck": {
        "Test": IMAGE_CHECK, "Interval": 15 * SECOND, "Timeout": 5 * SECOND, "StartPeriod": 30 * SECOND,
        "StartInterval": SECOND, "Retries": 3}},
    "none: the spawner's readiness wait (default)": None,
    "default, by tag instead of the pushed digest": None,
}
SNIPPET = "conf/jupyterhub_config.d/zz-benchmark.py"
DIGESTS = "state/hub/image-digests.json"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def engine_get(socket_path: str, path: str):
    """GET from the manager's Engine API, through its socket."""
    connection = UnixConnection(socket_path)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return json.loads(response.read()) if response.status == 200 else None
    finally:
        connection.close()


def stamp(text: str) -> float:
    """Docker's RFC 3339 time (nanoseconds) as a Unix time."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + float("0." + (fraction or "0"))


class TaskWatch(threading.Thread):
    """Polls SERVICE's tasks every 50 ms: the time of each state its task went through, as swarm stamped it."""

    def __init__(self, socket_path: str, service: str):
        super().__init__(daemon=True)
        self.socket_path, self.service = socket_path, service
        self.states: dict[str, float] = {}
        self.task: dict = {}
        self.done = threading.Event()

    def run(self):
        query = quote(json.dumps({"service": [self.service]}))
        while not self.done.is_set():
            tasks = engine_get(self.socket_path, f"/tasks?filters={query}") or []
            for task in tasks:
                self.task = task
                self.states.setdefault(task["Status"]["State"], stamp(task["Status"]["Timestamp"]))
            time.sleep(0.05)


def wait_ready(client, name: str, timeout: float = 600) -> float:
    """Poll the hub every 0.1 s until NAME's server is ready; the Unix time it was seen ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = client.api("GET", f"/users/{name}", timeout=600).json()
        if model.get("servers", {}).get("", {}).get("ready"):
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"{name}'s server is not ready after {timeout:.0f} s")


def compose_spawn(deployment: Deployment, cluster: Cluster, name: str) -> dict:
    began = time.time()
    answering = wait_ready(deployment.logged_in(name), name)
    container = json.loads(cluster.on(cluster.manager, "inspect", f"{deployment.project}-{name}").stdout)[0]
    return {"created": stamp(container["Created"]) - began, "started": stamp(container["State"]["StartedAt"]) - began,
            "answering": answering - began}


def swarm_spawn(deployment: Deployment, cluster: Cluster, name: str) -> dict:
    service = f"{deployment.project}-{name}"
    watch = TaskWatch(str(cluster.sockets / "docker.sock"), service)
    began = time.time()
    watch.start()
    try:
        answering = wait_ready(deployment.logged_in(name), name)
    finally:
        watch.done.set()
        watch.join()
    spec = engine_get(str(cluster.sockets / "docker.sock"), f"/services/{service}")
    node = cluster.node_of(service)
    container = watch.task["Status"]["ContainerStatus"]["ContainerID"]
    started = cluster.on(node, "inspect", "--format", "{{.State.StartedAt}}", container).stdout.strip()
    scheduled = [t for state, t in watch.states.items() if state not in ("new", "pending")]
    return {"created": stamp(spec["CreatedAt"]) - began, "scheduled": min(scheduled) - began,
            "started": stamp(started) - began, "running": watch.states["running"] - began,
            "answering": answering - began, "node": node}


def median_phases(spawns: list[dict]) -> dict:
    phases = [key for key in spawns[0] if key != "node"]
    return {phase: statistics.median(spawn[phase] for spawn in spawns) for phase in phases}


def patient_login(deployment: Deployment, name: str):
    """The login form, waiting as long as a browser would: a hub starting fifty servers answers slowly."""
    client = deployment.client()
    client.get("/hub/login", timeout=600)
    form = {"username": name, "password": deployment.password(name), "_xsrf": client._xsrf("/hub/")}
    response = client.request("POST", f"{client.base}/hub/login", data=form, timeout=600)
    assert response.status_code == 200 and "/hub/login" not in response.url, (response.status_code, response.url)
    return client


def crowd(deployment: Deployment, cluster: Cluster, names: list[str]) -> dict:
    def one(name: str):
        began = time.monotonic()
        try:
            client = patient_login(deployment, name)
            # As the spawn page waits: its event stream, not a poll that would load the hub fifty times over.
            if not client.progress(name)[-1].get("ready"):
                raise AssertionError(f"{name}'s start failed")
            return time.monotonic() - began, cluster.node_of(f"{deployment.project}-{name}")
        except Exception as error:  # noqa: BLE001 - counted, and named in the output
            return None, f"{type(error).__name__}: {error}"

    started = time.monotonic()
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(one, names))
    times = sorted(seconds for seconds, _ in results if seconds is not None)
    failures = [where for seconds, where in results if seconds is None]
    nodes = [where for seconds, where in results if seconds is not None]
    return {"users": len(names), "ready": len(times), "failed": len(failures), "failures": failures[:5],
            "p50": statistics.median(times) if times else None,
            "p95": times[max(0, round(0.95 * len(times)) - 1)] if times else None,
            "slowest": times[-1] if times else None, "all_ready": time.monotonic() - started,
            "per_node": {node: nodes.count(node) for node in sorted(set(nodes))}}


def restart_hub(deployment: Deployment, cluster: Cluster) -> None:
    """After a change to conf/ (which swarm-deploy does not see): a new hub task, and wait until it answers."""
    cluster.on(cluster.manager, "service", "update", "--force", "--detach=false", "--quiet",
               f"{deployment.project}_jupyterhub")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if deployment.client().get("/hub/health", timeout=5).status_code == 200:
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise AssertionError("the hub did not come back")


def task(deployment: Deployment, env: dict, name: str) -> None:
    """`invoke NAME` against ENV's engine; on failure, stop with what it said."""
    result = deployment.invoke_env(env, name)
    if result.returncode:
        raise SystemExit(f"invoke {name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def userlist(rounds: int, crowd_size: int) -> str:
    names = [f"b{i:02d}" for i in range(rounds)]
    names += [f"v{v}r{i}" for v in range(len(VARIANTS)) for i in range(rounds)]
    names += [f"c{i:02d}" for i in range(crowd_size)]
    return "alice admin\n" + "".join(f"{name}\n" for name in names)


def print_table(title: str, rows: dict[str, dict], phases: list[str]) -> None:
    print(f"\n{title}\n{'':46}" + "".join(f"{phase:>11}" for phase in phases))
    for label, figures in rows.items():
        print(f"{label:46}" + "".join(f"{figures[p]:>10.2f}s" if p in figures else f"{'-':>11}" for p in phases))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="spawns one at a time, per way of waiting")
    parser.add_argument("--crowd", type=int, default=50, help="users who log in at once on the swarm")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jhd-bench-swarm-"))
    (work / "deploy").mkdir()
    deployment = Deployment(work / "deploy", make_ca(work)[0])
    (deployment.root / "userlist").write_text(userlist(args.rounds, args.crowd))
    deployment.env.update(REGISTRY="registry:5000/jhd", USER_STORAGE_PATH=SHARED)
    deployment.write_env()
    cluster = Cluster(deployment.project, work / "cluster", deployment.port, deployment.root)
    manager = {"DOCKER_HOST": cluster.docker_host}
    report: dict = {"rounds": args.rounds}
    try:
        cluster.start(swarm=False)
        deployment.invoke("build")
        cluster.load_on_manager(*(f"registry:5000/jhd/{deployment.env[key]}" for key in
                                  ("LOCAL_HUB_IMAGE", "LOCAL_PROXY_IMAGE", "LOCAL_NOTEBOOK_IMAGE")))

        print("node1's engine, Compose mode: measuring", flush=True)
        task(deployment, manager, "start")
        report["compose"] = [compose_spawn(deployment, cluster, f"b{i:02d}") for i in range(args.rounds)]
        for name in ("stop", "clean"):
            task(deployment, manager, name)

        cluster.form_swarm()
        for name in ("push", "swarm-deploy"):
            task(deployment, manager, name)
        report["swarm"] = {}
        for number, (variant, snippet) in enumerate(VARIANTS.items()):
            print(f"swarm, {variant}: measuring", flush=True)
            spec = None if snippet is None else {**snippet, "labels": {STACK_LABEL: deployment.project}}
            (deployment.root / SNIPPET).write_text("" if spec is None else
                                                   f"c.SwarmSpawner.extra_container_spec = {spec!r}\n")
            restart_hub(deployment, cluster)
            digests = deployment.root / DIGESTS
            if "by tag" in variant:
                digests.rename(digests.with_suffix(".aside"))
            try:
                report["swarm"][variant] = [swarm_spawn(deployment, cluster, f"v{number}r{i}")
                                            for i in range(args.rounds)]
            finally:
                if "by tag" in variant:
                    digests.with_suffix(".aside").rename(digests)
        (deployment.root / SNIPPET).unlink()
        restart_hub(deployment, cluster)

        print(f"swarm: {args.crowd} users at once", flush=True)
        report["crowd"] = crowd(deployment, cluster, [f"c{i:02d}" for i in range(args.crowd)])
        report["setup"] = cluster.timings
    finally:
        deployment.invoke_env(manager, "swarm-rm")
        cluster.remove()

    out = REPO / "bench-results" / "swarm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    rows = {"one nested engine, Compose mode": median_phases(report["compose"])}
    rows |= {f"swarm worker: {variant}": median_phases(spawns) for variant, spawns in report["swarm"].items()}
    print_table(f"Spawn one at a time, median of {args.rounds}, seconds from the login form",
                rows, ["created", "scheduled", "started", "running", "answering"])
    baseline = rows["one nested engine, Compose mode"]["answering"]
    for label, figures in rows.items():
        print(f"  {label}: {figures['answering'] / baseline:.2f}x the nested engine outside swarm")
    c = report["crowd"]
    figures = (f", p50 {c['p50']:.2f} s, p95 {c['p95']:.2f} s, slowest {c['slowest']:.2f} s, all ready after "
               f"{c['all_ready']:.2f} s, per node {c['per_node']}" if c["ready"] else "")
    print(f"\n{c['users']} at once on the swarm: {c['ready']} ready, {c['failed']} failed{figures}"
          + (f"; failures: {c['failures']}" if c["failures"] else ""))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
