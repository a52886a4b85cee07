"""Spawn figures for docs/scaling.md: a server on a swarm worker against one on a single host.

    python benchmarks/swarm.py [--rounds 3] [--crowd 10]

Needs what the tests need (a Docker Engine, the stand-in images, JHDEPLOY_TEST_CA_DIR behind a
TLS-inspecting proxy): it uses the test harness's deployments (tests/harness.py) and its
three-node swarm (tests/cluster.py). Two stacks run one after the other from the same images:
`invoke start` on this host's engine, and `invoke swarm-deploy` on the swarm's manager with
users' servers on the two workers. For each: RUNS sequential logins of one user each until the
server is ready, then CROWD users at once. Prints one table and writes bench-results/swarm.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests")]

from cluster import SHARED, Cluster  # noqa: E402
from harness import Deployment, make_ca  # noqa: E402


def timed_spawn(deployment: Deployment, name: str) -> float:
    """Seconds from the login form to a ready server."""
    started = time.monotonic()
    deployment.logged_in(name).spawn(name, timeout=600)
    return time.monotonic() - started


def measure(deployment: Deployment, rounds: int, crowd: int, where=lambda name: "") -> dict:
    sequential = [timed_spawn(deployment, f"s{i:02d}") for i in range(rounds)]
    names = [f"c{i:02d}" for i in range(crowd)]
    started = time.monotonic()
    with ThreadPoolExecutor(crowd) as pool:
        times = list(pool.map(lambda name: timed_spawn(deployment, name), names))
    return {
        "sequential_p50": statistics.median(sequential), "sequential": sequential,
        "crowd_p50": statistics.median(times), "crowd_max": max(times),
        "crowd_all_ready": time.monotonic() - started,
        "crowd_nodes": {node: [where(n) for n in names].count(node) for node in {where(n) for n in names}},
    }


def userlist(rounds: int, crowd: int) -> str:
    return "alice admin\n" + "".join(f"s{i:02d}\n" for i in range(rounds)) + \
        "".join(f"c{i:02d}\n" for i in range(crowd))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="sequential spawns per system")
    parser.add_argument("--crowd", type=int, default=10, help="users who log in at once")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jhd-bench-swarm-"))
    ca = make_ca(work)[0]
    report = {}

    (work / "single").mkdir()
    single = Deployment(work / "single", ca)
    (single.root / "userlist").write_text(userlist(args.rounds, args.crowd))
    try:
        single.invoke("build")
        single.invoke("start")
        print("single host: measuring", flush=True)
        report["single host"] = measure(single, args.rounds, args.crowd, lambda name: "this host")
    finally:
        single.remove_everything()

    (work / "swarm").mkdir()
    swarm = Deployment(work / "swarm", ca)
    (swarm.root / "userlist").write_text(userlist(args.rounds, args.crowd))
    swarm.env.update(REGISTRY="registry:5000/jhd", USER_STORAGE_PATH=SHARED)
    swarm.write_env()
    cluster = Cluster(swarm.project, work / "cluster", swarm.port, swarm.root)
    manager = {"DOCKER_HOST": cluster.docker_host}
    try:
        cluster.start()
        swarm.invoke("build")
        cluster.load_on_manager(*(f"registry:5000/jhd/{swarm.env[key]}" for key in
                                  ("LOCAL_HUB_IMAGE", "LOCAL_PROXY_IMAGE", "LOCAL_NOTEBOOK_IMAGE")))
        for task in ("push", "swarm-deploy"):
            assert swarm.invoke_env(manager, task).returncode == 0, task
        print("swarm: measuring", flush=True)
        report["3-node swarm (2 workers)"] = measure(
            swarm, args.rounds, args.crowd, lambda name: cluster.node_of(f"{swarm.project}-{name}"))
        report["3-node swarm (2 workers)"]["setup"] = cluster.timings
    finally:
        swarm.invoke_env(manager, "swarm-rm")
        cluster.remove()

    print(f"\n{'':28}{'one at a time, p50':>20}{f'{args.crowd} at once, p50':>18}"
          f"{'slowest':>10}{'all ready':>11}  servers per node")
    for system, figures in report.items():
        print(f"{system:28}{figures['sequential_p50']:>19.2f}s{figures['crowd_p50']:>17.2f}s"
              f"{figures['crowd_max']:>9.2f}s{figures['crowd_all_ready']:>10.2f}s  {figures['crowd_nodes']}")
    out = REPO / "bench-results" / "swarm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
