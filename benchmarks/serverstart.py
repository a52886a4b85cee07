#!/usr/bin/env python3
"""CPU per server start: what one Jupyter server costs from container start until it answers.

For each image: `docker run IMAGE` with the image's own start command (start-notebook.py)
until /api answers, reading the container's CPU seconds from its cgroup; then the CPU of
the first GET /lab (JupyterLab's page config). One more run of each image breaks the start
down: CPU per phase of Jupyter Server's start-up, import time per top-level package
(`python -X importtime`), and the CPU that importing jupyterhub.singleuser adds for a server
the hub spawns.

    python benchmarks/serverstart.py BASE_IMAGE OUR_IMAGE [--runs 5]
    python benchmarks/serverstart.py --extension jupyter_resource_usage OUR_IMAGE [--runs 9]

With --extension, the CPU one server extension adds to a start: the CPU of importing it
inside the image, and the same image started with it on and off
(`--ServerApp.jpserver_extensions NAME=False`), alternately, whose difference is within
the runs' spread when the extension is small.

    python benchmarks/serverstart.py --env JHDEPLOY_SHARING=1 OUR_IMAGE [--runs 9]

With --env, what a variable that the hub sets adds to a start of IMAGE (SHARING's real-time
collaboration): whole starts and the first /lab page with it set and unset, alternately. The
first form, with the image before a change as BASE_IMAGE, says what the change costs a start
when the variable is unset.

run.py imports `bare_start` and `container_cpu` for its floor and spawn figures.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import time
from pathlib import Path

import requests

LABEL = "jhdbench.serverstart=1"
START = ["start-notebook.py", "--IdentityProvider.token=", "--ServerApp.ip=0.0.0.0"]
CGROUPS = ("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage",  # v1, cgroupfs
           "/sys/fs/cgroup/cpu,cpuacct/docker/{id}/cpuacct.usage",
           "/sys/fs/cgroup/cpuacct/system.slice/docker-{id}.scope/cpuacct.usage",  # v1, systemd
           "/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat",  # v2, systemd
           "/sys/fs/cgroup/docker/{id}/cpu.stat")  # v2, cgroupfs


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def container_cpu(container: str) -> float:
    """CPU seconds that a running container has used, from its cgroup on this host."""
    full = docker("inspect", "--format", "{{.Id}}", container)
    for template in CGROUPS:
        path = Path(template.format(id=full))
        if path.exists():
            text = path.read_text()
            if path.name == "cpu.stat":
                return int(re.search(r"usage_usec (\d+)", text).group(1)) / 1e6
            return int(text) / 1e9
    raise RuntimeError(f"no cgroup CPU account for {container[:12]}: run this on the Docker host")


def answer(url: str, timeout: float = 300, every: float = 0.05, verify=True) -> None:
    """Until URL answers 200 itself: a redirect (the hub's, for a route the proxy lacks yet) is no answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, verify=verify, timeout=10, allow_redirects=False).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(every)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def bare_start(image: str, network: str = "bridge", lab: bool = False, env: tuple[str, ...] = (),
               logs: bool = False, args: tuple[str, ...] = ()) -> dict:
    """`docker run` of the image until /api answers: wall seconds, CPU seconds, with `lab` the CPU
    of the first GET /lab, and with `logs` the server's log."""
    flags = [item for e in env for item in ("--env", e)]
    started = time.monotonic()
    cid = docker("run", "--detach", "--network", network, "--label", LABEL, *flags, image, *START, *args)
    try:
        ip = docker("inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', cid)
        answer(f"http://{ip}:8888/api")
        result = {"wall_s": time.monotonic() - started, "cpu_s": container_cpu(cid)}
        if lab:
            before = container_cpu(cid)
            requests.get(f"http://{ip}:8888/lab", timeout=60).raise_for_status()
            result["lab_page_cpu_s"] = container_cpu(cid) - before
        if logs:
            result["logs"] = subprocess.run(["docker", "logs", cid], capture_output=True, text=True).stderr
        return result
    finally:
        docker("rm", "--force", cid, check=False)


# Runs inside the image: Jupyter Server's start-up with the CPU time of each phase.
PHASES = r"""
import json, sys, time
cpu = time.process_time
marks = {"python start-up": cpu()}
from jupyter_server.serverapp import ServerApp
marks["import jupyter_server"] = cpu() - sum(marks.values())
phases = {"find_server_extensions": "extension discovery",
          "init_server_extensions": "extension import and linking",
          "init_configurables": "managers (kernels, contents, sessions)",
          "init_webapp": "web application",
          "load_server_extensions": "extension loading (JupyterLab's settings, handlers)"}
for method, label in phases.items():
    def timed(self, *args, _original=getattr(ServerApp, method), _label=label, **kwargs):
        begun = cpu()
        try:
            return _original(self, *args, **kwargs)
        finally:
            marks[_label] = marks.get(_label, 0) + cpu() - begun
    setattr(ServerApp, method, timed)
app = ServerApp.instance()
app.initialize(["--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.open_browser=False"])
marks["total"] = cpu()
marks["other"] = marks["total"] - sum(v for k, v in marks.items() if k != "total")
print(json.dumps(marks))
"""


# Runs inside the image: what a hub-spawned server imports on top of a bare one, and how much of
# that is the hub's database layer (jupyterhub.orm: SQLAlchemy, Alembic) that jupyterhub.singleuser
# pulls in through jupyterhub.log and jupyterhub.scopes.
SINGLEUSER = r"""
import json, time
cpu = time.process_time
import jupyter_server.serverapp, jupyterlab.labapp
begun = cpu()
import jupyterhub.orm
orm = cpu() - begun
import jupyterhub.singleuser
print(json.dumps({"jupyterhub.singleuser": cpu() - begun, "of which jupyterhub.orm": orm}))
"""


# Runs inside the image: the CPU to import a server extension (and the modules its entry points name)
# on top of what every server imports. A start's CPU varies by more than that from run to run.
EXTENSION = r"""
import importlib, json, sys, time
cpu = time.process_time
import jupyter_server.serverapp, jupyterlab.labapp
begun = cpu()
module = importlib.import_module(sys.argv[1])
for point in getattr(module, "_jupyter_server_extension_points", lambda: [])():
    importlib.import_module(point["module"])
print(json.dumps({"import": cpu() - begun}))
"""


def cpu_inside(image: str, script: str, *args: str) -> dict:
    """Run one of the scripts above in a container of `image`: its JSON line, rounded to ms."""
    out = docker("run", "--rm", "--label", LABEL, image, "python", "-c", script, *args)
    return {k: round(v, 3) for k, v in json.loads(out.splitlines()[-1]).items()}


def import_breakdown(image: str, top: int = 10) -> dict:
    """Self import time by top-level package over a whole server start (-X importtime)."""
    result = bare_start(image, env=("PYTHONPROFILEIMPORTTIME=1",), logs=True)
    per_package: dict[str, float] = {}
    for line in result["logs"].splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            package = match.group(2).split(".")[0]
            per_package[package] = per_package.get(package, 0) + int(match.group(1)) / 1e6
    ranked = sorted(per_package.items(), key=lambda item: -item[1])
    return {"total_s": round(sum(per_package.values()), 3),
            "top": {name: round(seconds, 3) for name, seconds in ranked[:top]}}


def measure(image: str, runs: int) -> dict:
    starts = [bare_start(image, lab=True, logs=run == runs - 1) for run in range(runs)]
    loaded = sorted(set(re.findall(r"(\S+) \| extension was successfully loaded", starts[-1]["logs"])))
    return {"image": image, "runs": runs,
            **{key: round(statistics.median(s[key] for s in starts), 3)
               for key in ("wall_s", "cpu_s", "lab_page_cpu_s")},
            "server_extensions": loaded, "phases_cpu_s": cpu_inside(image, PHASES),
            "imports": import_breakdown(image), "hub_spawned_server_adds_cpu_s": cpu_inside(image, SINGLEUSER)}


def extension_cost(image: str, name: str, runs: int) -> dict:
    """Median CPU per start with the server extension `name` on and off, started alternately."""
    off = ("--ServerApp.jpserver_extensions", f"{name}=False")
    on_cpu, off_cpu = [], []
    for _ in range(runs):
        on_cpu.append(bare_start(image)["cpu_s"])
        off_cpu.append(bare_start(image, args=off)["cpu_s"])
    with_it, without = statistics.median(on_cpu), statistics.median(off_cpu)
    imports = statistics.median(cpu_inside(image, EXTENSION, name)["import"] for _ in range(runs))
    return {"image": image, "extension": name, "runs": runs, "with_cpu_s": round(with_it, 3),
            "without_cpu_s": round(without, 3), "start_difference_cpu_s": round(with_it - without, 3),
            "start_spread_cpu_s": round(statistics.pstdev(off_cpu), 3), "import_cpu_s": round(imports, 3)}


def environment_cost(image: str, variable: str, runs: int) -> dict:
    """Median wall and CPU seconds per start, and CPU of the first /lab, with `variable` (NAME=VALUE) set and
    unset, started alternately."""
    starts: dict[str, list[dict]] = {"with": [], "without": []}
    for _ in range(runs):
        starts["with"].append(bare_start(image, lab=True, env=(variable,)))
        starts["without"].append(bare_start(image, lab=True))
    report = {"image": image, "variable": variable, "runs": runs}
    for name, found in starts.items():
        report[name] = {key: round(statistics.median(s[key] for s in found), 3)
                        for key in ("wall_s", "cpu_s", "lab_page_cpu_s")}
    report["start_difference_cpu_s"] = round(report["with"]["cpu_s"] - report["without"]["cpu_s"], 3)
    report["start_spread_cpu_s"] = round(statistics.pstdev(s["cpu_s"] for s in starts["without"]), 3)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", nargs="?", help="the unmodified base image (DOCKER_NOTEBOOK_BASE)")
    parser.add_argument("image", help="our built notebook image (LOCAL_NOTEBOOK_IMAGE)")
    parser.add_argument("--runs", type=int, default=5, help="starts of each image; medians are reported")
    parser.add_argument("--extension", help="only the CPU this server extension adds to a start of IMAGE")
    parser.add_argument("--env", help="only what setting this NAME=VALUE in the server's environment adds to a "
                                      "start of IMAGE")
    args = parser.parse_args()
    if args.env:
        report = environment_cost(args.image, args.env, args.runs)
        print(json.dumps(report, indent=2))
        print(f"{args.env}: a start took {report['with']['cpu_s']} CPU-s with it and {report['without']['cpu_s']} "
              f"without (runs spread by {report['start_spread_cpu_s']}); the first /lab "
              f"{report['with']['lab_page_cpu_s']} vs {report['without']['lab_page_cpu_s']} CPU-s")
        return
    if args.extension:
        report = extension_cost(args.image, args.extension, args.runs)
        print(json.dumps(report, indent=2))
        print(f"{args.extension}: importing it costs {report['import_cpu_s']} CPU-s per server start; whole "
              f"starts took {report['with_cpu_s']} CPU-s with it and {report['without_cpu_s']} without "
              f"(runs spread by {report['start_spread_cpu_s']})")
        return
    if not args.base:
        parser.error("BASE_IMAGE is needed unless --extension or --env is given")
    report = {"base": measure(args.base, args.runs), "ours": measure(args.image, args.runs)}
    report["cpu_ratio"] = round(report["ours"]["cpu_s"] / report["base"]["cpu_s"], 2)
    print(json.dumps(report, indent=2))
    print(f"CPU per server start: base {report['base']['cpu_s']} s, ours {report['ours']['cpu_s']} s, "
          f"ratio {report['cpu_ratio']} (goal <= 0.5)")


if __name__ == "__main__":
    main()
