"""jupyterhub-deploy: run JupyterHub on Docker with `invoke TASK`.

    invoke build     build the hub image and the three notebook layers
    invoke start     bring the hub up at https://localhost (runs setup first)
    invoke stop      stop the hub and every user container (volumes are kept)

`invoke --help TASK` explains each flag. All settings live in `.env`; what a
start resolved from it is saved in state/, and later tasks act on that.
The logic lives in jhdeploy/; this file only composes it.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from invoke import Collection, Exit
from invoke import task as invoke_task

from jhdeploy import (
    backup,
    build,
    changes,
    database,
    doctor,
    engine,
    health,
    images,
    lifecycle,
    passwords,
    restore,
    setup,
    state,
    swarm,
)
from jhdeploy.errors import DeployError
from jhdeploy.settings import SettingsError
from jhdeploy.stack import Stack, from_env, from_saved
from jhdeploy.userlist import UserlistError

ROOT = Path(__file__).resolve().parent
NO_CACHE_HELP = "Rebuild from scratch instead of using the build cache."
WITH_DEPS_HELP = "Also build the layers below this one first."
TIMEOUT_HELP = "Seconds to wait for /hub/health before giving up; 0: the configured jhdeploy.timeout (180)."
LE_HELP = ("Let's Encrypt: put Caddy in front for JH_FQDN, as JUPYTERHUB_SSL=use_ssl_le does, without "
           "editing .env. Remembered until `invoke stop`.")


def task(*args, **kwargs):
    """invoke's @task; the library's errors become one message and an exit code, never a traceback."""
    def decorate(body):
        @functools.wraps(body)
        def guarded(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except (SettingsError, UserlistError) as error:
                raise Exit(f"Invalid configuration, nothing was changed:\n{error}", code=2) from None
            except DeployError as error:
                raise Exit(error.message, code=error.code) from None
        return invoke_task(guarded, **kwargs)
    return decorate(args[0]) if args and callable(args[0]) else decorate


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve(c, flags: dict[str, str] | None = None, mode: str = "compose") -> Stack:
    """Create missing files (not on a dry run), then resolve .env and userlist, before any Docker call."""
    for name in setup.copy_templates(c, ROOT):
        warn(f"Created {name} from its template.")
    stack = from_env(ROOT, flags, mode=mode)
    for warning in stack.settings.warnings() + stack.warnings():
        warn(warning)
    for name in setup.ensure_runtime_files(c, stack):
        warn(f"Created {name}.")
    return stack


def running() -> Stack | None:
    """The stack that `invoke start` (or swarm-deploy) recorded, whatever .env says now."""
    saved = state.load(ROOT)
    return from_saved(ROOT, saved) if saved else None


def current(c) -> Stack:
    """What runs if anything does, else what .env describes."""
    return running() or resolve(c)


def ready_engine(c) -> None:
    """Fail with one clear sentence when Docker or Compose v2 is missing."""
    engine.check_engine(c)
    engine.compose_command(c)


def le_flags(le: bool) -> dict[str, str]:
    return {"JUPYTERHUB_SSL": "use_ssl_le"} if le else {}


def timeout_of(c, timeout: int) -> int:
    return timeout or c.config.jhdeploy.timeout


def confirm(question: str, yes: bool) -> None:
    """Ask before a step that replaces or deletes data; --yes answers for scripts."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Exit(f"{question}\nNothing was changed: run again with --yes to confirm.", code=1)
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise Exit("Nothing was changed.", code=1)


# --- Setting up and building ----------------------------------------------------------------

@task(name="setup")
def _setup(c):
    """Create .env, userlist, secrets and the self-signed certificate when missing."""
    resolved = resolve(c)
    print(f"Settings in {resolved.env_file.name} are valid. Secrets are in {resolved.secrets_dir.name}/ "
          f"(owner-only).\n{resolved.login_hint}")


def build_layers(c, layers, no_cache: bool) -> None:
    resolved = resolve(c)
    ready_engine(c)
    build.check_parent(c, layers[0], resolved.settings)
    timings, seconds = build.build_layers(c, resolved.root, layers, resolved.settings, no_cache)
    summary = ", ".join(f"{name} {took:.0f} s" for name, took in timings.items())
    print(f"\nBuilt {len(timings)} image(s) in {seconds:.0f} s ({summary}).")


@task(name="build", help={"no-cache": NO_CACHE_HELP})
def _build(c, no_cache=False):
    """Build the hub image and the notebook layers base -> body -> image."""
    build_layers(c, list(images.LAYERS), no_cache)


def _layer_task(layer: images.Layer):
    def build_layer(c, no_cache=False, with_deps=False):
        build_layers(c, images.up_to(layer) if with_deps else [layer], no_cache)

    build_layer.__doc__ = f"Build only the {layer.name} image: {layer.help}."
    build_layer.__name__ = layer.task.replace("-", "_")
    return task(name=layer.task, help={"no-cache": NO_CACHE_HELP, "with-deps": WITH_DEPS_HELP})(build_layer)


hub_image, proxy_image, notebook_base, notebook_body, notebook_image = (_layer_task(layer) for layer in images.LAYERS)


# --- Running the stack ------------------------------------------------------------------------

@task(help={
    "follow": "Tail the logs after the hub is up (Ctrl-C stops tailing, not the hub).",
    "timeout": TIMEOUT_HELP,
    "le": LE_HELP,
})
def start(c, follow=False, timeout=0, le=False):
    """Start the stack and wait until the hub answers /hub/health."""
    with state.locked(c, ROOT, "start"):
        stack = resolve(c, le_flags(le))
        ready_engine(c)
        before = running()
        if before and before.project != stack.project:
            raise DeployError(f"The stack {before.project!r} still runs from this folder, and .env now names "
                              f"{stack.project!r}. Run `invoke stop` first.")
        lifecycle.start(c, stack, timeout_of(c, timeout))
    if follow:
        lifecycle.logs(c, stack, "", follow=True, tail="0")


@task(help={"keep-servers": "Stop only the stack's services; users' servers keep running (without the hub, "
                             "nobody new logs in or starts a server until `invoke start`)."})
def stop(c, keep_servers=False):
    """Stop the stack and every user's server (users lose their connections); keep all volumes."""
    with state.locked(c, ROOT, "stop"):
        stack = current(c)
        ready_engine(c)
        lifecycle.stop(c, stack, env_project=from_env(ROOT).project if running() else None,
                       keep_servers=keep_servers)


@task(help={"timeout": TIMEOUT_HELP, "le": LE_HELP + " Otherwise the flags of the last start apply."})
def restart(c, timeout=0, le=False):
    """Apply edits to .env, userlist and conf/ by recreating the hub; users' servers keep running.

    Only the hub is recreated, with the flags of the last start, unless the proxy's
    (or Caddy's) own settings changed: then it is recreated too, after a warning,
    and users' open connections drop for a few seconds. No user's server is stopped.
    """
    with state.locked(c, ROOT, "restart"):
        before = running()
        stack = resolve(c, {**(before.settings.overrides if before else {}), **le_flags(le)})
        ready_engine(c)
        lifecycle.restart(c, stack, before, timeout_of(c, timeout))


@task(help={
    "service": "Only this service: jupyterhub, proxy, and caddy (Let's Encrypt) or postgres where they run.",
    "user": "A user's server instead: NAME, or NAME/SERVER for a named server.",
    "no-follow": "Print the logs so far and return.",
    "tail": "Lines of history to show per service.",
})
def logs(c, service="", user="", no_follow=False, tail="200"):
    """Follow the stack's logs, or one user's server's."""
    stack = current(c)
    ready_engine(c)
    lifecycle.logs(c, stack, service, follow=not no_follow, tail=tail, user=user)


@task
def status(c):
    """Show containers, hub health, certificate, URL, and which Compose files and options apply."""
    stack = current(c)
    ready_engine(c)
    lifecycle.status(c, stack, saved=state.load(ROOT), env_stack=from_env(ROOT))


@task(name="doctor")
def _doctor(c):
    """Check everything a start needs: settings, Docker, Compose, ports, images, secrets, disk."""
    for name in setup.copy_templates(c, ROOT):
        warn(f"Created {name} from its template.")
    checks = doctor.everything(c, ROOT, running())
    for check in checks:
        print(check.line())
    failures = doctor.failed(checks)
    if failures:
        raise Exit(f"\n{len(failures)} problem(s) to fix before `invoke start`.", code=1)
    print("\nReady: `invoke start` has what it needs.")


@task(help={"name": "The user name, as listed in userlist."})
def user_password(c, name):
    """Print the password that NAME logs in with (dummy_authenticator, hash_authenticator)."""
    stack = resolve(c)
    ready_engine(c)
    print(passwords.of(c, stack, name))


@task(help={
    "message": "The banner's text (HTML allowed), shown on every hub page.",
    "clear": "Remove the banner.",
})
def announce(c, message="", clear=False):
    """Show a banner on every hub page, or --clear it; no restart needed."""
    if not clear and not message.strip():
        raise Exit("Give the text: invoke announce --message 'Maintenance on Friday at 18:00'", code=2)
    print(lifecycle.announce(c, ROOT, "" if clear else message))


@task
def config(c):
    """Print the merged Compose configuration that `invoke start` would run."""
    stack = resolve(c)
    engine.compose_command(c)  # needs no daemon
    print(health.mask_secrets(engine.compose_probe(c, stack, ["config"]).stdout, stack), end="")


# --- Data: backups, restores, the database, cleaning up -------------------------------------------

@task(name="backup", help={
    "no-secrets": "Leave secrets/ out (by default they go into a second owner-only archive) and blank every "
                  "secret in the archived .env.",
    "user-volumes": "Also archive every user's volume (can be large).",
    "keep": "Then remove this stack's oldest archives beyond this many (0: keep all).",
})
def _backup(c, no_secrets=False, user_volumes=False, keep=0):
    """Write a verified, timestamped backup archive (works while the hub runs)."""
    stack = current(c)
    ready_engine(c)
    # What runs is backed up, into the BACKUP_DIR that .env names now.
    directory = resolve(c).backup_dir
    print(f"Backing up {stack.project} into {directory}/ ...")
    archive, seconds = backup.create(c, stack, include_secrets=not no_secrets, include_user_volumes=user_volumes,
                                     keep=keep, directory=directory)
    if archive:
        print(f"✓ {archive} ({archive.stat().st_size / 1e6:.1f} MB, checksums verified) in {seconds:.0f} s.")
        print(f"Restore it with: invoke restore {archive}")


@task(name="restore", help={
    "archive": "The backup archive (a .tar.gz written by `invoke backup`).",
    "yes": "Do not ask before replacing .env, userlist, secrets, the database and user volumes.",
})
def _restore(c, archive, yes=False):
    """Check an archive, say what it replaces, back up the current state, then restore into the stopped stack."""
    path = Path(archive).resolve()
    if not path.is_file():
        raise Exit(f"No archive at {archive}.", code=2)
    stack = resolve(c)
    ready_engine(c)
    content = restore.staging_for(path)
    try:
        checked = restore.plan(stack, path, content)  # a damaged archive is refused even while the hub runs
        print(f"{path.name} is whole. Restoring it replaces:\n  " + "\n  ".join(checked.changes))
        database.require_stopped(c, stack, f"restore {archive}")
        if changes.dry(c):
            print("[dry] would back up the current state, then restore all of this")
            return
        confirm(f"Restore {path.name} over all of this? (The current state is backed up first.)", yes)
        undo, seconds = restore.apply(c, stack, checked)
    finally:
        restore.cleanup(content)
    print(f"✓ Restored in {seconds:.0f} s. Start the hub with: invoke start")
    if undo:
        print(f"To undo this restore: invoke restore {undo} --yes")


@task
def upgrade_db(c):
    """Back up, then upgrade the hub database schema to this JupyterHub version."""
    with state.locked(c, ROOT, "upgrade-db"):
        stack = resolve(c)
        ready_engine(c)
        database.upgrade(c, stack)


@task(help={"to": "The target database; only `postgres` (the stack's PostgreSQL service)."})
def migrate_db(c, to="postgres"):
    """Copy the SQLite hub database into the stack's PostgreSQL service."""
    if to != "postgres":
        raise Exit(f"--to {to!r}: only postgres is supported.", code=2)
    with state.locked(c, ROOT, "migrate-db"):
        stack = resolve(c)
        ready_engine(c)
        database.migrate_to_postgres(c, stack, target=resolve(c, {"JUPYTERHUB_DB_URL": "postgres"}))


@task(help={
    "volumes": "Also delete the stack's volumes: the hub database, PostgreSQL data and every user volume.",
    "images": "Also delete the images that `invoke build` made.",
    "yes": "Do not ask before deleting volumes.",
})
def clean(c, volumes=False, images=False, yes=False):
    """Remove the stack's containers and network; --volumes deletes its data (asks first)."""
    with state.locked(c, ROOT, "clean"):
        stack = current(c)
        ready_engine(c)
        lifecycle.stop(c, stack)
        deleted = lifecycle.clean(c, stack, volumes, images,
                                  lambda question: None if changes.dry(c) else confirm(question, yes))
    print("Deleted: " + (", ".join(deleted) if deleted else "nothing") + ".")


# --- More than one machine --------------------------------------------------------------------

@task(help={"timeout": TIMEOUT_HELP})
def swarm_deploy(c, timeout=0):
    """Deploy the stack to Docker Swarm: the same .env, Compose files plus compose/swarm.yml."""
    with state.locked(c, ROOT, "swarm-deploy"):
        stack = resolve(c, mode="swarm")
        ready_engine(c)
        swarm.deploy_and_wait(c, stack, timeout_of(c, timeout))


@task
def swarm_rm(c):
    """Remove the swarm stack and the users' services; keep volumes and the network."""
    with state.locked(c, ROOT, "swarm-rm"):
        stack = running() or resolve(c, mode="swarm")
        ready_engine(c)
        removed, seconds = swarm.remove(c, stack)
    print(f"Removed stack {stack.project} and {removed} user service(s) in {seconds:.0f} s. "
          "Volumes and the network are kept.")


def fail_on(problems: list[str]) -> None:
    if problems:
        raise Exit("\n".join(problems), code=1)


@task
def push(c):
    """Push the hub and notebook images to REGISTRY, then check that every swarm node can pull them."""
    stack = resolve(c)
    ready_engine(c)
    fail_on(swarm.push(c, stack))


@task
def prepull(c):
    """Pull the notebook images on every node that may run users' servers (swarm-deploy does it too)."""
    stack = running() or resolve(c, mode="swarm")
    ready_engine(c)
    swarm.check_manager(c)
    fail_on(swarm.prepull(c, stack))


ns = Collection(
    _setup, _build, hub_image, proxy_image, notebook_base, notebook_body, notebook_image,
    start, stop, restart, logs, status, _doctor, user_password, announce, config,
    _backup, _restore, upgrade_db, migrate_db, clean,
    swarm_deploy, swarm_rm, push, prepull,
)
ns.configure({"jhdeploy": {"timeout": 180}})
