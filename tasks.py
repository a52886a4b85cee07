"""jupyterhub-deploy: run JupyterHub on Docker with `invoke TASK`.

    invoke build     build the hub image and the three notebook layers
    invoke start     bring the hub up at https://localhost (runs setup first)
    invoke stop      stop the hub and every user container (volumes are kept)

`invoke --help TASK` explains each flag. All settings live in `.env`.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

from invoke import Exit, task

from jhdeploy import backup as backups
from jhdeploy import build as builder
from jhdeploy import doctor as checkup  # the `doctor` task takes the plain name
from jhdeploy import engine, health, images, swarm, userlist
from jhdeploy import images as images_module  # `clean --images` shadows the name inside clean()
from jhdeploy import setup as first_run
from jhdeploy import stack as stack_module
from jhdeploy.layout import ANNOUNCEMENT_FILE, HUB_SERVICE, POSTGRES_SERVICE, image_ref
from jhdeploy.settings import SettingsError

ROOT = Path(__file__).resolve().parent
NO_CACHE_HELP = "Rebuild from scratch instead of using the build cache."
WITH_DEPS_HELP = "Also build the layers below this one first."


def load_stack(overrides: dict[str, str] | None = None, swarm_ok: bool = False) -> stack_module.Stack:
    """Create missing files, then validate .env and userlist before any Docker call."""
    for name in first_run.copy_templates(ROOT):
        print(f"Created {name} from its template.")
    try:
        stack = stack_module.load(ROOT, overrides)
        userlist.load(stack.userlist_file)
    except (SettingsError, userlist.UserlistError) as error:
        raise Exit(f"Invalid configuration, nothing was started:\n{error}", code=2) from None
    if stack.in_swarm and not swarm_ok:
        raise Exit("DEPLOY_MODE=swarm is for `invoke swarm-deploy` to set: remove it from .env.", code=2)
    for warning in stack.settings.warnings() + stack.warnings():
        print(warning)
    for name in first_run.ensure_runtime_files(stack):
        print(f"Created {name}.")
    return stack


def ready_engine(c) -> None:
    """Fail with one clear sentence when Docker or Compose v2 is missing."""
    engine.check_engine(c)
    engine.compose_command(c)


@task
def setup(c):
    """Create .env, userlist, secrets and the self-signed certificate when missing."""
    stack = load_stack()
    print(f"Settings in {stack.env_file.name} are valid. Secrets are in {stack.secrets_dir.name}/.")


def _build(c, layers, no_cache: bool) -> None:
    stack = load_stack()
    ready_engine(c)
    builder.check_parent(c, layers[0], stack.settings)
    started = time.monotonic()
    timings = builder.build_layers(c, stack.root, layers, stack.settings, no_cache)
    summary = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    print(f"\nBuilt {len(timings)} image(s) in {time.monotonic() - started:.0f} s ({summary}).")


@task(help={"no-cache": NO_CACHE_HELP})
def build(c, no_cache=False):
    """Build the hub image and the notebook layers base -> body -> image."""
    _build(c, list(images.LAYERS), no_cache)


def _layer_task(layer: images.Layer):
    def build_layer(c, no_cache=False, with_deps=False):
        _build(c, images.up_to(layer) if with_deps else [layer], no_cache)

    build_layer.__doc__ = f"Build only the {layer.name} image: {layer.help}."
    build_layer.__name__ = layer.task.replace("-", "_")
    return task(build_layer, name=layer.task, help={"no-cache": NO_CACHE_HELP, "with-deps": WITH_DEPS_HELP})


hub_image, notebook_base, notebook_body, notebook_image = (_layer_task(layer) for layer in images.LAYERS)


def _start(c, stack, timeout: int) -> None:
    ready_engine(c)
    problems = checkup.failed(checkup.fast(c, stack))
    if problems:
        raise Exit("Not starting:\n" + "\n".join(check.line() for check in problems)
                   + "\n`invoke doctor` checks everything.", code=1)
    missing = [stack.settings[k] for k in ("LOCAL_HUB_IMAGE", "LOCAL_NOTEBOOK_IMAGE")
               if not engine.image_exists(c, stack.settings[k])]
    if missing:
        raise Exit(f"Image(s) not built yet: {', '.join(missing)}. Run `invoke build` first.", code=1)
    started, since = time.monotonic(), datetime.datetime.now(datetime.timezone.utc)
    for created in engine.ensure_stack_resources(c, stack):
        print(f"Created {created}.")
    engine.compose(c, stack, ["up", "--detach", "--remove-orphans"])
    print(f"Waiting up to {timeout} s for {stack.local_url}hub/health ...", flush=True)
    health.wait_until_healthy(c, stack, timeout, since)
    print(f"\nJupyterHub is up after {time.monotonic() - started:.0f} s: {stack.url}")
    print(health.login_hint(stack))


LE_HELP = ("Let's Encrypt: put Caddy in front for JH_FQDN, as JUPYTERHUB_SSL=use_ssl_le does, "
           "without editing .env.")


def ssl_override(le: bool) -> dict[str, str] | None:
    return {"JUPYTERHUB_SSL": "use_ssl_le"} if le else None


@task(help={
    "follow": "Tail the logs after the hub is up (Ctrl-C stops tailing, not the hub).",
    "timeout": "Seconds to wait for /hub/health before giving up.",
    "le": LE_HELP,
})
def start(c, follow=False, timeout=180, le=False):
    """Start the stack and wait until the hub answers /hub/health."""
    stack = load_stack(ssl_override(le))
    _start(c, stack, timeout)
    if follow:
        engine.compose(c, stack, ["logs", "--follow"], warn=True)


def _stop(c, stack) -> None:
    ready_engine(c)
    started = time.monotonic()
    # The hub stops the servers it spawned when it shuts down...
    engine.compose(c, stack, ["stop"])
    # ...and whatever it could not stop goes here, found by our label.
    leftovers = engine.spawned_containers(c, stack.project)
    if leftovers:
        engine.run(c, ["docker", "rm", "--force", *leftovers], hide="out")
    # --remove-orphans: services of options no longer selected (the proxy after `start --le`).
    engine.compose(c, stack, ["down", "--remove-orphans"])
    print(f"Stopped in {time.monotonic() - started:.0f} s ({len(leftovers)} user container(s) removed). "
          "Volumes, the network and secrets are kept.")


@task
def stop(c):
    """Stop the hub and remove its containers and the user containers; keep all volumes."""
    _stop(c, load_stack())


@task(help={"timeout": "Seconds to wait for /hub/health before giving up.", "le": LE_HELP})
def restart(c, timeout=180, le=False):
    """Stop, then start: applies changes to .env, userlist and conf/."""
    stack = load_stack(ssl_override(le))
    _stop(c, stack)
    _start(c, stack, timeout)


@task(help={
    "service": f"Only this Compose service (for example {HUB_SERVICE}).",
    "no-follow": "Print the logs so far and return.",
    "tail": "Lines of history to show per service.",
})
def logs(c, service="", no_follow=False, tail="200"):
    """Follow the stack's logs."""
    stack = load_stack()
    ready_engine(c)
    args = ["logs", "--tail", str(tail)] + ([] if no_follow else ["--follow"]) + ([service] if service else [])
    engine.compose(c, stack, args, warn=True)


@task(help={"le": "The stack was started with --le."})
def status(c, le=False):
    """Show containers, hub health, certificate, URL, and which Compose files and options apply."""
    stack = load_stack(ssl_override(le))
    print(f"Project:  {stack.project}")
    print(f"URL:      {stack.url}")
    print(f"Files:    {' '.join(stack.compose_files)}")
    print("Options:  " + ", ".join(f"{k}={v}" for k, v in stack.options.items()))
    ready_engine(c)
    if swarm.is_deployed(c, stack.project):
        print("Mode:     Docker Swarm (invoke swarm-deploy)")
        engine.run(c, ["docker", "stack", "services", stack.project], echo=False)
        print(f"User services: {len(swarm.user_services(c, stack.project))}")
    else:
        engine.compose(c, stack, ["ps", "--all"], echo=False)
        print(f"User containers: {len(engine.spawned_containers(c, stack.project))}")
    print(f"Hub health: {health.describe(stack)}")
    report = health.certificate_report(stack)
    if report:
        print(report)


@task(help={"name": "The user name, as listed in userlist."})
def user_password(c, name):
    """Print the password that NAME types with hash_authenticator."""
    stack = load_stack()
    if stack.authenticator != "hash_authenticator":
        raise Exit(f"JUPYTERHUB_AUTHENTICATOR is {stack.authenticator}; user-password applies to "
                   "hash_authenticator only.", code=2)
    ready_engine(c)
    engine.ensure_stack_resources(c, stack)
    # Computed by the hub image's own hashauthenticator, with the key read inside the container.
    code = ("import sys; from hashauthenticator import generate_password_digest as g; "
            "print(g(sys.argv[1], open('/run/secrets/hash_secret_key').read().strip(), int(sys.argv[2])))")
    engine.compose(c, stack, ["run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", HUB_SERVICE,
                              "-c", code, name, stack.settings["HASH_PASSWORD_LENGTH"]], echo=False)


def confirm(question: str, yes: bool) -> None:
    """Ask before a step that replaces or deletes data; --yes answers for scripts."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Exit(f"{question}\nNothing was changed: run again with --yes to confirm.", code=1)
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise Exit("Nothing was changed.", code=1)


def require_stopped(c, stack, what: str) -> None:
    if engine.stack_containers(c, stack.project):
        raise Exit(f"The stack is running. Run `invoke stop` first, then `invoke {what}`.", code=1)


@task(help={
    "no-secrets": "Leave secrets/ out (by default they go into a second owner-only archive).",
    "user-volumes": "Also archive every user's volume (can be large).",
})
def backup(c, no_secrets=False, user_volumes=False):
    """Write a verified, timestamped backup archive (works while the hub runs)."""
    stack = load_stack()
    ready_engine(c)
    started = time.monotonic()
    print(f"Backing up {stack.project} into {stack.backup_dir}/ ...")
    archive = backups.create(c, stack, include_secrets=not no_secrets, include_user_volumes=user_volumes)
    size = archive.stat().st_size / 1e6
    print(f"✓ {archive} ({size:.1f} MB, checksums verified) in {time.monotonic() - started:.0f} s.")
    print(f"Restore it with: invoke restore {archive}")


@task(help={
    "archive": "The backup archive (a .tar.gz written by `invoke backup`).",
    "yes": "Do not ask before overwriting .env, userlist, secrets, the database and user volumes.",
})
def restore(c, archive, yes=False):
    """Restore a backup archive into the stopped stack (asks before overwriting)."""
    path = Path(archive).resolve()
    if not path.is_file():
        raise Exit(f"No archive at {archive}.", code=2)
    try:
        manifest = backups.read_verified(path)
    except backups.DamagedArchive as error:
        raise Exit(f"✗ Refusing to restore: {error}. Nothing was changed.", code=1) from None
    stack = load_stack()
    ready_engine(c)
    require_stopped(c, stack, f"restore {archive}")
    what = [".env", "userlist", f"the {manifest['database']} database"]
    what += ["secrets/"] if manifest["secrets_archive"] else []
    what += [f"{len(manifest['user_volumes'])} user volume(s)"] if manifest["user_volumes"] else []
    confirm(f"Restore {path.name} (made {manifest['created']}) over {', '.join(what)}?", yes)
    started = time.monotonic()
    stack = backups.restore(c, stack, path, reload_stack=load_stack)
    print(f"✓ Restored in {time.monotonic() - started:.0f} s. Start the hub with: invoke start")


@task(help={
    "volumes": "Also delete the stack's volumes: the hub database, PostgreSQL data and every user volume.",
    "images": "Also delete the images that `invoke build` made.",
    "yes": "Do not ask before deleting volumes.",
})
def clean(c, volumes=False, images=False, yes=False):
    """Remove the stack's containers and network; --volumes deletes its data (asks first)."""
    stack = load_stack()
    ready_engine(c)
    _stop(c, stack)
    deleted = []
    if engine.probe(c, ["docker", "network", "rm", stack.settings["DOCKER_NETWORK_NAME"]]).ok:
        deleted.append(f"network {stack.settings['DOCKER_NETWORK_NAME']}")
    if volumes:
        names = [v for v in stack.volumes if engine.probe(c, ["docker", "volume", "inspect", v]).ok]
        names += backups.user_volumes(c, stack)
        if names:
            confirm(f"Delete {len(names)} volume(s) for good: {', '.join(names)}?", yes)
            engine.run(c, ["docker", "volume", "rm", *names], hide="out")
            deleted += [f"volume {name}" for name in names]
    if images:
        for layer in images_module.LAYERS:
            tag = stack.settings[layer.tag_key]
            if engine.probe(c, ["docker", "image", "rm", tag]).ok:
                deleted.append(f"image {tag}")
    print("Deleted: " + (", ".join(deleted) if deleted else "nothing") + ".")


def schema_revision(c, stack) -> str:
    result = engine.compose(c, stack, ["run", "--rm", "-T", "--entrypoint", "python3", HUB_SERVICE,
                                       "-m", "jhdeploy.dbtools", "revision"], hide="both", echo=False)
    return result.stdout.strip().splitlines()[-1]


@task
def upgrade_db(c):
    """Back up, then upgrade the hub database schema to this JupyterHub version."""
    stack = load_stack()
    ready_engine(c)
    require_stopped(c, stack, "upgrade-db")
    engine.ensure_stack_resources(c, stack)
    archive = backups.create(c, stack)
    print(f"✓ Backup first: {archive}")
    before = schema_revision(c, stack)
    engine.compose(c, stack, ["run", "--rm", "-T", HUB_SERVICE, "jupyterhub", "upgrade-db",
                              "-f", "/srv/jupyterhub/conf/jupyterhub_config.py"])
    after = schema_revision(c, stack)
    if POSTGRES_SERVICE in engine.compose(c, stack, ["ps", "--services"], hide="both", echo=False).stdout:
        engine.compose(c, stack, ["stop"], hide="both", echo=False)
    change = f"{before} -> {after}" if before != after else f"already current ({after}); nothing changed"
    print(f"✓ Schema revision: {change}. Start the hub with: invoke start")


@task(help={"to": "The target database; only `postgres` (the stack's PostgreSQL service)."})
def migrate_db(c, to="postgres"):
    """Copy the SQLite hub database into the stack's PostgreSQL service."""
    if to != "postgres":
        raise Exit(f"--to {to!r}: only postgres is supported.", code=2)
    stack = load_stack()
    if stack.settings["JUPYTERHUB_DB_URL"] != "sqlite":
        raise Exit("JUPYTERHUB_DB_URL is not sqlite: there is no SQLite hub database to migrate.", code=2)
    ready_engine(c)
    require_stopped(c, stack, "migrate-db --to postgres")
    archive = backups.create(c, stack)
    print(f"✓ Backup first: {archive}")
    target = stack_module.load(ROOT, {"JUPYTERHUB_DB_URL": "postgres"})
    engine.ensure_stack_resources(c, target)
    backups.ensure_postgres(c, target)
    result = engine.compose(c, target, ["run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", HUB_SERVICE,
                                        "-m", "jhdeploy.dbtools", "migrate-to-postgres"], warn=True)
    engine.compose(c, target, ["stop"], hide="both", echo=False)
    if not result.ok:
        raise Exit("✗ Migration failed; the SQLite database is unchanged. See the messages above.", code=1)
    print("✓ Migrated. Now set JUPYTERHUB_DB_URL=postgres in .env and run `invoke start`. "
          "The SQLite file stays on the data volume, untouched.")


@task
def doctor(c):
    """Check everything a start needs: settings, Docker, Compose, ports, images, secrets, disk."""
    for name in first_run.copy_templates(ROOT):
        print(f"Created {name} from its template.")
    checks: list[checkup.Check] = []
    try:
        stack = stack_module.load(ROOT)
        userlist.load(stack.userlist_file)
        checks.append(checkup.Check(True, ".env and userlist are valid"))
    except (SettingsError, userlist.UserlistError) as error:
        stack = None
        problems = error.problems if isinstance(error, SettingsError) else [str(error)]
        checks += [checkup.Check(False, problem, "edit .env (see .env-template)") for problem in problems]
    if stack:
        checks += [checkup.Check(False, w, warning=True) for w in stack.settings.warnings() + stack.warnings()]
    checks += checkup.engine_checks(c)
    engine_ok = all(check.ok for check in checks[-2:])
    if stack:
        checks += checkup.secret_checks(stack)
        if engine_ok:
            checks += checkup.port_checks(c, stack) + checkup.image_checks(c, stack) + checkup.disk_checks(c)
        checks += checkup.dns_checks(stack)
    for check in checks:
        print(check.line())
    failures = checkup.failed(checks)
    if failures:
        raise Exit(f"\n{len(failures)} problem(s) to fix before `invoke start`.", code=1)
    print("\nReady: `invoke start` has what it needs.")



@task(help={
    "message": "The banner's text (HTML allowed), shown on every hub page.",
    "clear": "Remove the banner.",
})
def announce(c, message="", clear=False):
    """Show a banner on every hub page, or --clear it; no restart needed."""
    load_stack()
    path = ROOT / "conf" / ANNOUNCEMENT_FILE
    if clear:
        path.unlink(missing_ok=True)
        print("Announcement cleared.")
        return
    if not message.strip():
        raise Exit("Give the text: invoke announce --message 'Maintenance on Friday at 18:00'", code=2)
    path.write_text(message.strip() + "\n", encoding="utf-8")
    print(f"Announcement set; users see it on their next page load: {message.strip()}")


SWARM = {"DEPLOY_MODE": "swarm"}


@task(help={"timeout": "Seconds to wait for /hub/health before giving up."})
def swarm_deploy(c, timeout=300):
    """Deploy the stack to Docker Swarm: the same .env, Compose files plus compose/swarm.yml."""
    stack = load_stack(SWARM, swarm_ok=True)
    ready_engine(c)
    nodes = swarm.check_manager(c)
    for warning in swarm.image_warnings(c, stack, nodes):
        print(warning)
    started = time.monotonic()
    if swarm.ensure_overlay_network(c, stack):
        print(f"Created overlay network {stack.settings['DOCKER_NETWORK_NAME']}.")
    for created in engine.ensure_stack_resources(c, stack):
        print(f"Created {created}.")
    swarm.deploy(c, stack)
    print(f"Waiting up to {timeout} s for {stack.local_url}hub/health ...", flush=True)
    if not engine.wait_for(lambda: health.check(stack, timeout=3)[0], timeout, interval=2):
        engine.run(c, ["docker", "service", "logs", "--tail", "40", f"{stack.project}_{HUB_SERVICE}"], warn=True)
        raise Exit(f"✗ The hub did not answer within {timeout} s; its logs are above. "
                   "`docker stack ps --no-trunc " + stack.project + "` shows why tasks failed.", code=1)
    print(f"\nJupyterHub is up on {nodes} swarm node(s) after {time.monotonic() - started:.0f} s: {stack.url}")
    print(health.login_hint(stack))


@task
def swarm_rm(c):
    """Remove the swarm stack and the users' services; keep volumes and the network."""
    stack = load_stack(SWARM, swarm_ok=True)
    ready_engine(c)
    started = time.monotonic()
    removed = swarm.remove(c, stack)
    print(f"Removed stack {stack.project} and {removed} user service(s) in {time.monotonic() - started:.0f} s. "
          "Volumes and the network are kept.")


@task
def push(c):
    """Push the hub and notebook images to REGISTRY, so every swarm node can pull them."""
    stack = load_stack()
    if not stack.settings["REGISTRY"]:
        raise Exit("REGISTRY is empty: set it in .env (such as registry.example.org/team), then "
                   "`invoke build` and `invoke push`.", code=2)
    ready_engine(c)
    for key in ("LOCAL_HUB_IMAGE", "LOCAL_NOTEBOOK_IMAGE"):
        engine.run(c, ["docker", "push", image_ref(stack.settings, key)])


@task
def config(c):
    """Print the merged Compose configuration that `invoke start` would run."""
    stack = load_stack()
    engine.compose_command(c)  # needs no daemon
    result = engine.compose(c, stack, ["config"], hide="out", echo=False)
    print(health.mask_secrets(result.stdout, stack))
