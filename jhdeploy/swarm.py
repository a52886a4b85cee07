"""`invoke swarm-deploy` and `invoke swarm-rm`: the same stack on Docker Swarm."""

from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path

from jhdeploy import changes, engine, lifecycle, state
from jhdeploy.errors import DeployError
from jhdeploy.layout import SECRET_FILES, STACK_LABEL
from jhdeploy.stack import COPIED_SECRET, Stack

STACK_FILE = ".build/swarm-stack.yml"  # the merged, interpolated Compose config we deploy


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
    missing = [ref for ref in stack.images.values() if not engine.image_exists(c, ref)]
    if missing:
        raise DeployError(f"Image(s) not built yet: {', '.join(missing)}. Run `invoke build` first.")
    if nodes > 1 and not stack.settings["REGISTRY"]:
        return [f"warning: this swarm has {nodes} nodes but REGISTRY is empty: the images exist only on this "
                "host, so other nodes cannot run the hub's user servers. Set REGISTRY and run `invoke push`."]
    return []


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
    become the file secrets/NAME, which swarm itself gives the uid and mode asked for.
    """
    for secret in config.get("secrets", {}).values():
        variable = secret.pop("environment", "")
        if variable.startswith(COPIED_SECRET):
            secret["file"] = str(secrets_dir / SECRET_FILES[variable.removeprefix(COPIED_SECRET).lower()])
    for service in config.get("services", {}).values():
        service.pop("pull_policy", None)  # images are built or pushed, never pulled by name here
        for port in service.get("ports", []):
            port.pop("host_ip", None)  # swarm publishes on every address of the node (JUPYTERHUB_BIND_IP)
            if isinstance(port.get("published"), str) and port["published"].isdigit():
                port["published"] = int(port["published"])
        networks = service.get("networks")
        if isinstance(networks, dict) and all(v is None for v in networks.values()):
            service["networks"] = list(networks)
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
    stack_file = write_stack_file(c, stack)
    engine.run(c, ["docker", "stack", "deploy", "--compose-file", stack_file, "--prune", stack.project])
    state.save(c, stack)


def remove(c, stack: Stack, timeout: float = 120) -> tuple[int, float]:
    """Remove the stack and the users' services; volumes and the network stay. Returns (users, seconds)."""
    started = time.monotonic()
    engine.run(c, ["docker", "stack", "rm", stack.project], hide="out")
    state.forget(c, stack.root)
    users = engine.user_services(c, stack.project)
    if users:
        engine.run(c, ["docker", "service", "rm", *users], hide="out")
    # Services go at once; their containers (PROJECT_hub.1.x, PROJECT-user.1.x) take a moment.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = engine.probe(c, ["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
        if not [n for n in names if n.startswith((f"{stack.project}_", f"{stack.project}-"))]:
            break
        time.sleep(1)
    return len(users), time.monotonic() - started


def deploy_and_wait(c, stack: Stack, timeout: float) -> None:
    """`invoke swarm-deploy`: check the swarm and the images, deploy, and wait like `invoke start`."""
    nodes = check_manager(c)
    for warning in image_warnings(c, stack, nodes):
        print(warning, file=sys.stderr)
    started, since = time.monotonic(), datetime.datetime.now(datetime.timezone.utc)
    if ensure_overlay_network(c, stack):
        print(f"Created overlay network {stack.settings['DOCKER_NETWORK_NAME']}.")
    for created in engine.ensure_stack_resources(c, stack):
        print(f"Created {created}.")
    deploy(c, stack)
    if lifecycle.wait_healthy(c, stack, timeout, since):
        print(f"\nJupyterHub is up on {nodes} swarm node(s) after {time.monotonic() - started:.0f} s: {stack.url}")
        print(stack.login_hint)


def push(c, stack: Stack) -> None:
    """Push the images a start needs to REGISTRY."""
    if not stack.settings["REGISTRY"]:
        raise DeployError("REGISTRY is empty: set it in .env (such as registry.example.org/team), then "
                          "`invoke build` and `invoke push`.", code=2)
    for ref in stack.images.values():
        engine.run(c, ["docker", "push", ref])
