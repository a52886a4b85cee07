"""jupyterhub-deploy: the logic behind tasks.py and the hub's configuration.

Modules here import only the standard library at import time, because the hub
container imports some of them (settings, userlist, hubconfig) as well.
"""
