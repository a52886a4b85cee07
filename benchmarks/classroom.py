#!/usr/bin/env python3
"""A class at once on one host: spawns through our hub beside the bare start of the same image and the
upstream jupyterhub-deploy-docker example spawning it, all in one run on one engine.

  1. one at a time, interleaved: `docker run` of our notebook image until /api answers; our hub; the
     upstream example (benchmarks/upstream). Each hub spawn is broken into phases from the engine's
     timestamps and the server's log: before the container is created, Docker's start, the server's
     own start (until it logs "is running at"), and the hub noticing it and routing it;
  2. 20 at once, the same three, with the hub's CPU seconds during the crowd;
  3. 100 at once: bare `docker run`s against our hub: started, failed, p50 and p95; then the hub's
     CPU (% of one core) and memory over 60 s with the 100 servers idle;
  4. with --before, 1 to 3 again on our hub as it was before issue 30: no start queue, one Docker
     thread, the image's health check in every server.

Spawns go through the REST API with an admin token (the upstream example's NativeAuthenticator
login fails on JupyterHub 6). A spawn counts once /user/NAME/api answers through the proxy.

    python benchmarks/classroom.py --set JUPYTERHUB_BASE_IMAGE=... --set DOCKER_NOTEBOOK_BASE=... [--before]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from run import ADMIN, Bench, Upstream, log, percentiles
from scratch import copy as scratch_copy
from serverstart import LABEL, START, answer, container_cpu, docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jhdeploy.settings import from_mapping  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Our hub as it was before issue 30 (conf/jupyterhub_config.d): one Docker thread, the image's health check.
BEFORE = """c.DockerSpawner.docker_threads = 1
def keep_health_check(spawner):
    spawner.extra_create_kwargs = {k: v for k, v in spawner.extra_create_kwargs.items() if k != "healthcheck"}
c.Spawner.pre_spawn_hook = keep_health_check
"""
PHASES = ("before create", "docker start", "server's own start", "hub sees it ready and routes it")


def upstream_user(i: int) -> str:
    return f"jhdupstream{i:03d}"


def stamp(text: str) -> float:
    """An engine timestamp (RFC 3339, nanoseconds) as seconds since the epoch."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", text.strip())
    whole = datetime.datetime.fromisoformat(match.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
    return whole + float(match.group(2) or 0)


def phases(container: str, began: float, answered: float) -> dict[str, float] | None:
    """Seconds of each of PHASES for one spawn, from the engine's timestamps and the server's log."""
    found = docker("inspect", "--format", "{{.Created}} {{.State.StartedAt}}", container, check=False).split()
    logs = subprocess.run(["docker", "logs", "--timestamps", container], capture_output=True, text=True)
    running = [line.split()[0] for line in (logs.stdout + logs.stderr).splitlines() if "is running at" in line]
    if len(found) != 2 or not running:
        return None
    created, started, listening = stamp(found[0]), stamp(found[1]), min(stamp(t) for t in running)
    seconds = (created - began, started - created, listening - started, answered - listening)
    return dict(zip(PHASES, seconds, strict=True))


def bare(image: str, network: str, every: float) -> dict:
    """`docker run` of the image until /api answers."""
    began = time.time()
    run = subprocess.run(["docker", "run", "--detach", "--network", network, "--label", LABEL, image, *START],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return {"outcome": "docker run failed"}
    cid = run.stdout.strip()
    ip = docker("inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', cid)
    try:
        answer(f"http://{ip}:8888/api", 600, every)
    except RuntimeError:
        return {"outcome": "timeout"}
    answered = time.time()
    return {"outcome": "ok", "s": answered - began, "phases": phases(cid, began, answered)}


def remove_bare() -> None:
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}").split()
    if ids:
        docker("rm", "--force", *ids, check=False)


class Hub:
    """A JupyterHub we spawn on through its REST API: ours or the upstream example."""

    def __init__(self, name: str, url: str, token: str, verify, container_of, options: dict | None = None):
        self.name, self.url, self.verify, self.container_of, self.options = name, url, verify, container_of, options
        self.headers = {"Authorization": f"token {token}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", headers=self.headers, verify=self.verify,
                                timeout=600, **kwargs)

    def spawn(self, name: str, every: float = 0.05) -> dict:
        """POST the spawn, follow its event stream, then GET /user/NAME/api until it answers."""
        began = time.time()
        try:
            response = self.call("POST", f"/users/{name}/server", json=self.options)
            if response.status_code not in (201, 202):
                return {"outcome": f"HTTP {response.status_code}"}
            if response.status_code == 202:
                stream = self.call("GET", f"/users/{name}/server/progress", stream=True)
                for line in stream.iter_lines(decode_unicode=True):
                    if line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("failed"):
                            return {"outcome": "failed: " + event.get("message", "")[:200]}
                        if event.get("ready"):
                            break
            answer(f"{self.url}/user/{name}/api", 600, every, self.verify)
        except RuntimeError:
            return {"outcome": "timeout"}
        except requests.RequestException as error:
            return {"outcome": type(error).__name__}
        answered = time.time()
        return {"outcome": "ok", "s": answered - began, "phases": phases(self.container_of(name), began, answered)}

    def stop(self, names: list[str]) -> None:
        for name in names:
            self.call("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and any(
                docker("ps", "--all", "--quiet", "--filter", f"name=^{self.container_of(n)}$") for n in names):
            time.sleep(1)


def crowd(start, names: list[str]) -> list[dict]:
    """`start(name)` for every name at the same moment."""
    barrier = threading.Barrier(len(names))

    def one(name):
        barrier.wait()
        return start(name)

    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(one, names))


def summarise(results: list[dict]) -> dict:
    times = [r["s"] for r in results if r["outcome"] == "ok"]
    failures: dict[str, int] = {}
    for r in results:
        if r["outcome"] != "ok":
            failures[r["outcome"]] = failures.get(r["outcome"], 0) + 1
    split = [r["phases"] for r in results if r.get("phases")]
    return {"started": len(times), "failed": sum(failures.values()), "failures": failures, **percentiles(times),
            "phases_p50": {p: round(statistics.median(s[p] for s in split), 3) for p in PHASES} if split else {}}


def ratio(a: dict, b: dict) -> float | None:
    return round(a["p50"] / b["p50"], 2) if a.get("p50") and b.get("p50") else None


class Run:
    def __init__(self, bench: Bench, hub: Hub, upstream: Hub, args):
        self.bench, self.hub, self.upstream, self.args = bench, hub, upstream, args
        self.hub_container = bench.hub_container()

    def hub_cpu(self, action) -> tuple[object, float]:
        before = container_cpu(self.hub_container)
        result = action()
        return result, round(container_cpu(self.hub_container) - before, 2)

    def one_at_a_time(self, with_upstream: bool) -> dict:
        results: dict[str, list] = {"bare": [], "ours": [], "upstream": []}
        for i in range(self.args.runs):
            results["bare"].append(bare(self.bench.image, self.bench.network, 0.05))
            remove_bare()
            name = self.bench.names[i]
            results["ours"].append(self.hub.spawn(name))
            self.hub.stop([name])
            if with_upstream:
                results["upstream"].append(self.upstream.spawn(upstream_user(i)))
                self.upstream.stop([upstream_user(i)])
        return {kind: summarise(r) for kind, r in results.items() if r}

    def at_once(self, k: int, with_upstream: bool) -> dict:
        report = {"bare": summarise(crowd(lambda _: bare(self.bench.image, self.bench.network, 0.2), range(k)))}
        remove_bare()
        names = self.bench.names[:k]
        results, cpu = self.hub_cpu(lambda: crowd(lambda n: self.hub.spawn(n, 0.2), names))
        report["ours"] = {**summarise(results), "hub_cpu_s": cpu}
        if k >= self.args.crowd:
            report["idle"] = self.idle()
        self.hub.stop(names)
        if with_upstream:
            theirs = [upstream_user(i) for i in range(k)]
            report["upstream"] = summarise(crowd(lambda n: self.upstream.spawn(n, 0.2), theirs))
            self.upstream.stop(theirs)
        return report

    def idle(self, settle: float = 30, seconds: float = 60) -> dict:
        """The hub's CPU and memory with every server of the crowd running and idle."""
        time.sleep(settle)
        running = len(docker("ps", "--quiet", "--filter", f"label=org.jhdeploy.stack={self.bench.project}").split())
        _, cpu = self.hub_cpu(lambda: time.sleep(seconds))
        memory = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", self.hub_container).split("/")[0]
        return {"servers_running": running, "hub_cpu_percent_of_a_core": round(100 * cpu / seconds, 2),
                "hub_memory": memory.strip()}

    def all(self, with_upstream: bool) -> dict:
        log(f"one at a time, {self.args.runs} rounds: bare, ours{', upstream' if with_upstream else ''}")
        report = {"one_at_a_time": self.one_at_a_time(with_upstream)}
        for k in (self.args.small, self.args.crowd):
            log(f"{k} at once")
            report[f"{k}_at_once"] = self.at_once(k, with_upstream and k == self.args.small)
        return report


def lines(report: dict, small: int, crowd_size: int) -> list[str]:
    out = []
    for variant, figures in report["variants"].items():
        one, few, many = figures["one_at_a_time"], figures[f"{small}_at_once"], figures[f"{crowd_size}_at_once"]
        out.append(f"[{variant}]")
        for label, block in (("one at a time", one), (f"{small} at once", few)):
            up = block.get("upstream", {})
            out.append(f"  {label}: bare p50 {block['bare']['p50']} s; ours {block['ours']['p50']} s "
                       f"({ratio(block['ours'], block['bare'])}x bare), {block['ours']['started']} started"
                       + (f"; upstream {up['p50']} s ({ratio(up, block['bare'])}x bare), {up['started']} started"
                          if up else ""))
        out.append(f"  {small} at once: the hub's CPU {few['ours']['hub_cpu_s']} s")
        for kind in ("bare", "upstream", "ours"):
            if one.get(kind, {}).get("phases_p50"):
                split = one[kind]["phases_p50"].items()
                out.append(f"  one spawn, {kind}: " + ", ".join(f"{p} {s} s" for p, s in split))
        b, o = many["bare"], many["ours"]
        out.append(f"  {crowd_size} at once: bare {b['started']} started, {b['failed']} failed, p50 {b['p50']} s, "
                   f"p95 {b['p95']} s; ours {o['started']} started, {o['failed']} failed, p50 {o['p50']} s, "
                   f"p95 {o['p95']} s ({ratio(o, b)}x bare)")
        out.append(f"  idle with {many['idle']['servers_running']} servers: hub "
                   f"{many['idle']['hub_cpu_percent_of_a_core']} % of a core, {many['idle']['hub_memory']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="one-at-a-time rounds")
    parser.add_argument("--small", type=int, default=20, help="the smaller crowd")
    parser.add_argument("--crowd", type=int, default=100, help="the class")
    parser.add_argument("--before", action="store_true", help="also our hub as it was before issue 30")
    parser.add_argument("--out", default=str(REPO / "bench-results"), help="folder for the JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=".env values for the scratch stack (base images, for example)")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    report: dict = {"machine": {"cpus": int(docker("info", "--format", "{{.NCPU}}"))}, "settings": settings,
                    "started": datetime.datetime.now().isoformat(timespec="seconds"), "variants": {}}
    with tempfile.TemporaryDirectory(prefix="jhdbench-") as scratch:
        root = Path(scratch) / "repo"
        copied = scratch_copy(root, settings)
        resolved = from_mapping(copied)
        bench = Bench(root, copied, args.crowd, resolved["DOCKER_NOTEBOOK_BASE"])
        upstream = None
        # Names no deployment of this host has: the example's volumes are jupyterhub-user-{username}, as ours are.
        their_users = [upstream_user(i) for i in range(max(args.small, args.runs))]
        try:
            log("building our images and the upstream example's hub")
            bench.invoke("build")
            ca = copied.get("EXTRA_CA_CERTS")
            upstream = Upstream(Path(scratch) / "upstream", resolved["JUPYTERHUB_BASE_IMAGE"], bench.image,
                                str(root / ca) if ca else "")
            their_token = secrets.token_hex(32)
            upstream.env["BENCH_API_TOKEN"] = their_token
            upstream.compose("up", "--detach")
            theirs = Hub("upstream", f"http://127.0.0.1:{upstream.port}", their_token, True,
                         lambda name: f"jupyter-{name}")
            answer(f"{theirs.url}/hub/health", every=0.5)
            theirs.call("POST", "/users", json={"usernames": their_users})
            variants = [("after", "")] + ([("before", BEFORE)] if args.before else [])
            for variant, snippet in variants:
                snippets = root / "conf/jupyterhub_config.d"
                snippets.mkdir(exist_ok=True)
                (snippets / "bench-before.py").unlink(missing_ok=True)
                if snippet:
                    (snippets / "bench-before.py").write_text(snippet)
                env = (root / ".env").read_text()
                (root / ".env").write_text(re.sub(r"SPAWN_CONCURRENCY=.*\n", "", env)
                                           + ("SPAWN_CONCURRENCY=0\n" if snippet else ""))
                bench.invoke("restart" if variant != "after" else "start")
                admin = bench.session(ADMIN)
                token = bench.api(admin, "POST", f"/users/{ADMIN}/tokens", json={"note": "classroom"}).json()["token"]
                ours = Hub("ours", bench.url, token, bench.cert, lambda name: f"{bench.project}-{name}",
                           {"image": "ours"})
                log(f"our hub {variant} issue 30")
                report["variants"][variant] = Run(bench, ours, theirs, args).all(with_upstream=variant == "after")
        finally:
            log("removing the benchmark stacks")
            remove_bare()
            bench.remove()
            if upstream:
                upstream.remove(their_users)
    report["summary"] = lines(report, args.small, args.crowd)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"classroom-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print("\n".join(report["summary"]))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
