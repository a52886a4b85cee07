"""Build time (notebook_image layer, as root): switch real-time collaboration and the sharing guard off for
every server, and write ON_DIR, the config dir that switches them back on where the hub shares servers
(JHDEPLOY_SHARING=1 puts ON_DIR first on JUPYTER_CONFIG_PATH: before-notebook.sh, jupyter_server_config.py).

Off, nothing of them is imported when a server starts (jupyter_server skips disabled extensions) and
JupyterLab does not load their plugins. The extension names are read from the files that the installed
collaboration packages register, so a new version's extension cannot stay on unnoticed.

Usage: collaboration-switch.py ON_DIR
"""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# jupyter-collaboration and the packages it brings that register extensions (jupyter-collaboration 5).
DISTRIBUTIONS = ("jupyter-collaboration", "jupyter-collaboration-ui", "jupyter-docprovider",
                 "jupyter-server-ydoc", "jupyter-server-fileid")
GUARD = "jhdeploy_sharing"  # our server extension (conf/notebook/sharing/jhdeploy_sharing)


def registered(files: dict[str, str]) -> tuple[list[str], list[str]]:
    """The server extensions and JupyterLab extensions that packages register, from their installed files
    ({path as recorded in the package's RECORD: text}): jupyter_server_config.d/*.json enables server
    extensions, share/jupyter/labextensions/**/package.json names a JupyterLab extension."""
    server, lab = set(), set()
    for path, text in files.items():
        parts = Path(path).parts
        if "jupyter_server_config.d" in parts and path.endswith(".json"):
            server |= {name for name, on in json.loads(text).get("ServerApp", {}).get("jpserver_extensions", {}).items()
                       if on}
        elif "labextensions" in parts and parts[-1] == "package.json" and parts[-2] != "static":
            package = json.loads(text)
            if "jupyterlab" in package:
                lab.add(package["name"])
    return sorted(server), sorted(lab)


def installed_files() -> dict[str, str]:
    files = {}
    for name in DISTRIBUTIONS:
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            print(f"collaboration-switch: {name} is not installed", file=sys.stderr)
            continue
        for file in distribution.files or []:
            if file.name.endswith(".json"):
                files[str(file)] = file.read_text(encoding="utf-8")
    return files


def on_config(server: list[str], lab: list[str]) -> dict[str, dict]:
    """ON_DIR's files: the same names, switched on (false in disabledExtensions outranks the sys-prefix true)."""
    return {
        "jupyter_server_config.d/jhdeploy-sharing.json":
            {"ServerApp": {"jpserver_extensions": {name: True for name in [*server, GUARD]}}},
        "labconfig/page_config.json": {"disabledExtensions": {name: False for name in lab}},
    }


def main(on_dir: Path) -> None:
    server, lab = registered(installed_files())
    if not server or not lab:
        sys.exit(f"collaboration-switch: found no collaboration extensions (server {server}, lab {lab}); "
                 "is jupyter-collaboration installed (notebook_body layer, COLLABORATION_VERSION)?")
    subprocess.run(["jupyter", "server", "extension", "disable", "--sys-prefix", *server, GUARD], check=True)
    subprocess.run(["jupyter", "labextension", "disable", "--level=sys_prefix", *lab], check=True)
    # Locked, so that JupyterLab's plugin manager offers no switch: on, they need the server side too.
    subprocess.run(["jupyter", "labextension", "lock", "--level=sys_prefix", *lab], check=True)
    for name, data in on_config(server, lab).items():
        path = on_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"collaboration-switch: off by default, on from {on_dir}: server {server + [GUARD]}, lab {lab}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
