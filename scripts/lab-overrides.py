#!/usr/bin/env python3
"""Install JupyterLab's default settings for every user (runs in the notebook_image layer).

usage: lab-overrides.py OVERRIDES.json NEWS

Merges OVERRIDES.json (conf/notebook/overrides.json) and the news choice (NEWS: true or
false, from JUPYTERLAB_NEWS) into overrides.json in JupyterLab's application settings
directory, over what the base image may already hold there. JupyterLab and Notebook 7
read that file: a user's own settings still win, and with fetchNews decided nobody is
asked about Jupyter's news feed.
"""

import json
import sys
from pathlib import Path

NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def merged(existing: dict, ours: dict, news: bool) -> dict:
    result = dict(existing)
    for plugin, values in ours.items():
        result[plugin] = {**result.get(plugin, {}), **values}
    result.setdefault(NOTIFICATION, {})["fetchNews"] = "true" if news else "false"
    return result


def main(overrides: str, news: str) -> None:
    from jupyterlab.commands import get_app_dir  # the notebook image's own JupyterLab

    if news not in ("true", "false"):
        sys.exit(f"lab-overrides: NEWS={news!r}; allowed: true or false (JUPYTERLAB_NEWS yes or no)")
    target = Path(get_app_dir()) / "settings" / "overrides.json"
    existing = json.loads(target.read_text()) if target.exists() else {}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(merged(existing, json.loads(Path(overrides).read_text()), news == "true"),
                                 indent=2) + "\n")
    print(f"lab-overrides: wrote {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
