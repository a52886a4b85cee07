"""Issue 5: PostgreSQL, backup and restore, upgrade-db and the SQLite -> PostgreSQL migration."""

from __future__ import annotations

import base64
import os
import re

import pytest
from harness import docker

pytestmark = pytest.mark.e2e

PAYLOAD = os.urandom(4096)  # a binary file in a user volume, checked byte for byte


@pytest.fixture(scope="module")
def hub(deployment):
    deployment.env.update(JUPYTERHUB_DB_URL="postgres", POSTGRES_VERSION="17",
                          POSTGRES_IMAGE="jhdeploy-standin/postgres:17")
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def admin(hub):
    client = hub.client()
    assert client.login("alice", hub.password("alice")).status_code == 200
    return client


def users(client) -> dict[str, bool]:
    response = client.api("GET", "/users")
    assert response.status_code == 200, response.text
    return {u["name"]: u["admin"] for u in response.json()}


def psql(hub, query: str) -> str:
    result = docker("exec", f"{hub.project}-postgres-1", "psql", "--username", "jupyterhub",
                    "--dbname", "jupyterhub", "-tAc", query)
    return result.stdout.strip()


def archives(hub) -> list[str]:
    return sorted(p.name for p in (hub.root / "backups").glob("*.tar.gz"))


def test_postgres_holds_the_hub_database_across_restart(hub):
    client = admin(hub)
    assert client.api("POST", "/users", json={"usernames": ["dora", "erin"]}).status_code == 201
    assert client.api("PATCH", "/users/dora", json={"admin": True}).status_code == 200

    hub.invoke("restart")

    assert users(admin(hub)) == {"alice": True, "bob": False, "dora": True, "erin": False}
    assert psql(hub, "SELECT name || ':' || admin FROM users ORDER BY name").split() == [
        "alice:true", "bob:false", "dora:true", "erin:false"]
    published = docker("port", f"{hub.project}-postgres-1").stdout.strip()
    assert published == ""  # the database is not on the host


def test_build_again_leaves_the_database_alone(hub):
    hub.invoke("build")
    assert set(users(admin(hub))) == {"alice", "bob", "dora", "erin"}


def test_backup_while_running_then_clean_restore_start_gives_everything_back(hub):
    client = admin(hub)
    client.spawn("alice")
    content = {"type": "file", "format": "base64", "content": base64.b64encode(PAYLOAD).decode()}
    assert client.contents("PUT", "alice", "data.bin", json=content).status_code == 201

    result = hub.invoke("backup", "--user-volumes")
    archive = re.search(r"invoke restore (\S+)", result.stdout).group(1)
    assert (hub.root / "backups").stat().st_mode & 0o077 == 0
    secrets_archive = archive.replace(".tar.gz", "-secrets.tar.gz")
    assert os.stat(archive).st_mode & 0o077 == 0 and os.stat(secrets_archive).st_mode & 0o077 == 0

    cleaned = hub.invoke("clean", "--volumes", "--yes")
    assert f"volume {hub.project}-db" in cleaned.stdout and f"volume {hub.project}-user-alice" in cleaned.stdout
    assert not [v for v in docker("volume", "ls", "--quiet").stdout.split() if v.startswith(hub.project)]

    hub.invoke("restore", archive, "--yes")
    hub.invoke("start")

    client = admin(hub)
    assert users(client) == {"alice": True, "bob": False, "dora": True, "erin": False}
    client.spawn("alice")
    restored = client.contents("GET", "alice", "data.bin").json()
    assert base64.b64decode(restored["content"]) == PAYLOAD
    hub.archive = archive


def test_a_damaged_archive_is_refused_and_nothing_changes(hub):
    damaged = hub.root / "backups" / "damaged.tar.gz"
    data = bytearray(open(hub.archive, "rb").read())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    env_before = (hub.root / ".env").read_bytes()
    volumes_before = docker("volume", "ls", "--quiet").stdout

    result = hub.invoke("restore", str(damaged), "--yes", check=False)

    assert result.returncode != 0
    assert "Refusing to restore: damaged.tar.gz" in result.stderr and "Nothing was changed" in result.stderr
    assert (hub.root / ".env").read_bytes() == env_before
    assert docker("volume", "ls", "--quiet").stdout == volumes_before
    assert set(users(admin(hub))) == {"alice", "bob", "dora", "erin"}  # still serving
    damaged.unlink()


def test_upgrade_db_on_a_current_database_is_a_no_op_that_still_backs_up(hub):
    hub.invoke("stop")
    before = archives(hub)
    result = hub.invoke("upgrade-db")
    assert "already current" in result.stdout
    assert len(archives(hub)) == len(before) + 2  # the archive and its secrets archive
    hub.invoke("start")
    assert set(users(admin(hub))) == {"alice", "bob", "dora", "erin"}


def test_migration_from_sqlite_to_postgres_keeps_the_users(hub):
    hub.invoke("stop")
    hub.env.update(JUPYTERHUB_DB_URL="sqlite")
    hub.write_env()
    hub.invoke("start")
    client = admin(hub)
    assert client.api("POST", "/users", json={"usernames": ["frank"]}).status_code == 201
    assert client.api("PATCH", "/users/frank", json={"admin": True}).status_code == 200
    hub.invoke("stop")

    hub.env.update(DB_VOLUME_HOST=f"{hub.project}-db-migrated")  # an empty PostgreSQL
    hub.write_env()
    result = hub.invoke("migrate-db", "--to", "postgres")
    assert "Copied" in result.stdout

    hub.env.update(JUPYTERHUB_DB_URL="postgres")
    hub.write_env()
    hub.invoke("start")
    client = admin(hub)
    assert users(client) == {"alice": True, "bob": False, "frank": True}
    assert client.api("POST", "/users", json={"usernames": ["gina"]}).status_code == 201  # ids continue


def test_a_one_off_container_reports_its_own_exit_code_and_goes(hub):
    """Compose 2.40 on Docker Engine 20.10 exits 0 whatever a `compose run` container exits with; the
    tasks' one-off containers (migrate-db, upgrade-db, user-password) must still see a failure."""
    from invoke import Config, Context

    from jhdeploy import engine
    from jhdeploy.resolve import from_env

    quiet = Context(Config(overrides={"run": {"in_stream": False}}))
    stack = from_env(hub.root, environ={})
    # The fence's service: the hub's own would ask for the running hub's fixed address.
    result = engine.compose_run(quiet, stack, ["--no-deps", "-T", "--entrypoint", "python3", "fence", "-c",
                                               "raise SystemExit(3)"], hide="both", echo=False)
    assert result.exited == 3 and not result.ok, result.stdout + result.stderr
    assert docker("ps", "--all", "--quiet", "--filter", f"name={hub.project}-run-").stdout.strip() == ""
