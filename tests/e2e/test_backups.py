"""Issue 15: backups that are whole or absent, and restores that give back exactly what was saved."""

from __future__ import annotations

import base64
import os
import re
import subprocess

import pytest
from harness import docker

pytestmark = pytest.mark.e2e

PAYLOAD = os.urandom(8192)  # binary, checked byte for byte


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.env.update(ALLOW_NAMED_SERVERS="yes", NAMED_SERVERS_MAX="2")
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def put(client, user: str, path: str, data: bytes, server: str = "") -> None:
    body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    response = client.contents("PUT", user, path, server=server, json=body)
    assert response.status_code in (200, 201), response.text


def get(client, user: str, path: str, server: str = ""):
    response = client.contents("GET", user, f"{path}?type=file&format=base64", server=server)
    return base64.b64decode(response.json()["content"]) if response.status_code == 200 else None


def test_a_full_backup_restores_users_servers_and_files_exactly(hub):
    alice, bob = hub.logged_in("alice"), hub.logged_in("bob")
    alice.spawn("alice")
    alice.spawn("alice", server="one")
    bob.spawn("bob")
    put(alice, "alice", "data.bin", PAYLOAD)
    put(alice, "alice", "named.txt", b"in the named server", server="one")
    put(bob, "bob", "notes.txt", b"bob's notes")
    assert alice.api("POST", "/users", json={"usernames": ["dora"]}).status_code == 201

    made = hub.invoke("backup", "--user-volumes")  # while both work
    archive = re.search(r"invoke restore (\S+)", made.stdout).group(1)
    put(alice, "alice", "after-the-backup.txt", b"made later")

    hub.invoke("clean", "--volumes", "--yes")
    assert not [v for v in docker("volume", "ls", "--quiet").stdout.split() if v.startswith(hub.project)]
    restored = hub.invoke("restore", archive, "--yes")
    assert "Restoring it replaces:" in restored.stdout and f"{hub.project}-user-alice" in restored.stdout
    undo = re.search(r"To undo this restore: invoke restore (\S+)", restored.stdout).group(1)
    assert os.path.exists(undo)
    hub.invoke("start")

    admin = hub.logged_in("alice")
    users = {u["name"]: u for u in admin.api("GET", "/users").json()}
    assert {"alice", "bob", "dora"} <= set(users) and users["alice"]["admin"] and not users["bob"]["admin"]
    # The named server comes back too (stopped: its container went with `clean`).
    assert "one" in admin.api("GET", "/users/alice?include_stopped_servers=1").json()["servers"]
    admin.spawn("alice")
    admin.spawn("alice", server="one")
    assert get(admin, "alice", "data.bin") == PAYLOAD
    assert get(admin, "alice", "named.txt", server="one") == b"in the named server"
    assert get(admin, "alice", "after-the-backup.txt") is None  # gone: the volume was restored exactly
    bob = hub.logged_in("bob")
    bob.spawn("bob")
    assert get(bob, "bob", "notes.txt") == b"bob's notes"
    owner = docker("exec", f"{hub.project}-alice", "stat", "-c", "%u:%g", "/home/jovyan/work/data.bin").stdout
    assert owner.strip() == "1000:100"


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 6 MB, as a full disk would behave."""
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_backup_that_fills_the_disk_leaves_nothing_behind(hub, small_disk):
    client = hub.logged_in("bob")
    client.spawn("bob")
    # Random data does not compress: staged and archived, it needs twice what the estimate counts.
    put(client, "bob", "big.bin", os.urandom(4 * 1024 * 1024))
    hub.env["BACKUP_DIR"] = str(small_disk)
    hub.write_env()
    try:
        failed = hub.invoke("backup", "--user-volumes", check=False)
    finally:
        del hub.env["BACKUP_DIR"]
        hub.write_env()
    assert failed.returncode == 1
    message = [line for line in failed.stderr.splitlines() if line.startswith("✗")]
    assert len(message) == 1 and "Nothing was kept" in message[0], failed.stderr
    assert "Traceback" not in failed.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == []  # no archive, no .partial, no staged secret


def test_a_backup_that_cannot_fit_is_refused_with_the_numbers(hub, tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        hub.env["BACKUP_DIR"] = str(mount)
        hub.write_env()
        refused = hub.invoke("backup", "--user-volumes", check=False)
    finally:
        del hub.env["BACKUP_DIR"]
        hub.write_env()
        subprocess.run(["umount", str(mount)], check=False)
    assert refused.returncode == 1 and "Not enough space in" in refused.stderr and "MB are free" in refused.stderr
