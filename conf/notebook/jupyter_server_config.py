# Jupyter Server settings for every user's server (copied into the notebook_image
# layer, so an edit rebuilds only that fast top layer).

import json
import os
import sys

c = get_config()  # noqa: F821

# Managed deployments update images, not single servers: no update checks to PyPI.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# The hub's address may change while this server runs: a swarm redeploy moves the hub to a new task, and
# without the network fence a restarted hub gets a new address. JupyterHub's client here (aiohttp) prefers
# c-ares, which keeps Docker's DNS answer for 600 s: logins to this server would fail for ten minutes. Each
# connection asks the system's resolver instead (hub/jhdeploy_hub/config.py does the same in the hub).
try:
    import aiohttp.connector  # jupyterhub-singleuser 6 imports it anyway
    import aiohttp.resolver
except ImportError:  # an older JupyterHub's server: tornado's client, which asks the system's resolver
    pass
else:
    aiohttp.connector.DefaultResolver = aiohttp.resolver.ThreadedResolver

# The classic notebook (/nbclassic) and its shim: neither JupyterLab nor Notebook 7 links to them,
# and loading them costs every server start about 0.05 s of CPU (docs/performance.md). Delete
# these lines to serve /nbclassic again.
c.ServerApp.jpserver_extensions = {"nbclassic": False, "notebook_shim": False}

# A notice from the hub (JHDEPLOY_NOTICE, JSON {"message": ..., "type": "info"|"warning"|"error"}, for example
# a disk quota warning) goes into JupyterLab's page config, where our jhdeploy-notice extension shows it as a
# toast. Checked here so that a bad value costs one log line, never the server or the page.
_notice_env = os.environ.get("JHDEPLOY_NOTICE", "").strip()
if _notice_env:
    try:
        _notice = json.loads(_notice_env)
    except ValueError:
        _notice = None
    if isinstance(_notice, dict) and isinstance(_notice.get("message"), str) and _notice["message"].strip():
        _type = _notice.get("type") if _notice.get("type") in ("info", "warning", "error") else "info"
        # A plain dict, never update(): jupyterhub-singleuser reads tornado_settings as one, and the lazy value
        # that update() leaves stops its extension and the server.
        _settings = c.ServerApp.get("tornado_settings")
        c.ServerApp.tornado_settings = {
            **(_settings if isinstance(_settings, dict) else {}),
            "page_config_data": {"jhdeployNotice": {"message": _notice["message"], "type": _type}}}
    else:
        print("jhdeploy: ignoring JHDEPLOY_NOTICE, not a JSON object with a string message", file=sys.stderr)
