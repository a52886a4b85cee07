"""JupyterHub configuration. The tasks resolve .env and userlist into settings that
jhdeploy_hub (installed in the hub image) maps to traitlets here.

Add your own settings in conf/jupyterhub_config.d/*.py: they load after this
file, in name order, and a change needs only `invoke restart`.
"""

import sys

from jhdeploy_hub import config

c = get_config()  # noqa: F821 (provided by JupyterHub)
hub = config.load_settings()
config.apply_config(hub, c)
config.end_shares_when_off(hub, c)

for snippet in config.snippets():
    print(f"Loading config snippet {snippet}", file=sys.stderr)
    load_subconfig(str(snippet))  # noqa: F821 (provided by traitlets)
