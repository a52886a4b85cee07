"""`invoke doctor`: everything a start needs, one ✓ or ✗ line each, with the fix."""

from __future__ import annotations

import datetime
import errno
import fnmatch
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from jhdeploy import diskspace, engine, images, metrics, resolve, secretfiles, snapshots
from jhdeploy.errors import DeployError
from jhdeploy.settings import SettingsError
from jhdeploy.stack import Stack

MIN_FREE_GB, LOW_FREE_GB = 2, 10


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    fix: str = ""
    warning: bool = False  # reported, but does not fail the exit code

    def line(self) -> str:
        mark = "✓" if self.ok else ("!" if self.warning else "✗")
        return f"{mark} {self.what}" + (f"\n    fix: {self.fix}" if self.fix and not self.ok else "")


def engine_checks(c) -> list[Check]:
    try:
        version = engine.check_engine(c)
    except DeployError as error:
        return [Check(False, "Docker Engine is not reachable", error.message)]
    checks = [Check(True, f"Docker Engine {version} is reachable")]
    try:
        command = engine.compose_command(c)
        version = engine.probe(c, [*command, "version", "--short"]).stdout.strip()
        checks.append(Check(True, f"Compose {version} ({' '.join(command)})"))
    except DeployError as error:
        checks.append(Check(False, "Compose v2 is missing", error.message))
    return checks


LOCAL_ENGINE = ("", "unix:///var/run/docker.sock", "unix:///run/docker.sock")


def port_checks(c, stack: Stack) -> list[Check]:
    running = engine.stack_containers(c, stack.project)
    elsewhere = os.environ.get("DOCKER_HOST", "") not in LOCAL_ENGINE
    checks = []
    for key, port in stack.published_ports.items():
        if running:
            checks.append(Check(True, f"Port {port} ({key}) is served by this stack"))
            continue
        if elsewhere:  # the port is on the engine's machine, which a bind here says nothing about
            checks.append(Check(True, f"Port {port} ({key}): not checked here, the engine is DOCKER_HOST's"))
            continue
        problem = port_in_use(port)
        if problem:
            checks.append(Check(False, f"Port {port} ({key}) {problem}",
                                f"stop what listens there, or set {key} to a free port in .env"))
        else:
            checks.append(Check(True, f"Port {port} ({key}) is free"))
    return checks


def port_in_use(port: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except PermissionError:
            return None  # privileged port and not root: Docker binds it for us
        except OSError as error:
            return "is taken by another program" if error.errno == errno.EADDRINUSE else str(error)
    return None


def secret_checks(stack: Stack) -> list[Check]:
    directory = stack.secrets_dir
    if not directory.is_dir():
        return [Check(False, "secrets/ is missing", "run `invoke setup`")]
    checks = []
    if directory.stat().st_mode & 0o077:
        checks.append(Check(False, "secrets/ is readable by others", f"chmod 700 {directory}"))
    loose = secretfiles.loose_permissions(directory)
    for path in loose:
        checks.append(Check(False, f"secrets/{path.name} is readable by others", f"chmod 600 {path}"))
    if stack.env_file.exists() and stack.env_file.stat().st_mode & 0o077:
        checks.append(Check(False, ".env (it may hold passwords) is readable by others",
                            f"chmod 600 {stack.env_file}"))
    missing = [secret.file for secret in secretfiles.generated() if not (directory / secret.file).exists()]
    if missing:
        checks.append(Check(False, f"secrets missing: {', '.join(missing)}", "run `invoke setup`"))
    if not checks:
        checks.append(Check(True, "Secrets are present and owner-only"))
    return checks


def image_checks(c, stack: Stack) -> list[Check]:
    checks = []
    for layer in images.LAYERS:
        tag = stack.settings[layer.tag_key]
        created = engine.probe(c, ["docker", "image", "inspect", "--format", "{{.Created}}", tag])
        if not created.ok:
            checks.append(Check(False, f"Image {tag} ({layer.name}) is not built", f"run `invoke {layer.task} "
                                f"--with-deps` or `invoke build`"))
            continue
        built = datetime.datetime.fromisoformat(created.stdout.strip()[:19]).replace(tzinfo=datetime.timezone.utc)
        if images.newest_input(layer, stack.root) > built.timestamp():
            checks.append(Check(False, f"Image {tag} ({layer.name}) is older than its inputs",
                                f"run `invoke {layer.task}` (and the layers above it)", warning=True))
        else:
            checks.append(Check(True, f"Image {tag} ({layer.name}) is built and current"))
    return checks


VERSION_LABEL = "org.jhdeploy.jupyterhub-version"  # written by the hub and notebook_body Dockerfiles
JUPYTERHUB_PACKAGES = ("jupyterhub", "jupyterhub-base", "jupyterhub-singleuser")  # conda-forge's names
READ_PINS = 'cat "${CONDA_DIR:-/opt/conda}/conda-meta/pinned" 2>/dev/null || true'


def version_checks(c, stack: Stack) -> list[Check]:
    """The hub and the users' servers run the JupyterHub of JUPYTERHUB_VERSION, or logins loop."""
    wanted, checks = stack.settings["JUPYTERHUB_VERSION"], []
    label = f'{{{{index .Config.Labels "{VERSION_LABEL}"}}}}'
    for ref in (stack.images["LOCAL_HUB_IMAGE"], stack.images["LOCAL_NOTEBOOK_IMAGE"]):
        result = engine.probe(c, ["docker", "image", "inspect", "--format", label, ref])
        built = result.stdout.strip() if result.ok else ""
        if built and built != wanted:
            checks.append(Check(False, f"Image {ref} holds JupyterHub {built}; JUPYTERHUB_VERSION is {wanted}",
                                "run `invoke build`: the hub and every server must run the same JupyterHub",
                                warning=True))
    checks += base_pin_checks(c, stack)
    return checks or [Check(True, f"The built images hold JupyterHub {wanted}, as JUPYTERHUB_VERSION says")]


def base_pin_checks(c, stack: Stack) -> list[Check]:
    """A JupyterHub pinned in the notebook base (conda-meta/pinned) is one the body layer cannot replace."""
    base, wanted = stack.settings["DOCKER_NOTEBOOK_BASE"], stack.settings["JUPYTERHUB_VERSION"]
    if not engine.image_exists(c, base):
        return []  # never pulled here: `invoke build` pulls it
    pins = engine.probe(c, ["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", base, "-c",
                            READ_PINS]).stdout
    for line in pins.splitlines():
        name, _, pattern = line.strip().partition(" ")
        pattern = pattern.strip().lstrip("=")
        if not re.fullmatch(r"[0-9.*]+", pattern):
            continue  # a range (>=, <, a comma): not read here
        if "*" not in pattern and pattern.count(".") < 2:
            pattern += ".*"  # conda reads `jupyterhub 5.5` as 5.5.*
        if name in JUPYTERHUB_PACKAGES and not fnmatch.fnmatch(wanted, pattern):
            return [Check(False, f"DOCKER_NOTEBOOK_BASE={base} pins {name} {pattern} (conda-meta/pinned), so the "
                                 f"body layer cannot install JUPYTERHUB_VERSION={wanted}",
                          "choose a base without that pin, or set JUPYTERHUB_VERSION to a version it allows",
                          warning=True)]
    return []


def disk_checks(c) -> list[Check]:
    root = engine.docker_root(c)
    if not Path(root).exists():
        return [Check(True, "Disk space: Docker's data is not on this filesystem (not checked)")]
    free = shutil.disk_usage(root).free / 1e9
    if free < MIN_FREE_GB:
        return [Check(False, f"Only {free:.1f} GB free for Docker in {root}",
                      "free disk space, or `docker system prune` images you no longer need")]
    return [Check(free >= LOW_FREE_GB, f"{free:.0f} GB free for Docker in {root}",
                  "notebook images need several GB: free some space", warning=True)]


def dns_checks(stack: Stack) -> list[Check]:
    if not stack.uses_le:
        return []
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(stack.host, 443)}
    except OSError:
        return [Check(False, f"JH_FQDN {stack.host} does not resolve",
                      "create a DNS record pointing at this host; Let's Encrypt needs it", warning=True)]
    return [Check(True, f"JH_FQDN {stack.host} resolves to {', '.join(sorted(addresses))} "
                        "(check that this is this host)")]


def fence_checks(c, stack: Stack) -> list[Check]:
    """Whether users' servers are fenced from each other and from this host."""
    if not (stack.fenced or stack.swarm_fenced):
        return [Check(False, "User network fence is off (USER_NETWORK_FENCE=no): users' servers can reach each "
                             "other and this host", "set USER_NETWORK_FENCE=yes", warning=True)]
    if stack.swarm_fenced:
        nodes = engine.fence_nodes(c, stack.project)
        if not nodes:
            return [Check(True, "User network fence: applied by `invoke swarm-deploy`")]
        return [Check("NOT in force" not in line, f"User network fence on {line}",
                      "see `invoke logs --service fence`, then `invoke swarm-deploy`") for line in nodes]
    if not engine.stack_containers(c, stack.project):
        return [Check(True, "User network fence: applied by `invoke start`")]
    result = engine.fence(c, stack, "check")
    return [Check(result.ok, f"User network fence: {result.stdout.strip() or 'its service does not run'}",
                  "`invoke restart` starts the fence service again")]


def fast(c, stack: Stack) -> list[Check]:
    """What `invoke start` checks first: quick, local, and fatal if wrong."""
    return secret_checks(stack) + port_checks(c, stack)


def everything(c, root: Path, running: Stack | None) -> list[Check]:
    """`invoke doctor`: the settings, the engine, and what a start needs; the running stack when there is one."""
    try:
        stack = resolve.from_env(root)
        checks = [Check(True, ".env and userlist are valid")]
    except resolve.INVALID as error:
        problems = error.problems if isinstance(error, SettingsError) else [str(error)]
        return [Check(False, problem, "edit .env (see .env-template) or userlist") for problem in problems] + \
            engine_checks(c)
    checks += [Check(False, w, warning=True) for w in stack.settings.warnings() + stack.warnings()]
    if running and running.project != stack.project:
        checks.append(Check(False, f"The running stack is {running.project!r}, but .env now names "
                                   f"{stack.project!r}", "`invoke stop` stops the running one", warning=True))
    checks += engine_checks(c)
    engine_ok = all(check.ok for check in checks[-2:])
    checks += secret_checks(stack)
    if engine_ok:
        checks += port_checks(c, running or stack) + image_checks(c, stack) + version_checks(c, stack)
        checks += disk_checks(c)
        checks += fence_checks(c, running or stack)
    checks += [Check(ok, line, f"`invoke logs --service {snapshots.SERVICE}` says why; `invoke backup-now` "
                               "takes one now", warning=True) for ok, line in snapshots.status_lines(running or stack)]
    if engine_ok:
        checks += [Check(ok, line, fix, warning=True) for ok, line, fix in diskspace.status_lines(c, running or stack)]
    if engine_ok and running:
        checks += [Check(ok, line, "`invoke status` and `invoke logs --service prometheus` (or alertmanager) say "
                                   "more", warning=True) for ok, line in metrics.status_lines(c, running)]
    return checks + dns_checks(stack)


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.ok and not check.warning]


def run(c, root: Path) -> None:
    """`invoke doctor`: print every check; fail when any must be fixed before a start."""
    resolve.create_templates(c, root)
    checks = everything(c, root, resolve.running(root))
    for check in checks:
        print(check.line())
    failures = failed(checks)
    if failures:
        raise DeployError(f"\n{len(failures)} problem(s) to fix before `invoke start`.")
    print("\nReady: `invoke start` has what it needs.")
