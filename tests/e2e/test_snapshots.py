"""Issue 25: encrypted restic snapshots taken while users work, one user's files brought back, retention,
an sftp: repository, and a wrong password said in one sentence."""

from __future__ import annotations

import base64
import datetime
import json
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from harness import STANDINS, Poller, copy_checkout, docker

pytestmark = pytest.mark.e2e

MARKER = b"MARKER-7f3a-never-in-the-repository-in-clear"
RESTIC = STANDINS["BACKUP_IMAGE"]


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.env.update(BACKUP_SCHEDULE="manual")  # `invoke backup-now` is the trigger
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def put(client, user: str, path: str, data: bytes) -> None:
    body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    response = client.contents("PUT", user, path, json=body)
    assert response.status_code in (200, 201), response.text


def get(client, user: str, path: str) -> bytes | None:
    response = client.contents("GET", user, f"{path}?type=file&format=base64")
    return base64.b64decode(response.json()["content"]) if response.status_code == 200 else None


def restic(hub, *args: str, entrypoint: str = "/usr/bin/restic") -> subprocess.CompletedProcess:
    """restic itself on the stack's local repository, as an admin would run it."""
    return docker("run", "--rm", "--entrypoint", entrypoint,
                  "--volume", f"{hub.root / 'backups/restic'}:/repository", "--env", "RESTIC_REPOSITORY=/repository",
                  "--volume", f"{hub.root / 'secrets/restic_password'}:/pw:ro", "--env", "RESTIC_PASSWORD_FILE=/pw",
                  RESTIC, *args)


def test_a_snapshot_while_alice_writes_brings_back_her_deleted_file_while_bob_works(hub):
    alice, bob = hub.logged_in("alice"), hub.logged_in("bob")
    alice.spawn("alice")
    bob.spawn("bob")
    put(alice, "alice", "thesis.txt", b"chapter one\n" + MARKER)
    put(alice, "alice", "results.csv", b"a,b\n1,2\n")
    writes, stop = [], threading.Event()

    def keep_writing():  # alice works through the snapshot
        while not stop.is_set():
            put(alice, "alice", f"draft-{len(writes)}.txt", b"x" * 4096)
            writes.append(1)

    writer = threading.Thread(target=keep_writing, daemon=True)
    with Poller(f"{hub.url}user/bob/api", str(hub.cert)) as bobs:
        writer.start()
        try:
            taken = hub.invoke("backup-now")
        finally:
            stop.set()
            writer.join()
        assert len(writes) >= 2, "alice wrote while the snapshot ran"
        assert re.search(r"snapshot [0-9a-f]{8}: .* MB added", taken.stdout), taken.stdout

        assert alice.contents("DELETE", "alice", "thesis.txt").status_code == 204
        put(alice, "alice", "results.csv", b"a,b\n1,2\n3,4\n")  # newer than the snapshot
        put(alice, "alice", "after.txt", b"written after the snapshot")
        listed = hub.invoke("snapshots", "--user", "alice").stdout
        assert "alice" in listed and "bob" in listed
        brought = hub.invoke("restore-user", "alice", "--snapshot", "latest")
    assert bobs.requests > 20 and bobs.failures == [], bobs.failures

    folder = re.search(r"into (restored-[0-9-]+)/", brought.stdout).group(1)
    assert get(alice, "alice", f"{folder}/thesis.txt") == b"chapter one\n" + MARKER
    assert get(alice, "alice", "thesis.txt") is None  # brought back aside, not over her home
    assert get(alice, "alice", "results.csv") == b"a,b\n1,2\n3,4\n"  # her newer file is untouched
    assert get(alice, "alice", "after.txt") == b"written after the snapshot"
    owner = docker("exec", f"{hub.project}-alice", "stat", "-c", "%u:%g", f"/home/jovyan/work/{folder}",
                   f"/home/jovyan/work/{folder}/thesis.txt").stdout.split()
    assert owner == ["1000:100", "1000:100"]  # hers to tidy up

    status = hub.invoke("status").stdout
    assert "Snapshots: the last one is" in status and "warning: Snapshots" not in status


def test_the_repository_is_encrypted(hub):
    files = [p for p in (hub.root / "backups/restic").rglob("*") if p.is_file()]
    assert len(files) > 5
    for path in files:
        assert MARKER not in path.read_bytes(), path


def test_the_drill_restores_one_users_files_aside_and_compares_them(hub):
    drill = hub.invoke("backup-check", "--user", "alice")
    assert "repository checked" in drill.stdout and "each sha256 matches" in drill.stdout, drill.stdout
    assert not [v for v in docker("volume", "ls", "--quiet").stdout.split() if "backup-check" in v]


def test_replace_waits_for_a_stopped_server_and_swaps_the_whole_volume(hub):
    alice = hub.logged_in("alice")
    refused = hub.invoke("restore-user", "alice", "--replace", check=False)
    assert refused.returncode == 1 and "server is running" in refused.stderr and "Traceback" not in refused.stderr
    alice.stop_server("alice")
    alice.wait_stopped("alice")
    hub.invoke("restore-user", "alice", "--replace", "--before",
               (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)).isoformat())
    alice.spawn("alice")
    assert get(alice, "alice", "thesis.txt") == b"chapter one\n" + MARKER  # the first snapshot's state
    assert get(alice, "alice", "after.txt") is None


def test_a_whole_stack_restore_from_a_snapshot_goes_through_the_archive_restore(hub):
    """`invoke restore --snapshot latest`: refused while the stack runs, then the same change list, backup
    first and undo as an archive; the userlist and alice's volume are as the snapshot has them."""
    alice = hub.logged_in("alice")
    hub.invoke("backup-now")
    put(alice, "alice", "later.txt", b"after the snapshot")
    userlist = (hub.root / "userlist").read_text()
    (hub.root / "userlist").write_text(userlist + "carol\n")
    refused = hub.invoke("restore", "--snapshot", "latest", "--yes", check=False)
    assert refused.returncode == 1 and "invoke stop" in refused.stderr, refused.stderr
    hub.invoke("stop")
    try:
        done = hub.invoke("restore", "--snapshot", "latest", "--yes")
        changes = done.stdout.split("Restoring it replaces:", 1)[1]
        assert "sqlite database" in changes and "userlist: removes carol" in changes, done.stdout
        assert f"{hub.project}-user-alice" in changes
        undo = re.search(r"To undo this restore: invoke restore (\S+) --yes", done.stdout)
        assert undo and (hub.root / undo.group(1)).is_file(), done.stdout  # an absolute path stays itself
        assert (hub.root / "userlist").read_text() == userlist
        assert not [v for v in docker("volume", "ls", "--quiet").stdout.split() if "snapshot-restore" in v]
        assert not list((hub.root / "backups").glob(".staging-*")), "the export is cleaned up"
    finally:
        hub.invoke("start")
    alice = hub.logged_in("alice")
    alice.spawn("alice")
    assert get(alice, "alice", "later.txt") is None
    assert get(alice, "alice", "thesis.txt") == b"chapter one\n" + MARKER


def restic_keeps(snapshots: dict[str, datetime.datetime], rules: dict[str, int]) -> set[str]:
    """restic's forget, written down independently: newest first, each rule keeps the first snapshot of each
    new day / ISO week / month until its count is used up."""
    buckets = {"daily": lambda t: t.date(), "weekly": lambda t: t.isocalendar()[:2],
               "monthly": lambda t: (t.year, t.month)}
    kept, last, left = set(), {}, dict(rules)
    for snapshot, when in sorted(snapshots.items(), key=lambda item: item[1], reverse=True):
        for rule, bucket in buckets.items():
            if left[rule] and bucket(when) != last.get(rule):
                kept.add(snapshot)
                last[rule] = bucket(when)
                left[rule] -= 1
    return kept


def listed(hub) -> dict[str, datetime.datetime]:
    return {s["id"]: datetime.datetime.fromisoformat(s["time"][:19])
            for s in json.loads(restic(hub, "snapshots", "--json").stdout)}


def test_retention_keeps_exactly_what_the_rules_say(hub):
    """60 snapshots forged over 300 days; the next backup-now applies the default BACKUP_RETENTION."""
    hub.invoke("backup-now")  # the repository exists, whatever ran before
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    forged = [now - datetime.timedelta(days=5 * n, hours=n % 7) for n in range(1, 61)]
    script = "".join(f"restic backup --quiet --host {hub.project} --time '{t:%Y-%m-%d %H:%M:%S}' /etc/hostname\n"
                     for t in forged)
    restic(hub, "-c", script, entrypoint="/bin/sh")
    before = listed(hub)
    assert len(before) >= 60
    hub.invoke("backup-now")
    after = listed(hub)
    new = set(after) - set(before)
    assert len(new) == 1
    assert set(after) == restic_keeps({**before, **after}, {"daily": 7, "weekly": 8, "monthly": 6})
    assert len(after) < len(before)


@pytest.fixture
def sftp_server(hub, tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "authorized_keys").write_bytes(public + b"\n")
    name = f"{hub.project}-sftp"
    docker("run", "--detach", "--name", name, "--volume", f"{keys}:/keys:ro", "jhdeploy-standin/sftp:latest")
    try:
        address = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
        for _ in range(50):
            host_key = docker("exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
            if host_key.returncode == 0 and docker("exec", name, "pgrep", "sshd", check=False).returncode == 0:
                break
            time.sleep(0.2)
        secrets = hub.root / "secrets"
        (secrets / "backup_ssh_key").write_bytes(private)
        (secrets / "backup_ssh_key").chmod(0o600)
        (secrets / "backup_known_hosts").write_text(f"{address} {' '.join(host_key.stdout.split()[:2])}\n")
        (secrets / "backup_known_hosts").chmod(0o600)
        yield f"sftp:restic@{address}:/home/restic/repository"
    finally:
        print("sftp server's log:", docker("logs", name, check=False).stderr[-3000:])
        docker("rm", "--force", name, check=False)


def test_an_sftp_repository_works_and_a_wrong_password_gets_one_sentence(hub, sftp_server):
    hub.env["BACKUP_REPOSITORY"] = sftp_server
    hub.write_env()
    password = (hub.root / "secrets/restic_password").read_bytes()
    try:
        hub.invoke("start")  # the backup service takes the new repository; users' servers keep running
        taken = hub.invoke("backup-now")
        assert "creating the repository" in taken.stdout and "MB added" in taken.stdout
        assert "alice" in hub.invoke("snapshots").stdout
        (hub.root / "secrets/restic_password").write_text("not-the-password\n")
        wrong = hub.invoke("backup-now", check=False)
        assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
        message = [line for line in wrong.stderr.splitlines() if line.startswith("✗")]
        assert len(message) == 1 and "wrong password" in message[0], wrong.stderr
        assert "Snapshots: the last run failed" in hub.invoke("status").stdout
    finally:
        (hub.root / "secrets/restic_password").unlink()
        (hub.root / "secrets/restic_password").write_bytes(password)
        (hub.root / "secrets/restic_password").chmod(0o600)
        del hub.env["BACKUP_REPOSITORY"]
        hub.write_env()
        hub.invoke("start")


def test_a_stack_that_never_started_backs_up(hub, tmp_path):
    """`invoke backup` of a stack set up but never started: its data volume is there, and empty."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    copy_checkout(fresh)
    shutil.copytree(hub.root / "certs", fresh / "certs")  # its EXTRA_CA_CERTS
    project = f"{hub.project}x"
    (fresh / ".env").write_text("".join(f"{k}={v}\n" for k, v in {**hub.env, "COMPOSE_PROJECT_NAME": project}.items()))
    (fresh / ".env").chmod(0o600)
    docker("volume", "create", f"{project}-data")
    try:
        made = subprocess.run([sys.executable, "-m", "invoke", "backup"], cwd=fresh, capture_output=True, text=True,
                              timeout=300)
    finally:
        docker("volume", "rm", f"{project}-data", check=False)
    print(made.stdout, made.stderr)
    assert made.returncode == 0, made.stderr
    assert "the hub has never started" in made.stdout
