"""The hub side is a package of its own: it runs in the hub image without the host's libraries."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST_ONLY = ("invoke", "requests", "dotenv", "cryptography", "jhdeploy")

# Refuses the host-only modules to code of jhdeploy_hub itself; JupyterHub and DockerSpawner
# may use what they like (the docker SDK needs requests, which the hub image has for it).
BLOCKER = f"""
import importlib, pkgutil, sys

BLOCKED = {HOST_ONLY!r}

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in BLOCKED:
            return None
        frame = sys._getframe(1)
        while frame and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__", "") if frame else ""
        if importer.startswith("jhdeploy_hub"):
            raise ImportError(f"{{importer}} imports {{name}}, which the hub image does not promise")
        return None

sys.meta_path.insert(0, Blocker())
import jhdeploy_hub
for module in pkgutil.iter_modules(jhdeploy_hub.__path__):
    importlib.import_module(f"jhdeploy_hub.{{module.name}}")
    print("imported", module.name)
"""


def test_every_hub_module_imports_without_host_only_libraries():
    result = subprocess.run([sys.executable, "-c", BLOCKER], cwd=REPO / "hub", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert {"config", "spawners", "compat", "dbtools", "cli"} <= {
        line.split()[-1] for line in result.stdout.splitlines()}


def test_the_blocker_does_catch_a_host_import(tmp_path):
    package = tmp_path / "jhdeploy_hub"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text("import invoke\n")
    result = subprocess.run([sys.executable, "-c", BLOCKER], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and "jhdeploy_hub.bad imports invoke" in result.stderr


def test_nothing_of_the_host_checkout_is_mounted_into_the_hub_but_conf_and_its_settings():
    for path in (REPO / "compose").glob("*.yml"):
        text = path.read_text()
        for mounted in ("../jhdeploy", "../.env", "../userlist", "../hub"):
            assert f"{mounted}:" not in text, (path.name, mounted)


def test_the_migration_copies_from_the_sqlite_url_the_tasks_name():
    """The hub side derives no path: `invoke migrate-db` passes the source database's URL."""
    from jhdeploy_hub import dbtools

    assert dbtools.main(["migrate-to-postgres"]) == 2  # no URL: usage, nothing done
