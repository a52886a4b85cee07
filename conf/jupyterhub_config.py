"""JupyterHub configuration. Every setting comes from .env; see jhdeploy/hubconfig.py.

Add your own settings in conf/jupyterhub_config.d/*.py: they load after this
file, in name order, and a change needs only `invoke restart`.
"""

import sys

sys.path.insert(0, "/srv/jupyterhub")

from jhdeploy import hubconfig  # noqa: E402

c = get_config()  # noqa: F821 (provided by JupyterHub)
hubconfig.apply_config(hubconfig.load_settings(), hubconfig.load_userlist(), c)

for snippet in hubconfig.snippets(hubconfig.HUB_ROOT / "conf" / "jupyterhub_config.d"):
    print(f"Loading config snippet {snippet}", file=sys.stderr)
    load_subconfig(str(snippet))  # noqa: F821 (provided by traitlets)
