# What the upstream basic example configures: DockerSpawner on the compose network, a volume per
# user, NativeAuthenticator with open sign-up, hub data on /data.
import os

c = get_config()  # noqa: F821
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = os.environ["DOCKER_NOTEBOOK_IMAGE"]
c.DockerSpawner.cmd = "start-singleuser.py"
c.DockerSpawner.network_name = os.environ["DOCKER_NETWORK_NAME"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.notebook_dir = "/home/jovyan/work"
c.DockerSpawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan/work"}
c.DockerSpawner.remove = True
c.JupyterHub.hub_ip = os.environ["HUB_NAME"]
c.JupyterHub.hub_port = 8080
c.JupyterHub.cookie_secret_file = "/data/jupyterhub_cookie_secret"
c.JupyterHub.db_url = "sqlite:////data/jupyterhub.sqlite"
c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
c.NativeAuthenticator.open_signup = True
c.Authenticator.allow_all = True
# benchmarks/classroom.py spawns through the REST API: NativeAuthenticator 1.x's login fails on
# JupyterHub 6 ("'LoginHandler' object has no attribute 'statsd'").
if os.environ.get("BENCH_API_TOKEN"):
    c.JupyterHub.services = [{"name": "bench", "api_token": os.environ["BENCH_API_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "bench", "services": ["bench"],
                                "scopes": ["admin:users", "admin:servers", "read:servers", "access:servers"]}]
