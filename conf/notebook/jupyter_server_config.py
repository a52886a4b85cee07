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

# Page config for our JupyterLab extensions (conf/notebook/labextensions), filled below.
_page_config = {}

# Sharing a server (the hub's SHARING=yes sets JHDEPLOY_SHARING=1 here; issue 31): real-time collaboration and
# the guard that ends a revoked guest's access (jhdeploy_sharing). The image switches them all off; the config
# dir SHARING_ON switches them back on when it comes first on JUPYTER_CONFIG_PATH. docker-stacks' start.sh
# puts it there already (before-notebook.d, so that the `jupyter ... list` commands agree); this covers a start
# without that hook. The server reads the path after this file, for its extensions, and on every page, for
# JupyterLab's disabledExtensions. Off, nothing of it is imported.
SHARING_ON = "/usr/local/share/jhdeploy/sharing-on"
SHARING_TEMPLATES = "/usr/local/share/jhdeploy/sharing/jhdeploy_sharing/templates"
if os.environ.get("JHDEPLOY_SHARING") == "1":
    _config_path = [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p and p != SHARING_ON]
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([SHARING_ON, *_config_path])
    # Its 403.html tells a guest whose share ended so, and links to the hub; other 403s render as before.
    _templates = c.ServerApp.get("extra_template_paths")
    c.ServerApp.extra_template_paths = [SHARING_TEMPLATES, *(_templates if isinstance(_templates, list) else [])]
    # jhdeploy-sharing (JupyterLab) reloads the page when the guard closes a WebSocket, only where this is set.
    _page_config["jhdeploySharing"] = True

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
        _page_config["jhdeployNotice"] = {"message": _notice["message"], "type": _type}
    else:
        print("jhdeploy: ignoring JHDEPLOY_NOTICE, not a JSON object with a string message", file=sys.stderr)

if _page_config:
    # A plain dict, never update(): jupyterhub-singleuser reads tornado_settings as one, and the lazy value
    # that update() leaves stops its extension and the server.
    _settings = c.ServerApp.get("tornado_settings")
    c.ServerApp.tornado_settings = {**(_settings if isinstance(_settings, dict) else {}),
                                    "page_config_data": _page_config}
