"""Encrypted, incremental snapshots with restic: the backup service, and the tasks' one-off runs.

    python3 -m jhdeploy_hub.snapshots schedule     the backup service: a snapshot at each scheduled time
    python3 -m jhdeploy_hub.snapshots now          one snapshot, then the retention rules (`invoke backup-now`)
    python3 -m jhdeploy_hub.snapshots list [--user NAME]
    python3 -m jhdeploy_hub.snapshots restore-user NAME [--snapshot ID] [--before DATE] [--path PATH] [--replace]
    python3 -m jhdeploy_hub.snapshots check [--user NAME]
    python3 -m jhdeploy_hub.snapshots export VOLUME [--snapshot ID] [--before DATE]   for `invoke restore --snapshot`

One snapshot holds /stack (the database dump, .env, userlist, conf/, secrets/) and
/users/VOLUME for every user's volume and group folder's (or /users with USER_STORAGE_PATH),
tagged `user=NAME` for each user in it. Users' volumes come and go, so the work runs in containers of the restic
image started for each step, which mount what that step needs; this process talks
to Docker and never to the network. What to do comes in SNAPSHOT_PLAN (decided by
the tasks, jhdeploy/stack.py: host paths, names, rules, no secret). The outcome of
each snapshot goes to status.json, which `invoke status` and `doctor` read.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from jhdeploy_hub import contract, diskuse, schedule, textfile

STATE = Path(contract.SNAPSHOT_STATE)  # the host's state/backup/, mounted read-write
STATUS = STATE / "status.json"
STAGING = STATE / "staging"  # the database dump, for the snapshot's /stack/database
LABEL = "org.jhdeploy.snapshot"  # on every restic container, with the project: leftovers can be found
WRONG_PASSWORD, NO_REPOSITORY = 12, 10  # restic's exit codes


class SnapshotError(Exception):
    """One sentence for the admin."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def say(message: str) -> None:
    print(message, flush=True)


# --- restic in a container ----------------------------------------------------------------------

class Restic:
    """Runs restic in throwaway containers of the plan's image, with the repository and its credentials."""

    def __init__(self, plan: dict):
        import docker  # DockerSpawner's dependency, in the hub image

        self.plan = plan
        self.client = docker.from_env()

    def mounts(self, extra: dict[str, tuple[str, str]] | None = None) -> list:
        """Docker mounts: the credentials, the repository and restic's cache, then `extra` (source: (path,
        mode)). A list, since one file may be mounted twice (a key is also in the snapshot's secrets/)."""
        from docker.types import Mount

        wanted = [(path, inside, "ro") for path, inside in self.plan["credentials"].items()]
        if self.plan["repository_host"]:
            wanted.append((self.plan["repository_host"], "/repository", "rw"))
        wanted.append((self.plan["cache_volume"], "/cache", "rw"))
        wanted += [(source, inside, mode) for source, (inside, mode) in (extra or {}).items()]
        return [Mount(inside, source, type="bind" if source.startswith("/") else "volume", read_only=mode == "ro")
                for source, inside, mode in wanted]

    def run(self, args: list[str], extra: dict[str, tuple[str, str]] | None = None, entrypoint: str = "",
            ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        """Run `restic ARGS` (or `entrypoint ARGS`); returns the exit code and standard output. Any code not
        in `ok` raises SnapshotError with restic's own last line."""
        environment = {"RESTIC_REPOSITORY": self.plan["repository"], "RESTIC_CACHE_DIR": "/cache",
                       "RESTIC_PASSWORD_FILE": "/run/secrets/restic_password"}
        container = self.client.containers.create(
            self.plan["image"], args, entrypoint=entrypoint or None, environment=environment,
            mounts=self.mounts(extra), labels={LABEL: self.plan["project"]}, network_mode="bridge")
        try:
            container.start()
            code = container.wait()["StatusCode"]
            out = container.logs(stdout=True, stderr=False).decode(errors="replace")
            err = container.logs(stdout=False, stderr=True).decode(errors="replace").strip()
        finally:
            container.remove(force=True)
        if code == WRONG_PASSWORD:
            raise SnapshotError(f"the repository {self.plan['repository_shown']} does not open with "
                                "secrets/restic_password: wrong password (restore the file from your safe copy)")
        if code not in ok:
            last = err.splitlines()[-1] if err else f"exit code {code}"
            raise SnapshotError(f"`restic {' '.join(args[:2])}` failed: {last}")
        return code, out

    def json(self, args: list[str], **kwargs):
        return json.loads(self.run([*args, "--json"], **kwargs)[1] or "null")

    def ensure_repository(self) -> None:
        """The repository, created on first use; what an interrupted run left is cleared: its stopped
        containers, and restic's stale locks (`unlock` keeps a live one)."""
        for leftover in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.plan['project']}",
                                                                        "status": "exited"}):
            leftover.remove(force=True)
        code, _ = self.run(["cat", "config"], ok=(0, NO_REPOSITORY))
        if code == NO_REPOSITORY:
            say(f"  creating the repository {self.plan['repository_shown']}")
            self.run(["init"])
        else:
            self.run(["unlock"])

    def snapshots(self, user: str = "") -> list[dict]:
        """This stack's snapshots, oldest first (of one user's, when named)."""
        args = ["snapshots", "--host", self.plan["project"]] + (["--tag", f"user={user}"] if user else [])
        return sorted(self.json(args) or [], key=lambda snap: snap["time"])


# --- what a snapshot holds -------------------------------------------------------------------------

def user_of(folder: str, plan: dict) -> tuple[str, str]:
    """(user, server) of a volume (PREFIX-user-NAME--SERVER) or a folder under USER_STORAGE_PATH."""
    name = folder.removeprefix(plan["user_prefix"]) if not plan["user_storage"] else folder
    user, _, server = name.partition("--")
    return user, server


def user_folders(restic: Restic) -> dict[str, tuple[str, str]]:
    """Every user's data, and the group folders': host source -> (its path in the snapshot, mode), by volume
    or folder."""
    plan = restic.plan
    if plan["user_storage"]:
        return {plan["user_storage"]: ("/users", "ro")}
    names = sorted(v.name for prefix in (plan["user_prefix"], plan["group_prefix"])
                   for v in restic.client.volumes.list(filters={"name": prefix}) if v.name.startswith(prefix))
    return {name: (f"/users/{name}", "ro") for name in names}


def is_users(name: str, plan: dict) -> bool:
    """A user's folder (not a group folder) of /users."""
    return name != contract.GROUP_FOLDERS if plan["user_storage"] else name.startswith(plan["user_prefix"])


def users_in(restic: Restic, folders: dict[str, tuple[str, str]]) -> list[str]:
    if restic.plan["user_storage"]:
        storage = Path(restic.plan["user_storage"])
        names = [p.name for p in storage.iterdir() if p.is_dir()] if storage.is_dir() else []
    else:
        names = list(folders)
    return sorted({user_of(name, restic.plan)[0] for name in names if is_users(name, restic.plan)})


def dump_database(restic: Restic) -> None:
    """A consistent copy of the hub database into STAGING (nothing when it does not exist yet)."""
    database = restic.plan["database"]
    shutil.rmtree(STAGING, ignore_errors=True)
    STAGING.mkdir(mode=0o700, parents=True)
    if database["dump"] == "sqlite":
        if not Path(database["path"]).exists():
            say("  no database yet (the hub has never started)")
            return
        source = sqlite3.connect(f"file:{database['path']}?mode=ro", uri=True)
        copy = sqlite3.connect(STAGING / "jupyterhub.sqlite")
        with contextlib.closing(source), contextlib.closing(copy):
            source.backup(copy)  # SQLite's online backup: consistent while the hub writes
    elif database["dump"] == "pg_dump":
        found = restic.client.containers.list(filters={"label": [
            f"com.docker.compose.project={restic.plan['project']}",
            f"com.docker.compose.service={database['service']}"]})
        if not found:
            raise SnapshotError("PostgreSQL is not running, so its database cannot be dumped: `invoke start`")
        result = found[0].exec_run(["pg_dump", "--format=custom", "--username", database["user"], database["db"]],
                                   demux=True)
        if result.exit_code:
            raise SnapshotError(f"pg_dump failed: {(result.output[1] or b'').decode(errors='replace').strip()}")
        (STAGING / "jupyterhub.pgdump").write_bytes(result.output[0] or b"")
    else:
        say("  the database is external (JUPYTERHUB_DB_URL is a URL): back it up with its own tools")


def take(restic: Restic, why: str) -> dict:
    """One snapshot of the whole stack, then the retention rules; returns restic's summary."""
    plan = restic.plan
    started = time.monotonic()
    restic.ensure_repository()
    dump_database(restic)
    folders = user_folders(restic)
    users = users_in(restic, folders)
    say(f"  snapshot of the database, .env, userlist, conf/, secrets/ and {len(users)} user(s)' files ({why})")
    stack = {plan["staging_host"]: ("/stack/database", "ro"),
             **{host: (f"/stack/{inside}", "ro") for host, inside in plan["stack_files"].items()}}
    tags = ["--tag", "jhdeploy"] + [arg for user in users for arg in ("--tag", f"user={user}")]
    _, out = restic.run(["backup", "--json", "--quiet", "--host", plan["project"], *tags, "/stack",
                         *(["/users"] if folders else [])], extra={**stack, **folders}, ok=(0, 3))
    summary = json.loads(out.strip().splitlines()[-1])
    say(f"  snapshot {summary['snapshot_id'][:8]}: {summary.get('data_added', 0) / 1e6:.1f} MB added, "
        f"{summary.get('total_files_processed', 0)} files, in {time.monotonic() - started:.0f} s")
    forget(restic)
    shutil.rmtree(STAGING, ignore_errors=True)
    return summary


def forget(restic: Restic) -> None:
    """Apply BACKUP_RETENTION to this stack's snapshots and prune what no snapshot keeps."""
    kept = restic.json(["forget", "--host", restic.plan["project"], "--group-by", "host",
                        *restic.plan["retention"]])
    removed = sum(len(group.get("remove") or []) for group in kept or [])
    if removed:
        restic.run(["prune", "--quiet"])
        say(f"  retention ({' '.join(restic.plan['retention'])}): removed {removed} older snapshot(s), pruned")


# --- the record of the last snapshots -----------------------------------------------------------

def record(outcome: dict) -> None:
    try:
        status = json.loads(STATUS.read_text())
    except (OSError, ValueError):  # none yet, or damaged: this outcome starts it again
        status = {}
    status = status if isinstance(status, dict) else {}
    status.update(outcome)
    temporary = STATUS.with_suffix(".tmp")
    temporary.write_text(json.dumps(status, indent=2))
    os.replace(temporary, STATUS)


@contextlib.contextmanager
def one_at_a_time():
    """Snapshots of one stack run one after the other: the schedule's and `invoke backup-now`'s."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def snapshot_now(restic: Restic, why: str) -> None:
    with one_at_a_time():
        try:
            summary = take(restic, why)
        except Exception as error:  # recorded for `invoke status`, then said
            record({"last_failure": {"at": utcnow().isoformat(timespec="seconds"), "error": str(error)}})
            raise SnapshotError(str(error)) from None
        record({"last_success": utcnow().isoformat(timespec="seconds"), "last_snapshot": summary["snapshot_id"],
                "last_failure": None})


def check_reserve(state: Path = Path(contract.DISK_STATE)) -> None:
    """A scheduled snapshot does not begin below DISK_RESERVE (the disk-scan service's figures, mounted
    read-only); recorded as a failure, so that `invoke status` and the SnapshotsMissed alert say it."""
    usage = diskuse.read_usage(state)
    if usage.get("free") is not None and usage["free"] < usage.get("reserve", 0):
        error = (f"only {contract.human_size(usage['free'])} free where Docker keeps volumes, below DISK_RESERVE "
                 f"({contract.human_size(usage['reserve'])}): free some space")
        record({"last_failure": {"at": utcnow().isoformat(timespec="seconds"), "error": error}})
        raise SnapshotError(error)


def run_schedule(restic: Restic) -> None:
    """Wait for each scheduled time (in UTC) and take a snapshot; a failed one is recorded, never fatal."""
    cron = restic.plan["schedule"]
    if not cron:
        say("backup service: BACKUP_SCHEDULE=manual, so snapshots are taken only by `invoke backup-now`")
        while True:
            time.sleep(3600)
    say(f"backup service: snapshots at '{cron}' (UTC) into {restic.plan['repository_shown']}")
    started = utcnow()
    while True:
        report(cron, started)
        due = schedule.next_time(cron, utcnow().replace(tzinfo=None))
        while (wait := (due - utcnow().replace(tzinfo=None)).total_seconds()) > 0:
            time.sleep(min(wait, 60))
        try:
            check_reserve()
            snapshot_now(restic, f"scheduled for {due:%H:%M} UTC")
        except SnapshotError as error:
            say(f"✗ snapshot failed: {error}")


def report(cron: str, started: datetime.datetime) -> None:
    """For the metrics add-on's SnapshotsMissed alert: the last success, and the time by which the two
    scheduled snapshots after it (or after this service started) will have been missed, with an hour for
    the second one to finish."""
    try:
        last = datetime.datetime.fromisoformat(json.loads(STATUS.read_text())["last_success"])
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or a damaged status file
        last = None
    since = (last or started).astimezone(datetime.timezone.utc).replace(tzinfo=None)
    second = schedule.next_time(cron, schedule.next_time(cron, since))
    deadline = second.replace(tzinfo=datetime.timezone.utc) + datetime.timedelta(hours=1)
    textfile.write("snapshots", {
        "jhdeploy_snapshot_last_success_timestamp_seconds": (last.timestamp() if last else 0,
                                                             "When the last snapshot succeeded (0: never)."),
        "jhdeploy_snapshot_deadline_timestamp_seconds": (deadline.timestamp(),
                                                         "After this, two scheduled snapshots were missed."),
    })


# --- listing and bringing back ------------------------------------------------------------------

def users_of(snap: dict) -> list[str]:
    return sorted(tag.removeprefix("user=") for tag in snap.get("tags") or [] if tag.startswith("user="))


def list_snapshots(restic: Restic, user: str) -> None:
    snaps = restic.snapshots(user)
    if not snaps:
        say("No snapshots yet" + (f" with {user}'s files." if user else ". Take one with `invoke backup-now`."))
        return
    say(f"{'ID':10}{'TAKEN (UTC)':22}{'ADDED':>10}  USERS")
    for snap in snaps:
        added = (snap.get("summary") or {}).get("data_added", 0)
        names = users_of(snap)
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        say(f"{snap['short_id']:10}{snap['time'][:19].replace('T', ' '):22}{added / 1e6:>8.1f}MB  {shown}")


def choose(restic: Restic, user: str, wanted: str, before: str) -> dict:
    snaps = restic.snapshots(user)
    if before:
        limit = datetime.datetime.fromisoformat(before)
        limit = limit if limit.tzinfo else limit.replace(tzinfo=datetime.timezone.utc)
        snaps = [s for s in snaps if datetime.datetime.fromisoformat(s["time"].replace("Z", "+00:00")) < limit]
    if wanted not in ("", "latest"):
        snaps = [s for s in snaps if s["id"].startswith(wanted) or s["short_id"] == wanted]
    if not snaps:
        what = f"with {user}'s files" if user else "of this stack"
        listing = f"invoke snapshots --user {user}" if user else "invoke snapshots"
        raise SnapshotError(f"no snapshot {what}" + (f" is {wanted!r}" if wanted not in ("", "latest") else "")
                            + (f" before {before}" if before else "") + f": `{listing}` lists them")
    return snaps[-1]


def folders_of(restic: Restic, snap: dict, user: str) -> list[str]:
    """The user's folders under /users in a snapshot (their own volume and their named servers')."""
    nodes = [json.loads(line) for line in restic.run(["ls", "--json", snap["id"], "/users"])[1].splitlines()[1:]
             if line.strip()]
    tops = {node["path"].split("/")[2] for node in nodes if node.get("path", "").count("/") == 2}
    return sorted(name for name in tops if is_users(name, restic.plan) and user_of(name, restic.plan)[0] == user)


def running_servers(restic: Restic, user: str) -> list[str]:
    return [c.name for c in restic.client.containers.list(filters={"label": [
        f"{contract.STACK_LABEL}={restic.plan['project']}", f"{contract.USER_LABEL}={user}"]})]


def target_of(restic: Restic, folder: str) -> str:
    """Where a snapshot's /users/FOLDER lives on this host: its volume, or its folder."""
    storage = restic.plan["user_storage"]
    return f"{storage}/{folder}" if storage else folder


def restore_user(restic: Restic, user: str, wanted: str, before: str, path: str, replace: bool) -> None:
    snap = choose(restic, user, wanted, before)
    folders = folders_of(restic, snap, user)
    if not folders:
        raise SnapshotError(f"snapshot {snap['short_id']} is tagged with {user} but holds none of their folders")
    path = path.strip("/")
    if replace:
        running = running_servers(restic, user)
        if running:
            raise SnapshotError(f"{user}'s server is running ({', '.join(running)}): --replace swaps the whole "
                                f"volume, so stop it first (hub admin page, or the user's File > Hub Control Panel)")
        say("Taking a snapshot of the current state first, so that this can be undone ...")
        snapshot_now(restic, f"before replacing {user}'s files")
    stamp = snap["time"][:19].replace("-", "").replace(":", "").replace("T", "-")
    owner = "{}:{}".format(*restic.plan["owner"])
    for folder in folders:
        source = f"{snap['id']}:/users/{folder}" + (f"/{path}" if path else "")
        if replace:
            into, args = "/target", ["--overwrite", "always", "--delete"]
        else:
            into, args = f"/target/restored-{stamp}" + (f"/{path}" if path else ""), ["--overwrite", "if-newer"]
        restic.run(["restore", source, "--target", into, *args], extra={target_of(restic, folder): ("/target", "rw")})
        if not replace:  # restic made the folder as root; the user must be able to tidy it up
            restic.run([owner, f"/target/restored-{stamp}"], extra={target_of(restic, folder): ("/target", "rw")},
                       entrypoint="chown")
        where = "replaced" if replace else f"into restored-{stamp}/" + (f"{path}" if path else "")
        say(f"✓ {folder}: {where} from snapshot {snap['short_id']} ({snap['time'][:16].replace('T', ' ')} UTC)")


def export(restic: Restic, volume: str, wanted: str, before: str) -> None:
    """A whole snapshot, verified, into VOLUME (its /stack and /users), for `invoke restore --snapshot`."""
    snap = choose(restic, "", wanted, before)
    say(f"restoring snapshot {snap['short_id']} aside, verified ...")
    restic.run(["restore", snap["id"], "--target", "/export", "--verify"], extra={volume: ("/export", "rw")})
    say(f"✓ snapshot {snap['short_id']} taken {snap['time'][:19]} restored aside")


CHECKSUMS = (  # run in a container of the restic image: sha256sum of every regular file under /data
    "cd /data && find . -type f -exec sha256sum {} + | sort -k 2")


def check(restic: Restic, user: str) -> None:
    """A restore drill: the repository's own check, then one user's latest files restored aside and compared."""
    started = time.monotonic()
    say("restic check (the repository's structure and index) ...")
    restic.run(["check"])
    snaps = restic.snapshots(user)
    with_users = [s for s in snaps if users_of(s)]
    if not with_users:
        raise SnapshotError("no snapshot holds user files yet: take one with `invoke backup-now`")
    snap = with_users[-1]
    name = user or users_of(snap)[0]
    folders = folders_of(restic, snap, name)
    scratch = restic.client.volumes.create(f"{restic.plan['project']}-backup-check-{os.getpid()}",
                                           labels={LABEL: restic.plan["project"]})
    try:
        folder = folders[0]
        say(f"restoring {name}'s {folder} from snapshot {snap['short_id']} into a scratch volume, verified ...")
        restic.run(["restore", f"{snap['id']}:/users/{folder}", "--target", "/data", "--verify"],
                   extra={scratch.name: ("/data", "rw")})
        restored = restic.run(["-c", CHECKSUMS], extra={scratch.name: ("/data", "ro")}, entrypoint="/bin/sh")[1]
        dumped = snapshot_checksums(restic, snap, folder)
    finally:
        scratch.remove(force=True)
    got = dict(line.split(None, 1)[::-1] for line in restored.splitlines() if line.strip())
    if got != dumped:
        differ = sorted(set(got.items()) ^ set(dumped.items()))
        raise SnapshotError(f"the restored files of {folder} do not match the snapshot: "
                            f"{', '.join(sorted({p for p, _ in differ})[:5])}")
    say(f"✓ repository checked; {len(got)} file(s) of {folder} restored and each sha256 matches the snapshot "
        f"{snap['short_id']}, in {time.monotonic() - started:.0f} s")


def snapshot_checksums(restic: Restic, snap: dict, folder: str) -> dict[str, str]:
    """sha256 of every file of /users/FOLDER, read from the snapshot itself (restic dump, one by one)."""
    nodes = [json.loads(line) for line in restic.run(["ls", "--json", "--recursive", snap["id"],
                                                      f"/users/{folder}"])[1].splitlines()[1:] if line.strip()]
    files = [node["path"] for node in nodes if node.get("type") == "file"]
    script = ('for f in "$@"; do printf "%s  ./%s\\n" "$(restic dump "$SNAP" "$f" | sha256sum | cut -d" " -f1)" '
              '"${f#$ROOT/}"; done')
    out = restic.run(["-c", f"SNAP={snap['id']} ROOT=/users/{folder}; " + script, "sh", *files],
                     entrypoint="/bin/sh")[1] if files else ""
    return dict(line.split(None, 1)[::-1] for line in out.splitlines() if line.strip())


# --- the command line -----------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jhdeploy_hub.snapshots")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("schedule")
    commands.add_parser("now")
    listing = commands.add_parser("list")
    listing.add_argument("--user", default="")
    restoring = commands.add_parser("restore-user")
    restoring.add_argument("user")
    restoring.add_argument("--snapshot", default="latest")
    restoring.add_argument("--before", default="")
    restoring.add_argument("--path", default="")
    restoring.add_argument("--replace", action="store_true")
    checking = commands.add_parser("check")
    checking.add_argument("--user", default="")
    exporting = commands.add_parser("export")
    exporting.add_argument("volume")
    exporting.add_argument("--snapshot", default="latest")
    exporting.add_argument("--before", default="")
    args = parser.parse_args(argv)
    restic = Restic(json.loads(os.environ["SNAPSHOT_PLAN"]))
    try:
        if args.command == "schedule":
            run_schedule(restic)
        elif args.command == "now":
            snapshot_now(restic, "asked for with `invoke backup-now`")
        elif args.command == "list":
            list_snapshots(restic, args.user)
        elif args.command == "restore-user":
            restore_user(restic, args.user, args.snapshot, args.before, args.path, args.replace)
        elif args.command == "export":
            export(restic, args.volume, args.snapshot, args.before)
        else:
            check(restic, args.user)
    except SnapshotError as error:
        print(f"✗ {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
