"""jupyterhub-deploy: run JupyterHub on Docker with `invoke TASK`.

    invoke build     build the hub image and the three notebook layers
    invoke start     bring the hub up at https://localhost (runs setup first)
    invoke stop      stop the hub and every user container (volumes are kept)

`invoke --help TASK` explains each flag. All settings live in `.env`; what a
start resolved from it is saved in state/, and later tasks act on that.
Each task here is its docstring, its flags' help and one call into jhdeploy/,
where the logic lives.
"""

from __future__ import annotations

import functools
from pathlib import Path

from invoke import Collection, Exit
from invoke import task as invoke_task

from jhdeploy import (
    backup,
    build,
    database,
    diskspace,
    doctor,
    grouplist,
    images,
    lifecycle,
    metrics,
    passwords,
    restore,
    snapshots,
    swarm,
    usage,
)
from jhdeploy.errors import DeployError
from jhdeploy.resolve import INVALID

ROOT = Path(__file__).resolve().parent
TIMEOUT = 180  # seconds to wait for /hub/health, unless jhdeploy.timeout in invoke's configuration says
NO_CACHE_HELP = "Rebuild from scratch instead of using the build cache."
WITH_DEPS_HELP = "Also build the layers below this one first."
TIMEOUT_HELP = f"Seconds to wait for /hub/health before giving up; 0: the configured jhdeploy.timeout ({TIMEOUT})."
LE_HELP = ("Let's Encrypt: put Caddy in front for JH_FQDN, as JUPYTERHUB_SSL=use_ssl_le does, without "
           "editing .env. Remembered until `invoke stop`.")


def task(*args, **kwargs):
    """invoke's @task; the library's errors become one message and an exit code, never a traceback."""
    def decorate(body):
        @functools.wraps(body)
        def guarded(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except INVALID as error:
                raise Exit(f"Invalid configuration, nothing was changed:\n{error}", code=2) from None
            except DeployError as error:
                raise Exit(error.message, code=error.code) from None
        return invoke_task(guarded, **kwargs)
    return decorate(args[0]) if args and callable(args[0]) else decorate


def le_flags(le: bool) -> dict[str, str]:
    return {"JUPYTERHUB_SSL": "use_ssl_le"} if le else {}


def timeout_of(c, timeout: int) -> int:
    return timeout or c.config.jhdeploy.timeout


# --- Setting up and building ----------------------------------------------------------------

@task(name="setup")
def _setup(c):
    """Create .env, userlist, secrets and the self-signed certificate when missing."""
    lifecycle.setup(c, ROOT)


@task(name="build", help={"no-cache": NO_CACHE_HELP})
def _build(c, no_cache=False):
    """Build the hub image and the notebook layers base -> body -> image."""
    build.run(c, ROOT, list(images.LAYERS), no_cache)


def layer_task(layer: images.Layer):
    """The task that builds one layer of images.LAYERS (hub-image, notebook-base, ...)."""
    def build_layer(c, no_cache=False, with_deps=False):
        build.run(c, ROOT, images.up_to(layer) if with_deps else [layer], no_cache)

    build_layer.__doc__ = f"Build only the {layer.name} image: {layer.help}."
    build_layer.__name__ = layer.task.replace("-", "_")
    return task(name=layer.task, help={"no-cache": NO_CACHE_HELP, "with-deps": WITH_DEPS_HELP})(build_layer)


# --- Running the stack ------------------------------------------------------------------------

@task(help={
    "follow": "Tail the logs after the hub is up (Ctrl-C stops tailing, not the hub).",
    "timeout": TIMEOUT_HELP,
    "le": LE_HELP,
})
def start(c, follow=False, timeout=0, le=False):
    """Start the stack and wait until the hub answers /hub/health."""
    lifecycle.start(c, ROOT, le_flags(le), timeout_of(c, timeout), follow)


@task(help={"keep-servers": "Stop only the stack's services; users' servers keep running (without the hub, "
                             "nobody new logs in or starts a server until `invoke start`)."})
def stop(c, keep_servers=False):
    """Stop the stack and every user's server (users lose their connections); keep all volumes.

    Stops what `invoke start` recorded, even when .env is invalid now or names another project.
    """
    lifecycle.stop(c, ROOT, keep_servers)


@task(help={"timeout": TIMEOUT_HELP, "le": LE_HELP + " Otherwise the flags of the last start apply."})
def restart(c, timeout=0, le=False):
    """Apply edits to .env, userlist and conf/ by recreating the hub; users' servers keep running.

    Only the hub is recreated, with the flags of the last start, unless the proxy's
    (or Caddy's) own settings changed: then it is recreated too, after a warning,
    and users' open connections drop for a few seconds. No user's server is stopped.
    """
    lifecycle.restart(c, ROOT, le_flags(le), timeout_of(c, timeout))


@task(help={
    "service": "Only this service: jupyterhub, proxy, and caddy (Let's Encrypt) or postgres where they run.",
    "user": "A user's server instead: NAME, or NAME/SERVER for a named server.",
    "no-follow": "Print the logs so far and return.",
    "tail": "Lines of history to show per service.",
})
def logs(c, service="", user="", no_follow=False, tail="200"):
    """Follow the stack's logs, or one user's server's."""
    lifecycle.logs(c, ROOT, service, not no_follow, tail, user)


@task
def status(c):
    """Show containers, hub health, certificate, URL, and which Compose files and options apply.

    Shows what `invoke start` recorded, even when .env is invalid now (it says so) or names another project.
    """
    lifecycle.status(c, ROOT)


@task(name="doctor")
def _doctor(c):
    """Check everything a start needs: settings, Docker, Compose, ports, images, secrets, disk."""
    doctor.run(c, ROOT)


@task(help={
    "message": "The banner's text (HTML allowed), shown on every hub page.",
    "clear": "Remove the banner.",
})
def announce(c, message="", clear=False):
    """Show a banner on every hub page, or --clear it; no restart needed."""
    lifecycle.announce(c, ROOT, message, clear)


@task(help={"name": "The user name, as listed in userlist."})
def user_password(c, name):
    """Print the password that NAME logs in with (dummy_authenticator, hash_authenticator)."""
    passwords.show(c, ROOT, name)


@task(name="groups", help={"user": "Show what this user's next server gets, and which group each value comes "
                                    "from."})
def _groups(c, user=""):
    """List the groups, their members and what each sets (conf/groups.toml, userlist)."""
    grouplist.run(c, ROOT, user)


@task
def config(c):
    """Print the merged Compose configuration that `invoke start` would run.

    The configuration is data on standard output, with secrets masked; notes and warnings go to standard error.
    """
    lifecycle.config(c, ROOT)


# --- Data: backups, restores, the database, cleaning up -------------------------------------------

@task(name="backup", help={
    "no-secrets": "Leave secrets/ out (by default they go into a second owner-only archive) and blank every "
                  "secret in the archived .env.",
    "user-volumes": "Also archive every user's volume (can be large).",
    "keep": "Then remove this stack's oldest archives beyond this many (0: keep all).",
})
def _backup(c, no_secrets=False, user_volumes=False, keep=0):
    """Write a verified, timestamped backup archive (works while the hub runs)."""
    backup.run(c, ROOT, not no_secrets, user_volumes, keep)


@task(name="restore", help={
    "archive": "The backup archive (a .tar.gz written by `invoke backup`), or with --snapshot a snapshot.",
    "snapshot": "ARCHIVE names a restic snapshot instead: an ID from `invoke snapshots`, or latest.",
    "yes": "Do not ask before replacing .env, userlist, secrets, the database and user volumes.",
    "from-project": "The archive's own project name: restore under its names (its volumes, its "
                    "COMPOSE_PROJECT_NAME) instead of this stack's.",
})
def _restore(c, archive, snapshot=False, yes=False, from_project=""):
    """Check an archive (or a snapshot), say what it replaces, back up the current state, then restore into the
    stopped stack.

    An archive of another project is restored under this stack's name unless --from-project names it.
    """
    if snapshot:
        snapshots.restore_stack(c, ROOT, archive, yes, from_project)
    else:
        restore.run(c, ROOT, archive, yes, from_project)


@task
def backup_now(c):
    """Take a restic snapshot now (BACKUP_SCHEDULE), while users work; then apply BACKUP_RETENTION.

    Holds the database, .env, userlist, conf/, secrets/ and every user's files, each user's tagged.
    """
    snapshots.take_now(c, ROOT)


@task(name="snapshots", help={"user": "Only the snapshots that hold this user's files."})
def _snapshots(c, user=""):
    """List the restic snapshots: when, how much each added, whose files it holds."""
    snapshots.run(c, ROOT, "snapshots", ["list", "--user", user])


@task(help={
    "name": "The user whose files come back (their own server's and named servers' volumes).",
    "snapshot": "A snapshot ID from `invoke snapshots`, or latest.",
    "before": "The latest snapshot taken before this date or time (2026-12-01, or 2026-12-01T09:00; UTC).",
    "path": "Only this file or folder, relative to the user's home.",
    "replace": "Swap the whole volume for the snapshot's (only while the user's server is stopped; a snapshot "
               "of the current state is taken first).",
})
def restore_user(c, name, snapshot="latest", before="", path="", replace=False):
    """Bring back one user's files from a snapshot while everyone keeps working.

    By default into restored-<snapshot date>/ in the user's home, never over a newer file, whether or not
    their server runs.
    """
    snapshots.run(c, ROOT, "restore-user", ["restore-user", name, "--snapshot", snapshot, "--before", before,
                                            "--path", path, *(["--replace"] if replace else [])])


@task(help={"user": "Drill with this user's files (default: the first user of the latest snapshot)."})
def backup_check(c, user=""):
    """A restore drill: `restic check`, then one user's latest files restored aside and compared by sha256."""
    snapshots.run(c, ROOT, "backup-check", ["check", "--user", user])


@task(name="metrics", help={"query": "A PromQL expression to ask Prometheus, such as jupyterhub_running_servers; "
                                     "prints one series per line."})
def _metrics(c, query=""):
    """How to reach Prometheus (METRICS=yes), or with --query what it answers.

    On one host it listens on 127.0.0.1 only (an SSH tunnel brings it to your computer); on Swarm, nowhere.
    """
    metrics.show(c, ROOT, query)


@task(help={"test": "Send a test alert through every receiver (webhook, email) and say whether each took it."})
def alerts(c, test=False):
    """The alerts that fire now (METRICS=yes), from Alertmanager."""
    metrics.alerts(c, ROOT, test)


@task(name="usage", help={
    "since": "How far back: hours, days or weeks, such as 12h, 30d or 4w.",
    "html": "Also write one self-contained page with charts to this file.",
    "csv": "Also write one row per user to this CSV file (columns in README.md).",
    "disk": "Only disk use per user against their limit, largest first.",
    "scan": "Measure every user's files now instead of using the last scheduled scan.",
})
def _usage(c, since="30d", html="", csv="", disk=False, scan=False):
    """Who used the hub: per user days active, server hours, starts, median start time and disk use.

    Totals per group. Data come from the hub's log of starts and stops and the disk-scan service, and
    with METRICS=yes from Prometheus for the charts.
    """
    usage.run(c, ROOT, since, html, csv, disk, scan)


@task(help={"name": "The user (as in userlist) who may start a server once over their disk limit."})
def allow_start(c, name):
    """Let a user over their disk limit start a server once, to delete files; later starts are checked again."""
    diskspace.allow_start(c, ROOT, name)


@task
def upgrade_db(c):
    """Back up, then upgrade the hub database schema to this JupyterHub version.

    Runs in a one-off hub container while the stack is stopped, and prints the old and new schema revisions.
    """
    database.upgrade_task(c, ROOT)


@task(help={"to": "The target database; only `postgres` (the stack's PostgreSQL service)."})
def migrate_db(c, to="postgres"):
    """Copy the SQLite hub database into the stack's PostgreSQL service."""
    database.migrate_task(c, ROOT, to)


@task(help={
    "volumes": "Also delete the stack's volumes: the hub database, PostgreSQL data and every user volume.",
    "images": "Also delete the images that `invoke build` made.",
    "yes": "Do not ask before deleting volumes.",
})
def clean(c, volumes=False, images=False, yes=False):
    """Remove the stack's containers and network; --volumes deletes its data (asks first). On Swarm: after swarm-rm."""
    lifecycle.clean(c, ROOT, volumes, images, yes)


# --- More than one machine --------------------------------------------------------------------

@task(help={"timeout": TIMEOUT_HELP})
def swarm_deploy(c, timeout=0):
    """Deploy the stack to Docker Swarm: the same .env, Compose files plus compose/swarm.yml."""
    swarm.deploy_task(c, ROOT, timeout_of(c, timeout))


@task
def swarm_rm(c):
    """Remove the swarm stack, its jobs and the users' services; keep volumes and the network, and name them.

    Removes what `invoke swarm-deploy` recorded, even when .env is invalid now.
    """
    swarm.remove_task(c, ROOT)


@task
def push(c):
    """Push the hub and notebook images to REGISTRY, then check that every swarm node can pull them.

    Records each image's digest (state/hub/image-digests.json): swarm spawns name the digest, not the tag.
    Exits non-zero naming each node that cannot pull them, and the command to run once it is fixed.
    """
    swarm.push_task(c, ROOT)


@task
def prepull(c):
    """Pull the notebook images on every node that may run users' servers (swarm-deploy does it too).

    Includes every NOTEBOOK_IMAGES choice, so that no first spawn on a node waits for a pull.
    """
    swarm.prepull_task(c, ROOT)


ns = Collection(
    _setup, _build, *(layer_task(layer) for layer in images.LAYERS),
    start, stop, restart, logs, status, _doctor, user_password, _groups, announce, config,
    _backup, _restore, backup_now, _snapshots, restore_user, backup_check, _metrics, alerts, _usage, allow_start,
    upgrade_db, migrate_db,
    clean,
    swarm_deploy, swarm_rm, push, prepull,
)
ns.configure({"jhdeploy": {"timeout": TIMEOUT}})
