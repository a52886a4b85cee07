"""The scratch copy of this repository that each benchmark runs in, so your .env and images stay yours."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", ".env", "secrets", "userlist", "tests", "benchmarks",
                              "__pycache__", ".build", "bench-results", "backups")
FOLDER_SETTINGS = ("EXTRA_CA_CERTS",)  # paths that must lie inside the deployment folder


def copy(root: Path, settings: dict[str, str]) -> dict[str, str]:
    """Copy the repository to `root`; a folder setting given as a path outside it is copied in too."""
    shutil.copytree(REPO, root, ignore=SKIP)
    settings = dict(settings)
    for key in FOLDER_SETTINGS:
        source = Path(settings.get(key) or ".")
        if source.is_absolute():
            target = root / key.lower()
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
            settings[key] = target.name
    return settings


def write_env(root: Path, env: dict[str, str]) -> None:
    """The scratch .env, owner-only as `invoke start` requires."""
    path = root / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    path.chmod(0o600)
