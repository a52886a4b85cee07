"""`invoke swarm-deploy` and `invoke swarm-rm`: the same stack on Docker Swarm."""

from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path

from jhdeploy_hub.contract import STACK_LABEL

from jhdeploy import changes, engine, lifecycle, metrics, options, resolve, state
from jhdeploy.errors import DeployError
from jhdeploy.layout import HUB_SERVICE
from jhdeploy.stack import COPIED_SECRET, Stack

STACK_FILE = ".build/swarm-stack.yml"  # the merged, interpolated Compose config we deploy


def deploy_task(c, root: Path, timeout: float) -> None:
    """`invoke swarm-deploy`."""
    with resolve.changing(c, root, "swarm-deploy", mode="swarm") as stack:
        deploy_and_wait(c, stack, timeout)


def remove_task(c, root: Path) -> None:
    """`invoke swarm-rm`: what runs (else what .env describes for a swarm)."""
    with state.locked(c, root, "swarm-rm"):
        stack = resolve.for_looking(c, root, "removing", mode="swarm").stack
        removed, seconds = remove(c, stack)
    print(f"Removed stack {stack.project}, its jobs and {removed} user service(s) in {seconds:.0f} s.")
    for line in kept(c, stack):
        print(line)


def kept(c, stack: Stack) -> list[str]:
    """What `invoke swarm-rm` leaves, so that the next `swarm-deploy` finds users' files, and how to delete it."""
    network = stack.settings["DOCKER_NETWORK_NAME"]
    here = [v for v in stack.volumes if engine.probe(c, ["docker", "volume", "inspect", v]).ok]
    here += engine.user_volumes(c, stack)
    users = (f"users' folders under USER_STORAGE_PATH ({stack.settings['USER_STORAGE_PATH']})"
             if stack.settings["USER_STORAGE_PATH"] else "users' volumes on the nodes where their servers ran")
    return [f"Kept: the network {network}; on this node {len(here)} volume(s)"
            + (f" ({', '.join(here)})" if here else "") + f"; {users}.",
            "`invoke clean` removes the network; `invoke clean --volumes` deletes this node's volumes (it asks first)."]


def push_task(c, root: Path) -> None:
    """`invoke push`: fails naming each node that cannot pull the images."""
    fail_on(push(c, resolve.for_change(c, root)))


def prepull_task(c, root: Path) -> None:
    """`invoke prepull`: for what runs (else what .env describes for a swarm)."""
    stack = resolve.for_looking(c, root, "pulling images for", mode="swarm").stack
    check_manager(c)
    fail_on(prepull(c, stack))


def fail_on(problems: list[str]) -> None:
    if problems:
        raise DeployError("\n".join(problems))


def check_manager(c) -> int:
    """This engine must manage a swarm; returns the number of nodes."""
    state = engine.probe(c, ["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"])
    if state.stdout.split() != ["active", "true"]:
        raise DeployError("This Docker Engine is not a swarm manager. Create a swarm with `docker swarm init` "
                   "(see docs/scaling.md), or run `invoke swarm-deploy` on a manager.")
    return len(engine.probe(c, ["docker", "node", "ls", "--quiet"]).stdout.split())


def ensure_overlay_network(c, stack: Stack) -> bool:
    """An attachable overlay network: users' services join it by name."""
    name = stack.settings["DOCKER_NETWORK_NAME"]
    driver = engine.probe(c, ["docker", "network", "inspect", "--format", "{{.Driver}}", name])
    if driver.ok:
        if driver.stdout.strip() != "overlay":
            raise DeployError(f"Network {name} exists as a {driver.stdout.strip()} network. Run `invoke stop` and "
                       f"`docker network rm {name}`, or set DOCKER_NETWORK_NAME to another name.")
        return False
    engine.run(c, ["docker", "network", "create", "--driver", "overlay", "--attachable",
                   "--label", f"{STACK_LABEL}={stack.project}", name], hide="out")
    return True


def image_warnings(c, stack: Stack, nodes: int) -> list[str]:
    engine.require_images(c, stack)
    warnings = []
    if nodes > 1 and not stack.settings["REGISTRY"]:
        warnings.append(f"warning: this swarm has {nodes} nodes but REGISTRY is empty: the images exist only on "
                        "this host, so other nodes cannot run the hub's user servers. Set REGISTRY and run "
                        "`invoke push`.")
    if nodes > 1 and not stack.settings["USER_STORAGE_PATH"]:
        warnings.append("warning: users' files are Docker volumes on the node where each server first ran. A server "
                        "that starts on another node (its node drained or gone) finds an empty folder there, and "
                        "the files wait on the old node. Set USER_STORAGE_PATH to a shared filesystem mounted on "
                        "every node (docs/scaling.md).")
    return warnings


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def for_stack_deploy(config: dict, secrets_dir: Path) -> dict:
    """What `compose config` writes, in the dialect `docker stack deploy` reads.

    The CLI's older schema wants integer ports and modes, network lists instead of empty
    mappings, no nulls, and no Compose-only keys (pull_policy, bind options). Swarm has no
    `environment:` secrets: those copied in for a non-root container (JHDEPLOY_SECRET_NAME)
    become the file secrets/NAME, which swarm itself gives the uid and mode asked for; one whose file is
    missing or empty is left out.
    """
    missing = []
    for name, secret in config.get("secrets", {}).items():
        variable = secret.pop("environment", "")
        if variable.startswith(COPIED_SECRET):
            secret["file"] = str(secrets_dir / options.SECRETS[variable.removeprefix(COPIED_SECRET).lower()].file)
            if not Path(secret["file"]).is_file() or not Path(secret["file"]).stat().st_size:
                missing.append(name)  # an optional one (an alert receiver's): Swarm takes no empty secret
    for name in missing:
        del config["secrets"][name]
    for service in config.get("services", {}).values():
        service.pop("pull_policy", None)  # images are built or pushed, never pulled by name here
        for port in service.get("ports", []):
            port.pop("host_ip", None)  # swarm publishes on every address of the node (JUPYTERHUB_BIND_IP)
            if isinstance(port.get("published"), str) and port["published"].isdigit():
                port["published"] = int(port["published"])
        networks = service.get("networks")
        if isinstance(networks, dict) and all(v is None for v in networks.values()):
            service["networks"] = list(networks)
        if "secrets" in service:
            service["secrets"] = [secret for secret in service["secrets"] if secret["source"] not in missing]
        for secret in service.get("secrets", []):
            if isinstance(secret.get("mode"), str):
                secret["mode"] = int(secret["mode"], 8)
        for volume in service.get("volumes", []):
            volume.get("bind", {}).pop("create_host_path", None)
            if volume.get("bind") == {}:
                del volume["bind"]
            if volume.get("volume") == {}:
                del volume["volume"]
    config.pop("name", None)  # the stack's name is given to `docker stack deploy`
    return _without_nulls(config)


def write_stack_file(c, stack: Stack) -> str:
    """`compose config` of the selected files plus compose/swarm.yml, for `docker stack deploy`.

    Written as JSON, which is YAML too.
    """
    result = engine.compose_probe(c, stack, ["config", "--format", "json"])
    if not result.ok:
        raise DeployError(f"✗ Compose refused the configuration: {result.stderr.strip()}")
    path = stack.root / STACK_FILE
    # Secret *paths* only, but owner-only all the same.
    changes.apply(c, f"write {STACK_FILE}", state.write_json, path,
                  for_stack_deploy(json.loads(result.stdout), stack.secrets_dir))
    return str(path)


def deploy(c, stack: Stack) -> None:
    state.write_hub_settings(c, stack)
    state.write_metrics(c, stack)
    stack_file = write_stack_file(c, stack)
    engine.run(c, ["docker", "stack", "deploy", "--compose-file", stack_file, "--prune", stack.project])
    state.save(c, stack)


def remove(c, stack: Stack, timeout: float = 120) -> tuple[int, float]:
    """Remove the stack, its jobs and the users' services (all carry our label), and wait for this node's
    containers to go; volumes and the network stay. Returns (users, seconds)."""
    started = time.monotonic()
    engine.run(c, ["docker", "stack", "rm", stack.project], hide="out")
    state.forget(c, stack.root)
    users = engine.user_services(c, stack.project)
    if users:
        engine.run(c, ["docker", "service", "rm", *users], hide="out")
    # Services go at once; their containers (PROJECT_hub.1.x, PROJECT-user.1.x), stopped ones too, take a
    # moment, and hold their volumes until then.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = engine.probe(c, ["docker", "ps", "--all", "--format", "{{.Names}}"]).stdout.split()
        if not [n for n in names if n.startswith((f"{stack.project}_", f"{stack.project}-"))]:
            break
        time.sleep(1)
    return len(users), time.monotonic() - started


def deploy_and_wait(c, stack: Stack, timeout: float) -> None:
    """`invoke swarm-deploy`: check the swarm and the images, deploy, and wait like `invoke start`."""
    nodes = check_manager(c)
    for warning in image_warnings(c, stack, nodes):
        print(warning, file=sys.stderr)
    metrics.check_rules(c, stack)
    started, since = time.monotonic(), datetime.datetime.now(datetime.timezone.utc)
    if ensure_overlay_network(c, stack):
        print(f"Created overlay network {stack.settings['DOCKER_NETWORK_NAME']}.")
    for created in engine.ensure_stack_resources(c, stack):
        print(f"Created {created}.")
    hub = f"{stack.project}_{HUB_SERVICE}"
    before = hub_tasks(c, hub)
    deploy(c, stack)
    if before[0] and hub_tasks(c, hub)[0] != before[0] and not changes.dry(c):
        print("The hub's settings changed: swarm replaces its task. Users' servers keep running; "
              "logins wait for the new hub.")
        wait_for_new_task(c, hub, before[1], timeout)
    problems = prepull(c, stack) if nodes > 1 else []
    if lifecycle.wait_healthy(c, stack, timeout, since):
        print(f"\nJupyterHub is up on {nodes} swarm node(s) after {time.monotonic() - started:.0f} s: {stack.url}")
        print(stack.login_hint)
    for problem in problems:
        print(problem, file=sys.stderr)


def hub_tasks(c, service: str) -> tuple[str, set[str]]:
    """SERVICE's task template (JSON; "" when there is no such service) and its tasks meant to run."""
    template = engine.probe(c, ["docker", "service", "inspect", "--format", "{{json .Spec.TaskTemplate}}", service])
    if not template.ok:
        return "", set()
    tasks = engine.probe(c, ["docker", "service", "ps", "--quiet", "--filter", "desired-state=running", service])
    return template.stdout.strip(), set(tasks.stdout.split())


def wait_for_new_task(c, service: str, old: set[str], timeout: float) -> None:
    """Until a task of SERVICE other than OLD runs: `docker stack deploy` returns before swarm has even
    stopped the old one, which would answer the health check in the meantime."""
    started, deadline = time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = engine.probe(c, ["docker", "service", "ps", "--no-trunc", "--filter", "desired-state=running",
                                "--format", "{{.ID}}\t{{.CurrentState}}\t{{.Error}}", service]).stdout
        for task, current, error in (row.split("\t") for row in rows.splitlines() if row.count("\t") == 2):
            if task not in old and current.startswith("Running"):
                print(f"The new hub task runs after {time.monotonic() - started:.0f} s.")
                return
            if task not in old and current.startswith(("Failed", "Rejected")):
                raise DeployError(f"✗ The new hub task {current.split()[0].lower()}: {error}. Its log: "
                                  f"`docker service logs {service}`. Fix the cause, then run `invoke swarm-deploy`.")
        time.sleep(1)
    raise DeployError(f"✗ No new hub task runs after {timeout:.0f} s: see `docker service ps {service}`, then run "
                      "`invoke swarm-deploy` again.")


# A task that ended, as `docker service ps` words it; anything else is still on its way.
ENDED = ("Complete", "Failed", "Rejected", "Shutdown", "Orphaned")
# What each task of on_every_node prints when its command has ended, before it waits to be removed.
JOB_DONE = "jhdeploy-job: exit "


def on_every_node(c, stack: Stack, job: str, image: str, command: list[str], constraints=(), mounts=(),
                  timeout: float = 900) -> dict[str, str]:
    """Run COMMAND in IMAGE once on every node that CONSTRAINTS allow (each node's engine pulls IMAGE
    itself, from REGISTRY). Returns {node: "" when it worked, else what failed there}.

    A global service rather than a global job: a finished job's containers stay on the nodes after the
    job is removed (engine 20.10), while a service's running containers go with it. So each task prints
    how its command ended, then waits to be removed.
    """
    name = f"{stack.project}-{job}"
    if engine.probe(c, ["docker", "service", "inspect", name]).ok:  # left by an interrupted task
        engine.run(c, ["docker", "service", "rm", name], hide="out")
    argv = ["docker", "service", "create", "--detach", "--quiet", "--name", name, "--mode", "global",
            "--restart-condition", "none", "--no-healthcheck", "--stop-grace-period", "0s",
            "--label", f"{STACK_LABEL}={stack.project}"]
    for constraint in constraints:
        argv += ["--constraint", constraint]
    for mount in mounts:
        argv += ["--mount", mount]
    script = f'"$@"; echo "{JOB_DONE}$?"; exec sleep 86400'
    engine.run(c, [*argv, "--entrypoint", "sh", image, "-c", script, "sh", *command], hide="out")
    if changes.dry(c):
        return {}
    try:
        outcome: dict[str, str | None] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcome = job_outcome(c, name)
            if outcome and None not in outcome.values():
                break
            time.sleep(1)
        return {node: f"not done after {timeout:.0f} s" if result is None else result
                for node, result in outcome.items()}
    finally:
        engine.run(c, ["docker", "service", "rm", name], hide="out")


def job_outcome(c, service: str) -> dict[str, str | None]:
    """Each node's task of an on_every_node SERVICE: "" when its command worked, what failed, or None."""
    said = engine.task_lines(c, service)
    outcome: dict[str, str | None] = {}
    rows = engine.probe(c, ["docker", "service", "ps", service, "--no-trunc", "--format",
                            "{{.Node}}\t{{.CurrentState}}\t{{.Error}}"]).stdout.splitlines()
    for row in rows:
        node, state, error = (row.split("\t") + ["", ""])[:3]
        lines = said.get(node, [])
        ended = [line.removeprefix(JOB_DONE) for line in lines if line.startswith(JOB_DONE)]
        if ended:
            last = [line for line in lines if not line.startswith(JOB_DONE)][-1:]
            outcome[node] = "" if ended[-1] == "0" else (last or [f"exit status {ended[-1]}"])[0]
        elif state.startswith(ENDED):
            outcome[node] = error.strip('"') or state
        else:
            outcome.setdefault(node, None)
    return outcome


def user_placement(c, stack: Stack) -> list[str]:
    """Where users' servers may run, as the hub decides it (hub/jhdeploy_hub/spawners.py)."""
    if stack.settings["SWARM_USER_CONSTRAINTS"]:
        return list(stack.settings["SWARM_USER_CONSTRAINTS"])
    workers = engine.probe(c, ["docker", "node", "ls", "--quiet", "--filter", "role=worker"]).stdout.split()
    return ["node.role == worker"] if workers else []


def notebook_images(stack: Stack) -> list[str]:
    """Every image a user's server may run: .env's, and each conf/groups.toml image."""
    return list(dict.fromkeys([stack.images["LOCAL_NOTEBOOK_IMAGE"], *stack.settings["NOTEBOOK_IMAGES"].values(),
                               *(spec["image"] for spec in stack.groups.images.values())]))


def report(results: dict[str, str], what: str, fix: str) -> list[str]:
    """One line per node that failed, naming it, what failed and the command that fixes it."""
    return [f"✗ {node}: {what}: {error}. Fix it there, then run `{fix}`." for node, error in sorted(results.items())
            if error]


def prepull(c, stack: Stack) -> list[str]:
    """Pull every notebook image on every node that may run users' servers, as Zero to JupyterHub's
    pre-puller does, so that no first spawn on a node waits for a pull. Returns the failures."""
    placement, problems = user_placement(c, stack), []
    for image in notebook_images(stack):
        started = time.monotonic()
        results = on_every_node(c, stack, "prepull", image, ["true"], placement)
        problems += report(results, f"cannot pull {image}", "invoke prepull")
        print(f"Pre-pulled {image} on {sum(not e for e in results.values())} of {len(results)} node(s) "
              f"({', '.join(placement) or 'any node'}) in {time.monotonic() - started:.0f} s.")
    return problems


# The hub image asks each node's engine for the registry's manifest of each image, as a pull would
# begin, without downloading the image: docker-py is in the hub image, the engine's socket on the node.
CAN_PULL = ("import docker, sys\n"
            "client, failed = docker.APIClient(), 0\n"
            "for ref in sys.argv[1:]:\n"
            "    try:\n"
            "        client.inspect_distribution(ref)\n"
            "    except docker.errors.APIError as error:\n"
            "        failed = print(f'cannot pull {ref}: {error.explanation}', flush=True) or 1\n"
            "sys.exit(failed)\n")


def repository(ref: str) -> str:
    """registry:5000/team/image:tag -> registry:5000/team/image (a port is not a tag)."""
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


def record_digests(c, stack: Stack, refs: list[str]) -> None:
    """What each pushed tag now is in the registry (contract.DIGESTS_FILE): swarm spawns name that."""
    if changes.dry(c):
        return
    pins = {}
    for ref in refs:
        listed = engine.probe(c, ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", ref]).stdout
        pinned = next((d for d in json.loads(listed or "[]") if d.startswith(repository(ref) + "@")), None)
        if pinned:
            pins[ref] = pinned
    path = state.image_digests_file(stack.root)
    changes.apply(c, f"record the pushed digests in {path.relative_to(stack.root)}", state.write_json, path, pins)
    print(f"Recorded {len(pins)} digest(s) in {path.relative_to(stack.root)}: swarm spawns name them, not the tags.")


def push(c, stack: Stack) -> list[str]:
    """Push the images a start needs to REGISTRY, then check that every node can pull them.
    Returns one line per node and image that cannot be pulled."""
    if not stack.settings["REGISTRY"]:
        raise DeployError("REGISTRY is empty: set it in .env (such as registry.example.org/team), then "
                          "`invoke build` and `invoke push`.", code=2)
    refs = list(stack.images.values())
    for ref in refs:
        started = time.monotonic()
        engine.run(c, ["docker", "push", "--quiet", ref], hide="out")
        print(f"Pushed {ref} in {time.monotonic() - started:.0f} s.")
    record_digests(c, stack, refs)
    if engine.probe(c, ["docker", "info", "--format", "{{.Swarm.ControlAvailable}}"]).stdout.strip() != "true":
        print("Not a swarm manager: each node's pull is not checked.")
        return []
    hub_ref = stack.images["LOCAL_HUB_IMAGE"]
    results = on_every_node(c, stack, "pullcheck", hub_ref, ["python3", "-c", CAN_PULL, *refs],
                            mounts=["type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock"])
    print(f"Every node can pull them: {sum(not e for e in results.values())} of {len(results)} node(s).")
    return report(results, "cannot pull the images", "invoke push")
