"""jupyterhub-deploy's host side: the logic behind tasks.py.

It resolves `.env` and `userlist` (settings, envfile, stack), chooses the
option records (options), drives Docker and Compose (engine), and saves what
runs (state). The code that runs inside the hub is the separate package in
hub/ (jhdeploy_hub), installed into the hub image; nothing here runs there.
"""
