"""Bring a stack up, take it down, look at it, and say what happened: the tasks of the stack's life."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from jhdeploy_hub.contract import ANNOUNCEMENT_FILE

from jhdeploy import changes, doctor, engine, health, images, metrics, resolve, snapshots, state
from jhdeploy.errors import DeployError
from jhdeploy.layout import HUB_SERVICE, PROXY_SERVICE
from jhdeploy.stack import Stack


def say(message: str) -> None:
    print(message, flush=True)


def setup(c, root: Path) -> None:
    """`invoke setup`: the files a start needs, and whether .env is valid."""
    stack = resolve.for_change(c, root, needs_engine=False)
    say(f"Settings in {stack.env_file.name} are valid. Secrets are in {stack.secrets_dir.name}/ (owner-only).\n"
        f"{stack.login_hint}")


def start(c, root: Path, flags: dict[str, str], timeout: float, follow: bool = False) -> None:
    """`invoke start`: refuse an invalid .env, and a .env that names another project than the running one."""
    with resolve.changing(c, root, "start", flags) as stack:
        running = resolve.running(root)
        if running and running.project != stack.project:
            raise DeployError(f"The stack {running.project!r} still runs from this folder, and .env now names "
                              f"{stack.project!r}. Run `invoke stop` first.")
        bring_up(c, stack, timeout)
    if follow:
        show_logs(c, stack, "", follow=True, tail="0")


def prepare(c, stack: Stack, refusal: str) -> tuple[float, datetime.datetime]:
    """What start and restart do before Compose: the fast checks, the images, the network and volumes, the
    hub's settings. `refusal` words a failed check ({problems}). Returns when it began, as a clock and as a
    time for `docker logs --since`."""
    problems = doctor.failed(doctor.fast(c, stack))
    if problems:
        raise DeployError(refusal.format(problems="\n".join(check.line() for check in problems)))
    engine.require_images(c, stack)
    metrics.check_rules(c, stack)
    started, since = time.monotonic(), datetime.datetime.now(datetime.timezone.utc)
    for created in engine.ensure_stack_resources(c, stack):
        say(f"Created {created}.")
    state.write_hub_settings(c, stack)
    state.write_metrics(c, stack)
    state.prepare_disk(c, stack)
    return started, since


def bring_up(c, stack: Stack, timeout: float) -> None:
    """Create what is missing, bring the services up, wait for /hub/health, and save the state."""
    started, since = prepare(c, stack, "Not starting:\n{problems}\n`invoke doctor` checks everything.")
    engine.compose(c, stack, ["up", "--detach", "--remove-orphans"])
    state.save(c, stack)
    if wait_healthy(c, stack, timeout, since):
        say(f"\nJupyterHub is up after {time.monotonic() - started:.0f} s: {stack.url}")
        say(stack.login_hint)


def wait_healthy(c, stack: Stack, timeout: float, since: datetime.datetime) -> bool:
    """Wait until the hub answers; False on a dry run, which started nothing to wait for."""
    if changes.dry(c):
        say(f"[dry] would wait up to {timeout:.0f} s for {stack.local_url}hub/health")
        return False
    say(f"Waiting up to {timeout:.0f} s for {stack.local_url}hub/health ...")
    outcome = health.wait_until_healthy(c, stack, timeout, since)
    if outcome == "healthy":
        return True
    service = outcome or HUB_SERVICE
    what = f"{service} failed while starting" if outcome else f"the hub did not answer within {timeout:.0f} s"
    text = recent_logs(c, stack, service, since)
    if health.needs_upgrade(text):
        # Stop the restart loop: the hub refuses this database until it is upgraded.
        engine.compose(c, stack, ["stop"], hide="both", echo=False)
        raise DeployError("\n✗ The hub database has an older schema than this JupyterHub. The stack is stopped.\n"
                          "Run `invoke upgrade-db` (it backs up first), then `invoke start`.")
    say(text)
    raise DeployError(f"\n✗ {what}; its log lines are above. Fix the cause, then run `invoke restart`. "
                      "`invoke logs` follows the logs.")


def recent_logs(c, stack: Stack, service: str, since: datetime.datetime) -> str:
    if stack.in_swarm:
        argv = ["docker", "service", "logs", "--tail", "60", f"{stack.project}_{service}"]
        result = engine.probe(c, argv)
    else:
        logs = ["logs", "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"), "--tail", "60", service]
        result = engine.compose_probe(c, stack, logs)
    return result.stdout + result.stderr


def stop(c, root: Path, keep_servers: bool) -> None:
    """`invoke stop`: what runs, by the name `invoke start` saved, even when .env is invalid now."""
    with state.locked(c, root, "stop"):
        take_down(c, resolve.for_looking(c, root, "stopping").stack, keep_servers)


def take_down(c, stack: Stack, keep_servers: bool = False) -> None:
    """Stop what runs (by its recorded name) and, unless `keep_servers`, every user's server; keep every volume."""
    started = time.monotonic()
    # --remove-orphans: services of options no longer selected.
    engine.compose(c, stack, ["down", "--remove-orphans"])
    running = engine.spawned_containers(c, stack.project, running_only=True)
    if not keep_servers:
        engine.stop_containers(c, engine.spawned_containers(c, stack.project))
        # The fence outlives its service (for --keep-servers); with no server left, its rules go too.
        if stack.fenced and not engine.fence(c, stack, "remove", running=False).ok:
            say("warning: the fence's firewall rules could not be removed; they stop nothing while no server runs.")
    state.forget(c, stack.root)
    kept = f"{len(running)} user server(s) kept running; `invoke start` brings the hub back to them" \
        if keep_servers else f"{len(running)} user server(s) stopped"
    if not changes.dry(c):
        say(f"Stopped {stack.project} in {time.monotonic() - started:.0f} s; {kept}. "
            "Volumes, the network and secrets are kept.")


def restart(c, root: Path, flags: dict[str, str], timeout: float) -> None:
    """`invoke restart`: .env as it is now, with the flags of the last start unless given again."""
    with state.locked(c, root, "restart"):
        before = resolve.running(root)
        stack = resolve.for_change(c, root, {**(before.settings.overrides if before else {}), **flags})
        apply_changes(c, stack, before, timeout)


def apply_changes(c, stack: Stack, before: Stack | None, timeout: float) -> None:
    """Apply edits to .env, userlist and conf/: recreate the hub, and whatever else changed; never a user's server."""
    if before is None:
        bring_up(c, stack, timeout)
        return
    if (before.project, before.mode) != (stack.project, stack.mode):
        say(f"! The project changed from {before.project!r} to {stack.project!r}: stopping the old one, "
            "users' servers included.")
        take_down(c, before)
        bring_up(c, stack, timeout)
        return
    started, since = prepare(c, stack, "Not restarting; nothing was changed:\n{problems}")
    changed = [service for service in engine.changed_services(c, stack) if service != HUB_SERVICE]
    dropped = [service for service in before.services if service not in stack.services]
    in_front = [s for s in changed + dropped if s in (PROXY_SERVICE, before.ssl.front, stack.ssl.front)]
    if in_front:
        say(f"! {', '.join(in_front)} changed: recreating it drops users' open connections for a few seconds. "
            "Their servers keep running.")
    if before.settings["SHARING"] and not stack.settings["SHARING"]:
        say("! SHARING is off now: every share and share link ends as the hub restarts; guests lose their access "
            "to others' servers (the owners keep theirs).")
    if changed:  # before the hub, which gives a new proxy its routes when it starts
        engine.compose(c, stack, ["up", "--detach", "--no-deps", *changed])
    engine.compose(c, stack, ["up", "--detach", "--no-deps", "--force-recreate", "--remove-orphans", HUB_SERVICE])
    state.save(c, stack)
    if not wait_healthy(c, stack, timeout, since):
        return
    servers = len(engine.spawned_containers(c, stack.project, running_only=True))
    say(f"\nRestarted in {time.monotonic() - started:.0f} s: the hub" + (f" and {', '.join(changed)}" if changed
        else "") + f" recreated, {servers} user server(s) left running. {stack.url}")


def logs(c, root: Path, service: str, follow: bool, tail: str, user: str) -> None:
    """`invoke logs`: of what runs, even when .env is invalid now."""
    show_logs(c, resolve.for_looking(c, root, "showing the logs of").stack, service, follow, tail, user)


def show_logs(c, stack: Stack, service: str, follow: bool, tail: str, user: str = "") -> None:
    if user:
        name, _, server = user.partition("/")
        containers = engine.user_containers(c, stack.project, name, server)
        if not containers:
            raise DeployError(f"No server of {user} is running (`invoke status` lists them).", code=2)
        engine.run(c, ["docker", "logs", "--tail", str(tail), *(["--follow"] if follow else []), containers[0]],
                   warn=True, echo=False)
        return
    known = stack.services
    if service and service not in known:
        raise DeployError(f"--service {service}: this stack runs {', '.join(known)}.", code=2)
    args = ["logs", "--tail", str(tail)] + (["--follow"] if follow else []) + ([service] if service else [])
    engine.compose(c, stack, args, warn=True, echo=False)


def status(c, root: Path) -> None:
    """`invoke status`: what runs, from the saved state; and what a restart would change, from .env."""
    looked = resolve.for_looking(c, root, "showing")
    stack, saved, env_stack = looked.stack, looked.saved, looked.env_stack
    say(f"Project:  {stack.project}" + ("" if saved else " (not started by `invoke start`)"))
    if saved:
        say(f"Started:  {saved['started']}" + (f" with {saved['flags']}" if saved["flags"] else ""))
    say(f"URL:      {stack.url}")
    say(f"Files:    {' '.join(stack.compose_files)}")
    say("Options:  " + ", ".join(f"{k}={v}" for k, v in stack.options.items()))
    if env_stack and (env_stack.project, env_stack.compose_files) != (stack.project, stack.compose_files):
        say(f"note:     .env now means project {env_stack.project} with {' '.join(env_stack.compose_files)}; "
            "`invoke restart` applies it.")
    if stack.in_swarm:
        say("Mode:     Docker Swarm (invoke swarm-deploy)")
        say(engine.probe(c, ["docker", "stack", "services", stack.project]).stdout.rstrip())
        if stack.swarm_fenced:
            nodes = engine.fence_nodes(c, stack.project)
            say("Fence:" + ("".join(f"\n  {line}" for line in nodes) if nodes else "    its service does not run"))
        users = engine.user_service_nodes(c, stack.project)
        say(f"User services: {len(users)}" + "".join(f"\n  {line}" for line in users))
    else:
        say(engine.compose_probe(c, stack, ["ps", "--all"]).stdout.rstrip())
        routes = engine.compose_probe(c, stack, ["exec", "-T", PROXY_SERVICE, "jhdeploy-proxy", "routes"])
        say(f"Proxy:    {PROXY_SERVICE}, {routes.stdout.strip() + ' route(s)' if routes.ok else 'not answering'}"
            + (f", behind {stack.ssl.front}" if stack.ssl.front else ""))
        if stack.fenced:
            say(f"Fence:    {engine.fence(c, stack, 'check').stdout.strip() or 'not running'}")
        users = engine.user_servers(c, stack.project, env_stack.groups_current if env_stack else None)
        say(f"User servers: {len(users)}" + "".join(f"\n  {line}" for line in users))
    say(f"Hub health: {health.describe(stack)}")
    for ok, line in snapshots.status_lines(stack) + metrics.status_lines(c, stack):
        say(line if ok else f"warning: {line}")
    report = health.certificate_report(stack)
    if report:
        say(report)


def announce(c, root: Path, message: str, clear: bool) -> None:
    """`invoke announce`: conf/announcement.html, which the hub reads on every page."""
    if not clear and not message.strip():
        raise DeployError("Give the text: invoke announce --message 'Maintenance on Friday at 18:00'", code=2)
    path = root / "conf" / ANNOUNCEMENT_FILE
    if clear:
        changes.apply(c, f"remove conf/{ANNOUNCEMENT_FILE}", path.unlink, missing_ok=True)
        say("Announcement cleared.")
        return
    changes.apply(c, f"write conf/{ANNOUNCEMENT_FILE}", path.write_text, message.strip() + "\n", encoding="utf-8")
    say(f"Announcement set; users see it on their next page load: {message.strip()}")


def config(c, root: Path) -> None:
    """`invoke config`: the merged Compose configuration as data on standard output, secrets masked."""
    stack = resolve.for_change(c, root, needs_engine=False)
    engine.compose_command(c)  # needs no daemon
    print(health.mask_secrets(engine.compose_probe(c, stack, ["config"]).stdout, stack), end="")


def clean(c, root: Path, volumes: bool, remove_images: bool, yes: bool) -> None:
    """`invoke clean`: stop what runs, then remove its network, and its volumes and images when asked."""
    with state.locked(c, root, "clean"):
        stack = resolve.for_looking(c, root, "cleaning up").stack
        if stack.in_swarm:
            raise DeployError(f"The stack {stack.project} runs on Docker Swarm: run `invoke swarm-rm` first, "
                              "then `invoke clean`.", code=2)
        take_down(c, stack)
        deleted = remove(c, stack, volumes, remove_images, yes)
    say("Deleted: " + (", ".join(deleted) if deleted else "nothing") + ".")


def remove(c, stack: Stack, volumes: bool, remove_images: bool, yes: bool) -> list[str]:
    """After `stop`: the network; with `volumes` every volume (after asking); with `images` our images."""
    deleted = []
    network = stack.settings["DOCKER_NETWORK_NAME"]
    if engine.probe(c, ["docker", "network", "inspect", network]).ok:
        engine.run(c, ["docker", "network", "rm", network], hide="out")
        deleted.append(f"network {network}")
    if volumes:
        names = [v for v in stack.volumes if engine.probe(c, ["docker", "volume", "inspect", v]).ok]
        names += engine.user_volumes(c, stack)
        if names:
            changes.confirm(c, f"Delete {len(names)} volume(s) for good: {', '.join(names)}?", yes)
            engine.run(c, ["docker", "volume", "rm", *names], hide="out")
            deleted += [f"volume {name}" for name in names]
    if remove_images:
        for tag in (stack.settings[layer.tag_key] for layer in images.LAYERS):
            if engine.image_exists(c, tag):
                engine.run(c, ["docker", "image", "rm", tag], hide="out")
                deleted.append(f"image {tag}")
    return deleted
