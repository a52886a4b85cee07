"""The code that runs inside the hub container: its configuration, spawners,
compatibility patches and database chores.

Installed into the hub image by dockerfiles/Dockerfile.jupyterhub. It reads the
decisions that the tasks wrote (state/hub/settings.json), and needs nothing of
the host side: no invoke, requests, dotenv or cryptography of its own. Its
contract module holds what both sides share; the tasks import it from hub/.
"""
