#!/usr/bin/env python3
"""Spawn latency and concurrency benchmark, against a stack that the tasks bring up.

Measures, on this machine:
  1. floor: a bare `docker run` of the unmodified base image (DOCKER_NOTEBOOK_BASE) and of
     our notebook image until /api answers, with the CPU seconds each start took (one at a
     time, and K at once for each concurrency level);
  2. sequential spawns: login, POST spawn, until /user/NAME/api answers through the proxy,
     with the CPU seconds the user's container spent until then;
  3. concurrency: K users spawning at the same moment, with the hub's peak CPU and memory;
  4. cold start: `invoke stop`, then `invoke start` until /hub/health answers, in rounds
     interleaved with the same for jupyterhub-deploy-docker's basic example (benchmarks/upstream);
  5. the hub API under load: GET /hub/api/users with a token, with 200 users present;
  6. `invoke restart` with servers running: how long /hub/health is unavailable, and how
     many requests to a user's server fail meanwhile (polled every 100 ms);
and the memory of an idle user server. Prints the goals' ratios last; writes JSON and a PNG
chart to --out.

Runs in a scratch copy of this repository with its own project name, image
tags and ports; it removes that project's containers and volumes at the end.
Traffic goes to this machine only (loopback and the local Docker network).

    python benchmarks/run.py --set JUPYTERHUB_BASE_IMAGE=... --set DOCKER_NOTEBOOK_BASE=...
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from invoke import Context
from scratch import copy as scratch_copy
from scratch import write_env as scratch_write_env
from serverstart import answer, bare_start, container_cpu, docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jhdeploy.engine import compose_command  # noqa: E402
from jhdeploy.settings import from_mapping  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password"
ADMIN = "benchadmin"
TAGS = {"LOCAL_HUB_IMAGE": "jhdbench-hub:latest", "LOCAL_PROXY_IMAGE": "jhdbench-proxy:latest",
        "LOCAL_NOTEBOOK_BASE": "jhdbench-notebook-base:latest",
        "LOCAL_NOTEBOOK_BODY": "jhdbench-notebook-body:latest", "LOCAL_NOTEBOOK_IMAGE": "jhdbench-notebook:latest"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def p50_ratio(times: list[float], floor: list[float]) -> float | None:
    return round(statistics.median(times) / statistics.median(floor), 2) if times and floor else None


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": round(statistics.median(ordered), 3), "p95": round(p95, 3),
            "max": round(ordered[-1], 3)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, root: Path, settings: dict[str, str], users: int, base: str):
        self.root = root
        self.project = "jhdbench"
        self.port = free_port()
        self.names = [f"u{i:03d}" for i in range(1, users + 1)]
        self.base_names = [f"b{i:03d}" for i in range(1, users + 1)]  # spawn the unmodified base image
        self.image = settings.get("LOCAL_NOTEBOOK_IMAGE", TAGS["LOCAL_NOTEBOOK_IMAGE"])
        env = {"COMPOSE_PROJECT_NAME": self.project, "JUPYTERHUB_HTTPS_PORT": str(self.port),
               "DUMMY_AUTH_PASSWORD": PASSWORD, **TAGS, **settings,
               "NOTEBOOK_IMAGES": f"ours={self.image};base={base}"}
        scratch_write_env(root, env)
        (root / "userlist").write_text(f"{ADMIN} admin\n" + "".join(f"{n}\n" for n in self.names + self.base_names))
        self.url = f"https://localhost:{self.port}"
        self.network = f"{self.project}-network"
        self.spawn_cpu: dict[str, float] = {}

    @property
    def cert(self) -> str:
        return str(self.root / "secrets/jupyterhub.crt")

    def invoke(self, *args: str) -> float:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, capture_output=True,
                                text=True)
        if result.returncode != 0:
            sys.exit(f"invoke {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return time.monotonic() - started

    def session(self, name: str) -> requests.Session:
        s = requests.Session()
        s.verify = self.cert
        s.get(f"{self.url}/hub/login", verify=self.cert, timeout=60)
        # The admin has its own generated password (secrets/admin_password); users share one.
        password = (self.root / "secrets/admin_password").read_text().strip() if name == ADMIN else PASSWORD
        # No redirects: following them to /hub/spawn would start the server before the timed request.
        s.post(f"{self.url}/hub/login", verify=self.cert, timeout=120, allow_redirects=False,
               data={"username": name, "password": password, "_xsrf": s.cookies.get("_xsrf", path="/hub/")})
        return s

    def api(self, s: requests.Session, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-XSRFToken": s.cookies.get("_xsrf", path="/hub/") or ""}
        return s.request(method, f"{self.url}/hub/api{path}", headers=headers, verify=self.cert, timeout=120,
                         **kwargs)

    def spawn(self, name: str, image: str = "ours", timeout: float = 300) -> tuple[float | None, str]:
        """POST spawn of `image` (a NOTEBOOK_IMAGES name), then poll /user/NAME/api through the proxy;
        (seconds, outcome)."""
        try:
            s = self.session(name)
            started = time.monotonic()
            response = self.api(s, "POST", f"/users/{name}/server", json={"image": image})
            if response.status_code not in (201, 202) and "already" not in response.text:
                return None, f"HTTP {response.status_code}"
            while time.monotonic() - started < timeout:
                probe = requests.get(f"{self.url}/user/{name}/api", verify=self.cert, timeout=30,
                                     allow_redirects=False)
                if probe.status_code == 200:
                    self.spawn_cpu[name] = container_cpu(f"{self.project}-{name}")
                    return time.monotonic() - started, "ok"
                time.sleep(0.05)
            return None, "timeout"
        except requests.RequestException as error:
            return None, type(error).__name__

    def stop_all(self) -> None:
        admin = self.session(ADMIN)
        for user in self.api(admin, "GET", "/users").json():
            if user.get("servers"):
                self.api(admin, "DELETE", f"/users/{user['name']}/server")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and docker("ps", "--quiet", "--filter",
                                                     f"label=org.jhdeploy.stack={self.project}").split():
            time.sleep(1)

    def floors(self, image: str, k: int) -> tuple[list[float], int]:
        """K bare starts of `image` at once on the stack's network: the seconds of those that
        answered within 300 s, and how many did not."""
        def one(_) -> float | None:
            try:
                return bare_start(image, self.network)["wall_s"]
            except RuntimeError:
                return None

        with concurrent.futures.ThreadPoolExecutor(k) as pool:
            results = list(pool.map(one, range(k)))
        return [r for r in results if r is not None], results.count(None)

    def creation_spread(self, names: list[str]) -> float | None:
        """Seconds from the first to the last of these users' containers being created."""
        found = docker("inspect", "--format", "{{.Created}}", *(f"{self.project}-{n}" for n in names), check=False)
        stamps = [datetime.datetime.fromisoformat(line[:26].rstrip("Z")) for line in found.split()]
        return round((max(stamps) - min(stamps)).total_seconds(), 2) if stamps else None

    def remove(self) -> None:
        """The scratch stack, its users' containers and volumes, and its network."""
        subprocess.run([sys.executable, "-m", "invoke", "stop"], cwd=self.root, capture_output=True)
        for volume in docker("volume", "ls", "--quiet", "--filter", f"name=^{self.project}-").split():
            docker("volume", "rm", "--force", volume, check=False)
        docker("network", "rm", self.network, check=False)

    def hub_container(self) -> str:
        return docker("ps", "--quiet", "--filter", f"label=com.docker.compose.project={self.project}",
                      "--filter", "label=com.docker.compose.service=jupyterhub").split()[0]


class PeakStats:
    """Samples `docker stats` of one container until stopped; keeps the peaks."""

    def __init__(self, container: str):
        self.container, self.cpu, self.rss_mib = container, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            line = docker("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.MemUsage}}", self.container,
                          check=False)
            match = re.match(r"([\d.]+)%\s+([\d.]+)(KiB|MiB|GiB)", line)
            if match:
                factor = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[match.group(3)]
                self.cpu = max(self.cpu, float(match.group(1)))
                self.rss_mib = max(self.rss_mib, float(match.group(2)) * factor)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def restart_impact(bench: Bench, name: str, every: float = 0.1) -> dict:
    """Poll /hub/health and /user/NAME/api every `every` s while `invoke restart` runs."""
    outcomes: dict[str, list[tuple[float, bool]]] = {"health": [], "user": []}
    done = threading.Event()

    def poll(kind: str, url: str) -> None:
        s = requests.Session()
        while not done.is_set():
            try:
                ok = s.get(url, verify=bench.cert, timeout=5, allow_redirects=False).status_code < 400
            except requests.RequestException:
                ok = False
            outcomes[kind].append((time.monotonic(), ok))
            time.sleep(every)

    threads = [threading.Thread(target=poll, args=("health", f"{bench.url}/hub/health")),
               threading.Thread(target=poll, args=("user", f"{bench.url}/user/{name}/api"))]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    seconds = bench.invoke("restart")
    time.sleep(2)
    done.set()
    for thread in threads:
        thread.join()
    down = [t for t, ok in outcomes["health"] if not ok and t >= started]
    return {"restart_s": round(seconds, 2),
            "hub_unavailable_s": round(max(down) - min(down) + every, 2) if down else 0.0,
            "user_requests": len(outcomes["user"]),
            "user_requests_failed": sum(1 for _, ok in outcomes["user"] if not ok)}


def idle_server_memory(project: str) -> float | None:
    lines = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").splitlines()
    sizes = []
    for line in lines:
        match = re.match(rf"{project}-u\d+\s+([\d.]+)(KiB|MiB|GiB)", line)
        if match:
            sizes.append(float(match.group(1)) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[match.group(2)])
    return round(statistics.mean(sizes), 1) if sizes else None


def hub_api_load(bench: Bench, users: int, seconds: float, threads: int = 4) -> dict:
    admin = bench.session(ADMIN)
    present = len(bench.api(admin, "GET", "/users").json())
    missing = [f"api{i:04d}" for i in range(max(0, users - present))]
    if missing:
        bench.api(admin, "POST", "/users", json={"usernames": missing})
    token = bench.api(admin, "POST", f"/users/{ADMIN}/tokens", json={"note": "benchmark", "expires_in": 3600})
    headers = {"Authorization": f"token {token.json()['token']}"}
    latencies, errors = [], 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        nonlocal errors
        s = requests.Session()
        while time.monotonic() < deadline:
            started = time.monotonic()
            ok = s.get(f"{bench.url}/hub/api/users", headers=headers, verify=bench.cert, timeout=30).ok
            with lock:
                latencies.append(time.monotonic() - started) if ok else None
                errors += 0 if ok else 1

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: worker(), range(threads)))
    elapsed = time.monotonic() - started
    return {"users_present": len(bench.api(admin, "GET", "/users").json()), "threads": threads,
            "seconds": round(elapsed, 1), "requests_per_second": round(len(latencies) / elapsed, 1),
            "errors": errors, "latency_s": percentiles(latencies)}


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [row["concurrency"] for row in report["concurrency"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, style in (("p50", "o-"), ("p95", "s--"), ("max", "^:")):
        ax.plot(levels, [row["spawn_latency_s"][key] for row in report["concurrency"]], style, label=f"spawn {key}")
    ax.plot(levels, [row["base_floor_concurrent_s"]["p50"] for row in report["concurrency"]], "k-.",
            label="base image's floor at the same concurrency (p50)")
    ax.axhline(report["floor"]["base"]["median_s"], color="grey", linewidth=1,
               label="base image's floor, one at a time")
    ax.set_xlabel("users spawning at once")
    ax.set_ylabel("seconds until /user/NAME/api answers")
    ax.set_title("Spawn latency against concurrency")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


class Upstream:
    """jupyterhub-deploy-docker's basic example (benchmarks/upstream) on the same engine and images."""

    def __init__(self, root: Path, hub_base: str, notebook_image: str, ca: str):
        self.root, self.project, self.port = root, "jhdupstream", free_port()
        self.image = f"{self.project}-hub:latest"
        shutil.copytree(REPO / "benchmarks/upstream", root)
        (root / "ca").mkdir()
        if ca:  # EXTRA_CA_CERTS: a PEM file or a folder of them, as our build takes it
            pems = [Path(ca)] if Path(ca).is_file() else sorted(Path(ca).glob("*.crt"))
            for pem in pems:
                shutil.copy(pem, root / "ca" / f"{pem.stem}.crt")
        docker("build", "--quiet", "--tag", self.image, "--build-arg", f"JUPYTERHUB_IMAGE={hub_base}", str(root))
        self.env = {**os.environ, "COMPOSE_PROJECT_NAME": self.project, "UPSTREAM_PORT": str(self.port),
                    "UPSTREAM_HUB_IMAGE": self.image, "UPSTREAM_NOTEBOOK_IMAGE": notebook_image}
        self.command = [*compose_command(Context()), "--file", str(root / "compose.yml")]  # as the tasks find it

    def compose(self, *args: str) -> None:
        subprocess.run([*self.command, *args], env=self.env, check=True, capture_output=True)

    def cold_start(self) -> float:
        """`compose down`, then `compose up` until /hub/health answers, as its README starts it."""
        self.compose("down")
        started = time.monotonic()
        self.compose("up", "--detach")
        answer(f"http://127.0.0.1:{self.port}/hub/health")
        return time.monotonic() - started

    def remove(self, users: list[str] = ()) -> None:
        """The example, the servers it spawned (on its network) and these users' volumes."""
        spawned = docker("ps", "--all", "--quiet", "--filter", f"network={self.project}-network").split()
        if spawned:
            docker("rm", "--force", *spawned, check=False)
        self.compose("down", "--volumes")
        for name in users:  # its volume template, jupyterhub-user-{username}
            docker("volume", "rm", "--force", f"jupyterhub-user-{name}", check=False)
        docker("image", "rm", self.image, check=False)


def spawns(bench: Bench, names: list[str], image: str) -> dict:
    """These users' servers of `image`, one after another: latency, each container's CPU, failures."""
    results = [bench.spawn(name, image) for name in names]
    return {"spawn_latency_s": percentiles([t for t, outcome in results if outcome == "ok"]),
            "cpu_s": percentiles([bench.spawn_cpu[n] for n in names if n in bench.spawn_cpu]),
            "failures": [outcome for _, outcome in results if outcome != "ok"]}


def cold_starts(bench: Bench, upstream: Upstream, rounds: int) -> dict:
    """Rounds of `invoke stop` + `invoke start`, interleaved with the upstream example's."""
    ours, theirs = [], []
    for _ in range(rounds):
        bench.invoke("stop")
        ours.append(bench.invoke("start"))
        theirs.append(upstream.cold_start())
    upstream.compose("down")
    return {"rounds": rounds, "invoke_start_s": [round(t, 2) for t in ours],
            "upstream_compose_up_s": [round(t, 2) for t in theirs],
            "median_s": round(statistics.median(ours), 2), "upstream_median_s": round(statistics.median(theirs), 2)}


def summary(report: dict) -> list[str]:
    """The goals of docs/performance.md as ratios; each line says whether it holds."""
    floor, ratios = report["floor"], report["ratios"]
    lines = [f"CPU per server start, spawned by the hub: ours {report['sequential']['cpu_s']['p50']} s, base image "
             f"{report['sequential_base_image']['cpu_s']['p50']} s: {ratios['cpu']}x (goal <= 0.5)",
             f"CPU per server start, bare docker run: ours {floor['ours']['cpu_s']} s, base image "
             f"{floor['base']['cpu_s']} s: {ratios['cpu_bare']}x (goal <= 0.5)",
             f"sequential spawn p50 / base floor: {ratios['sequential']}x (goal <= 1.0)"]
    for row in report["concurrency"]:
        lines.append(f"{row['concurrency']} at once: {row['successes']} of {row['concurrency']} started, "
                     f"p50 {row['spawn_latency_s']['p50']} s / base floor at {row['concurrency']} "
                     f"{row['base_floor_concurrent_s']['p50']} s ({row['base_floor_concurrent_s']['timeouts']} timed "
                     f"out): {row['p50_over_base_floor']}x (goal <= 1.0); "
                     f"p95 {row['spawn_latency_s']['p95']} s; our own floor {row['our_floor_concurrent_s']['p50']} s; "
                     f"containers created within {row['containers_created_within_s']} s")
    cold = report["cold_start"]
    lines.append(f"cold start: invoke start {cold['median_s']} s, upstream compose up {cold['upstream_median_s']} s: "
                 f"{ratios['cold_start']}x (goal <= 1.0)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10, help="sequential spawns")
    parser.add_argument("--concurrency", default="20,50", help="users spawning at once, comma-separated")
    parser.add_argument("--floor-runs", type=int, default=5, help="bare docker runs for the floor")
    parser.add_argument("--cold-rounds", type=int, default=3, help="interleaved cold starts of ours and upstream's")
    parser.add_argument("--api-users", type=int, default=200, help="users present for the API load")
    parser.add_argument("--api-seconds", type=float, default=10, help="duration of the API load")
    parser.add_argument("--hub-config", metavar="FILE",
                        help="a jupyterhub_config.d file for the scratch hub (to measure a setting's effect)")
    parser.add_argument("--out", default=str(REPO / "bench-results"), help="folder for the JSON and PNG")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=".env values for the scratch stack (base images, for example)")
    args = parser.parse_args()
    levels = [int(k) for k in args.concurrency.split(",")]
    settings = dict(item.split("=", 1) for item in args.set)

    with tempfile.TemporaryDirectory(prefix="jhdbench-") as scratch:
        root = Path(scratch) / "repo"
        copied = scratch_copy(root, settings)
        resolved = from_mapping(copied)
        base = resolved["DOCKER_NOTEBOOK_BASE"]
        bench = Bench(root, copied, max([args.users, *levels]), base)
        if args.hub_config:
            shutil.copy(args.hub_config, root / "conf/jupyterhub_config.d")
        report: dict = {"machine": {"cpus": len(os.sched_getaffinity(0)),
                                    "engine": docker("info", "--format", "{{.ServerVersion}}").strip()},
                        "settings": settings,
                        "hub_config": Path(args.hub_config).read_text() if args.hub_config else "",
                        "started": datetime.datetime.now().isoformat(timespec="seconds")}
        upstream = None
        try:
            log("building images (cached when unchanged), and the upstream example's hub")
            report["build_s"] = round(bench.invoke("build"), 1)
            ca = copied.get("EXTRA_CA_CERTS")
            upstream = Upstream(Path(scratch) / "upstream", resolved["JUPYTERHUB_BASE_IMAGE"], bench.image,
                                str(root / ca) if ca else "")
            bench.invoke("start")
            log(f"cold start: {args.cold_rounds} rounds, ours and the upstream example's, interleaved")
            report["cold_start"] = cold_starts(bench, upstream, args.cold_rounds)

            report["floor"] = {}
            for kind, image in (("base", base), ("ours", bench.image)):
                log(f"floor: {args.floor_runs} bare starts of {image}, one at a time")
                starts = [bare_start(image, bench.network) for _ in range(args.floor_runs)]
                report["floor"][kind] = {"image": image,
                                         "median_s": round(statistics.median(s["wall_s"] for s in starts), 3),
                                         "cpu_s": round(statistics.median(s["cpu_s"] for s in starts), 3)}

            log(f"sequential spawns: {args.users} users")
            report["sequential"] = spawns(bench, bench.names[:args.users], "ours")
            report["idle_server_memory_mib"] = idle_server_memory(bench.project)
            log(f"the unmodified base image through the hub: {args.floor_runs} users")
            report["sequential_base_image"] = spawns(bench, bench.base_names[:args.floor_runs], "base")
            log("invoke restart with the servers running")
            report["restart"] = restart_impact(bench, bench.names[0])
            bench.stop_all()

            report["concurrency"] = []
            for k in levels:
                log(f"floor with {k} bare starts at once, of the base image and of ours")
                floor_k, floor_timeouts = bench.floors(base, k)
                ours_k, ours_timeouts = bench.floors(bench.image, k)
                log(f"{k} users spawning at once")
                barrier = threading.Barrier(k)

                def at_once(name, barrier=barrier):
                    barrier.wait()
                    return bench.spawn(name)

                with PeakStats(bench.hub_container()) as stats, concurrent.futures.ThreadPoolExecutor(k) as pool:
                    results = list(pool.map(at_once, bench.names[:k]))
                created = bench.creation_spread(bench.names[:k])
                times = [t for t, outcome in results if outcome == "ok"]
                failures: dict[str, int] = {}
                for _, outcome in results:
                    if outcome != "ok":
                        failures[outcome] = failures.get(outcome, 0) + 1
                report["concurrency"].append({
                    "concurrency": k, "successes": len(times), "failures": failures,
                    "spawn_latency_s": percentiles(times),
                    "base_floor_concurrent_s": {**percentiles(floor_k), "timeouts": floor_timeouts},
                    "our_floor_concurrent_s": {**percentiles(ours_k), "timeouts": ours_timeouts},
                    "p50_over_base_floor": p50_ratio(times, floor_k), "p50_over_our_floor": p50_ratio(times, ours_k),
                    "containers_created_within_s": created,
                    "hub_peak_cpu_percent": round(stats.cpu, 1), "hub_peak_memory_mib": round(stats.rss_mib, 1),
                })
                bench.stop_all()

            log(f"hub API: GET /hub/api/users with {args.api_users} users for {args.api_seconds} s")
            report["hub_api"] = hub_api_load(bench, args.api_users, args.api_seconds)
        finally:
            log("removing the benchmark stacks")
            bench.remove()
            if upstream:
                upstream.remove()

    seq = report["sequential"]
    report["ratios"] = {
        "cpu": round(seq["cpu_s"]["p50"] / report["sequential_base_image"]["cpu_s"]["p50"], 2),
        "cpu_bare": round(report["floor"]["ours"]["cpu_s"] / report["floor"]["base"]["cpu_s"], 2),
        "sequential": round(seq["spawn_latency_s"]["p50"] / report["floor"]["base"]["median_s"], 2),
        "cold_start": round(report["cold_start"]["median_s"] / report["cold_start"]["upstream_median_s"], 2)}
    report["summary"] = summary(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2))
    chart(report, out / f"bench-{stamp}.png")
    print(json.dumps(report, indent=2))
    print("\n".join(report["summary"]))
    log(f"wrote {out}/bench-{stamp}.json and .png")


if __name__ == "__main__":
    main()
