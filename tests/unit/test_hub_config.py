"""jhdeploy_hub.config: the resolved settings become the traitlets we expect."""

from pathlib import Path

from configs import applied, hub_settings
from jhdeploy_hub import config
from traitlets.config import Config

from jhdeploy.groups import Groups


def test_users_reach_the_hub_by_service_name_on_the_stack_network():
    c = applied(COMPOSE_PROJECT_NAME="lab")
    assert c.JupyterHub.hub_ip == "0.0.0.0"
    assert c.JupyterHub.hub_connect_ip == "jupyterhub"
    assert c.DockerSpawner.network_name == "lab-network"
    assert c.DockerSpawner.use_internal_ip is True


def test_spawner_removes_containers_and_keeps_a_volume_per_user():
    c = applied(COMPOSE_PROJECT_NAME="lab", DOCKER_NOTEBOOK_PULL_POLICY="never")
    assert c.JupyterHub.spawner_class == "jhdeploy_hub.spawners.ReadyDockerSpawner"
    assert c.DockerSpawner.ready_poll_max == 0.25
    assert c.DockerSpawner.image == "jupyterhub-notebook:latest"
    assert c.DockerSpawner.remove is True
    assert c.DockerSpawner.pull_policy == "never"
    assert c.DockerSpawner.cmd == ["start-singleuser.py"]
    assert c.DockerSpawner.volumes == {"{prefix}-user-{username}{server_suffix}": "/home/jovyan/work"}
    labels = {"org.jhdeploy.stack": "lab", "org.jhdeploy.user": "{raw_username}",
              "org.jhdeploy.server": "{raw_servername}", "org.jhdeploy.groups": Groups().digest()}
    assert c.DockerSpawner.extra_create_kwargs == {"labels": labels, "healthcheck": {"Test": ["NONE"]}}
    # Not Docker's AutoRemove: the spawner reads a crashed server's log before it removes the container.
    assert c.DockerSpawner.extra_host_config["auto_remove"] is False


def test_the_registry_prefixes_the_notebook_image():
    assert applied(REGISTRY="registry.example.org/team").DockerSpawner.image == (
        "registry.example.org/team/jupyterhub-notebook:latest")


class FakeSpawner:
    def __init__(self, servername):
        self.servername = servername

    def template_namespace(self):
        return {"username": "alice", "servername": self.servername, "prefix": "lab"}


def test_each_named_server_gets_its_own_volume():
    template = "{prefix}-user-{username}{server_suffix}"
    assert config.user_volume_name(template, FakeSpawner("")) == "lab-user-alice"
    assert config.user_volume_name(template, FakeSpawner("gpu")) == "lab-user-alice--gpu"


def test_sqlite_lives_on_the_data_volume_and_urls_pass_through():
    assert applied().JupyterHub.db_url == "sqlite:////data/jupyterhub.sqlite"
    url = "postgresql://hub@db.example.org/hub"
    assert applied(JUPYTERHUB_DB_URL=url).JupyterHub.db_url == url


def test_postgres_url_uses_the_service_and_the_mounted_password():
    c = Config()
    hub = hub_settings(JUPYTERHUB_DB_URL="postgres", POSTGRES_USER="hub", POSTGRES_DB="hubdb")
    config.update_database(hub, c, read=lambda path: "p@ss/word\n")
    assert c.JupyterHub.db_url == "postgresql+psycopg2://hub:p%40ss%2Fword@postgres:5432/hubdb"
    assert "p@ss" not in str(hub)  # the settings file holds the secret's path only


def test_the_proxy_is_its_own_service_and_a_hub_stop_leaves_servers_alone():
    c = applied()
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://proxy:8001"
    assert c.JupyterHub.cleanup_servers is False
    assert "ssl_cert" not in c.JupyterHub  # the proxy serves TLS, not the hub


def test_https_pages_ask_browsers_to_stay_on_https():
    assert applied().JupyterHub.tornado_settings["headers"]["Strict-Transport-Security"].startswith("max-age=")
    assert "tornado_settings" not in applied(JUPYTERHUB_SSL="no_ssl").JupyterHub


def test_user_containers_rotate_their_logs_like_the_services():
    c = applied(LOG_MAX_SIZE="5m", LOG_MAX_FILES="2")
    assert c.DockerSpawner.extra_host_config["log_config"] == {
        "type": "json-file", "config": {"max-size": "5m", "max-file": "2"}}


def test_secrets_are_read_from_mounted_files():
    c = applied()
    assert c.JupyterHub.cookie_secret_file == "/run/secrets/cookie_secret"
    assert c.ConfigurableHTTPProxy.auth_token == "from /run/secrets/proxy_token"


def test_shared_password_login_with_userlist_allow_and_admin_rules():
    c = applied(DUMMY_AUTH_PASSWORD="a-long-password")
    assert c.JupyterHub.authenticator_class == "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
    assert c.SharedPasswordAuthenticator.user_password == "from /run/secrets/shared_password"
    assert c.SharedPasswordAuthenticator.admin_password == "from /run/secrets/admin_password"
    assert c.Authenticator.allowed_users == {"alice", "bob"}
    assert c.Authenticator.admin_users == {"alice"}
    assert "a-long-password" not in str(hub_settings(DUMMY_AUTH_PASSWORD="a-long-password"))


def test_snippets_load_in_name_order(tmp_path):
    for name in ("20-b.py", "10-a.py", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in config.snippets(tmp_path)] == ["10-a.py", "20-b.py"]
    assert config.snippets(tmp_path / "missing") == []


def test_ui_choice_sets_the_default_url_and_keeps_the_original_values_working():
    assert applied().Spawner.default_url == "/lab"
    assert applied(JUPYTER_UI="lab").Spawner.default_url == "/lab"
    assert applied(JUPYTER_UI="/tree").Spawner.default_url == "/tree"
    assert applied(JUPYTER_UI="notebook").Spawner.default_url == "/tree"


def test_logo_and_templates_come_from_the_mounted_conf_folder(tmp_path):
    from configs import stack

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/logo.png").write_bytes(b"png")
    c = Config()
    config.apply_config(stack(tmp_path, LOGO_IMAGE="conf/logo.png").hub_settings(), c, read_secret=lambda p: "x")
    assert c.JupyterHub.logo_file == "/srv/jupyterhub/conf/logo.png"
    assert c.JupyterHub.template_paths == ["/srv/jupyterhub/conf/templates"]
    assert "logo_file" not in applied().JupyterHub


def test_swarm_mode_spawns_services_with_named_volumes_as_volumes():
    from jhdeploy_hub.spawners import swarm_mounts

    c = applied(mode="swarm", NOTEBOOK_CPU_LIMIT="1.5", NOTEBOOK_MEM_RESERVATION="256M",
                SWARM_USER_CONSTRAINTS="node.labels.jupyter==yes; node.role==worker")
    assert c.JupyterHub.spawner_class == "jhdeploy_hub.spawners.VolumeSwarmSpawner"
    assert c.SwarmSpawner.extra_endpoint_spec == {"mode": "dnsrr"}
    assert c.SwarmSpawner.extra_placement_spec == {"constraints": ["node.labels.jupyter==yes", "node.role==worker"]}
    assert c.SwarmSpawner.cpu_limit == 1.5 and c.SwarmSpawner.mem_guarantee == "256M"

    mounts = swarm_mounts({"lab-user-alice": {"bind": "/home/jovyan/work", "mode": "rw"},
                           "/srv/shared": {"bind": "/home/jovyan/shared", "mode": "ro"}})
    kinds = {m["Source"]: (m["Type"], m["ReadOnly"]) for m in mounts}
    assert kinds == {"lab-user-alice": ("volume", False), "/srv/shared": ("bind", True)}


def test_the_hub_resolves_our_spawner_classes():
    from jhdeploy_hub.spawners import ReadyDockerSpawner, VolumeSwarmSpawner
    from jupyterhub.app import JupyterHub

    assert JupyterHub(config=applied()).spawner_class is ReadyDockerSpawner
    assert JupyterHub(config=applied(mode="swarm")).spawner_class is VolumeSwarmSpawner
    assert "ready_poll_max" in ReadyDockerSpawner.class_trait_names(config=True)
    assert applied(SPAWN_READY_POLL="0").DockerSpawner.ready_poll_max == 0


def test_the_settings_file_is_read_and_its_format_checked(tmp_path):
    import json

    import pytest

    path = tmp_path / "settings.json"
    path.write_text(json.dumps(hub_settings()))
    assert config.load_settings(path)["project"] == "jupyterhub"
    path.write_text(json.dumps({**hub_settings(), "format": 99}))
    with pytest.raises(SystemExit, match="rebuild with `invoke build`"):
        config.load_settings(path)
    with pytest.raises(SystemExit, match="`invoke start` writes them"):
        config.load_settings(Path(tmp_path / "missing.json"))


def test_user_containers_are_hardened_and_process_limited():
    host = applied(NOTEBOOK_PIDS_LIMIT="256").DockerSpawner.extra_host_config
    assert host["security_opt"] == ["no-new-privileges"] and host["cap_drop"] == ["ALL"]
    assert host["pids_limit"] == 256


def test_behind_caddy_the_public_url_makes_cookies_secure():
    le = {"JUPYTERHUB_SSL": "use_ssl_le", "JH_FQDN": "hub.example.org", "JH_EMAIL": "a@example.org"}
    assert applied(**le).JupyterHub.public_url == "https://hub.example.org/"
    assert "public_url" not in applied().JupyterHub  # the proxy itself says https there


def test_user_storage_path_gives_each_server_a_folder_there_made_for_the_notebook_user(tmp_path, monkeypatch):
    from jhdeploy_hub.spawners import ReadyDockerSpawner

    c = applied(USER_STORAGE_PATH="/srv/jhd-users", NB_UID="1001", NB_GID="100")
    assert c.DockerSpawner.volumes == {"/srv/jhd-users/{username}{server_suffix}": "/home/jovyan/work"}
    assert c.DockerSpawner.user_storage == "/srv/jhd-users" and c.DockerSpawner.user_storage_owner == (1001, 100)

    owners = {}
    monkeypatch.setattr("os.chown", lambda path, uid, gid: owners.update({str(path): (uid, gid)}))
    spawner = ReadyDockerSpawner(user_storage=str(tmp_path), user_storage_owner=(1001, 100))
    binds = {str(tmp_path / "alice--gpu"): {"bind": "/home/jovyan/work", "mode": "rw"},
             "/srv/shared": {"bind": "/home/jovyan/shared", "mode": "ro"}}
    monkeypatch.setattr(ReadyDockerSpawner, "volume_binds", property(lambda self: binds))
    monkeypatch.setattr(ReadyDockerSpawner, "_log_name", "alice")
    spawner._make_user_folders()
    folder = tmp_path / "alice--gpu"
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700
    assert owners == {str(folder): (1001, 100)}  # nothing outside USER_STORAGE_PATH is touched


def test_users_servers_go_to_ready_workers_unless_constraints_say_otherwise():
    import asyncio

    from jhdeploy_hub.spawners import VolumeSwarmSpawner

    def nodes(*states):
        return [{"Spec": {"Availability": a}, "Status": {"State": s}} for a, s in states]

    spawner = VolumeSwarmSpawner()

    async def workers(listing):
        async def docker(method, **kwargs):
            assert (method, kwargs) == ("nodes", {"filters": {"role": "worker"}})
            return listing
        spawner.docker = docker
        return await spawner._on_workers()

    assert asyncio.run(workers(nodes(("active", "ready")))) == ["node.role == worker"]
    assert asyncio.run(workers(nodes(("drain", "ready"), ("active", "down")))) == []
    assert asyncio.run(workers([])) == []


def test_a_swarm_spawn_waits_briefly_for_its_task_and_fails_at_once_when_swarm_rejects_it(monkeypatch):
    import asyncio

    import pytest
    from jhdeploy_hub.spawners import VolumeSwarmSpawner

    async def no_wait(seconds):
        pass

    monkeypatch.setattr(asyncio, "sleep", no_wait)

    def spawner_seeing(*states):
        spawner = VolumeSwarmSpawner(object_name="lab-alice")
        tasks = [{"Status": {"State": s, "Err": "bind source path does not exist"}} for s in states]

        async def get_task():
            return tasks.pop(0)
        spawner.get_task = get_task
        return spawner

    asyncio.run(spawner_seeing("pending", "preparing", "running").start_object())
    with pytest.raises(RuntimeError, match="rejected: bind source path does not exist"):
        asyncio.run(spawner_seeing("pending", "rejected").start_object())
