import socket

import pytest
from configs import applied

from jhdeploy import doctor, secretfiles, settings
from jhdeploy.settings import SettingsError
from jhdeploy.stack import Stack

# Every key of the original project's .env-template, with values of that time.
ORIGINAL_ENV = {
    "DOCKER_BUILD_CACHE_OPTION": "--no-cache", "BUILDKIT_PROGRESS": "plain",
    "JUPYTERHUB_VERSION": "1.4.2", "JUPYTERLAB_VERSION": "3.1.13", "NOTEBOOK_VERSION": "6.4.4",
    "CONDA_VERSION": "4.10.3", "PYTHON_VERSION": "3.8", "PLOTLY_VERSION": "5.3.1",
    "JUPYTERHUB_AUTHENTICATOR": "dummy_authenticator", "DUMMY_AUTH_PASSWORD": "geeks@localhost",
    "NATIVEAUTH_SIGNUP": "authorize_signup", "NATIVEAUTH_EMAIL": "False",
    "GITHUB_CLIENT_ID": "", "GITHUB_CLIENT_SECRET": "", "OAUTH_CALLBACK_URL": "", "GITHUB_ACCESS_TOKEN": "",
    "ALLOW_NAMED_SERVERS": "yes", "NAMED_SERVERS_MAX": "2",
    "JUPYTERHUB_DB_URL": "sqlite", "POSTGRES_DB": "jupyterhub", "POSTGRES_PASSWORD": "changeme",
    "POSTGRES_VERSION": "13", "DB_VOLUME_HOST": "jupyterhub-db-data",
    "DB_VOLUME_CONTAINER": "/var/lib/postgresql/data", "POSTGRES_DELETE_DB": "1",
    "JUPYTER_UI": "/lab",
    "JUPYTERHUB_SSL": "use_ssl_ss", "CERT_SERVER": "--staging", "JH_FQDN": "", "JH_EMAIL": "",
    "JUPYTERHUB_LOG_LEVEL": "INFO", "DOCKER_NETWORK_NAME": "jupyterhub-network",
    "DATA_VOLUME_HOST": "jupyterhub-data", "DATA_VOLUME_CONTAINER": "/data",
    "CONFIGPROXY_AUTH_TOKEN": "0123abcd", "SERVER_TIMEOUT_SECONDS": "3600",
    "IMAGE_TAG": "latest", "DOCKER_NOTEBOOK_BASE": "jupyter/minimal-notebook",
    "DOCKERFILE_BODY": "Dockerfile.python", "LOCAL_NOTEBOOK_BASE": "jupyterhub-user-base",
    "LOCAL_NOTEBOOK_BODY": "jupyterhub-user-body", "LOCAL_NOTEBOOK_IMAGE": "jupyterhub-user",
    "DOCKER_NOTEBOOK_DIR": "/home/jovyan/work", "DOCKER_SPAWN_CMD": "start-singleuser.sh",
    "LOGO_IMAGE": "jupyterhub-80.png",
    "NB_USER": "jovyan", "NB_UID": "1000", "NB_GID": "100", "NB_USER_PASS": "geeks",
    "VIRTUAL_HOST": "localhost", "VIRTUAL_PORT": "8000", "GEN_CERT": "yes", "MAPBOX_API_KEY": "pk.x",
    # Keys that did nothing even then.
    "INSTALL_USER": "ubuntu", "DOCKER_MACHINE_NAME": "jupyterhub", "DOCKER_EXEC": "docker exec",
    "DOCKERFILE_MULTISTAGE": "no", "LOCAL_NOTEBOOK_PACKED": "jupyterhub-user-packed",
    "COMPOSE_DOCKER_CLI_BUILD": "1", "JUPYTERHUB_SERVICE_HOST_IP": "172.18.0.2", "DOCKER_BUILDKIT": "1",
    "COMPOSE_IGNORE_ORPHANS": "True",
}


def test_an_original_env_is_accepted_with_one_warning_per_obsolete_key():
    # Two of its values are refused now, each with a sentence that says what to do instead.
    with pytest.raises(SettingsError) as refused:
        settings.from_mapping(ORIGINAL_ENV)
    assert [p.split(" ")[0] for p in refused.value.problems] == ["LOGO_IMAGE='jupyterhub-80.png'"]
    s = settings.from_mapping({**ORIGINAL_ENV, "LOGO_IMAGE": "conf/jupyterhub-80.png"})
    obsolete = {key for key in ORIGINAL_ENV if key in settings.OBSOLETE}
    assert set(s.obsolete) == obsolete
    assert s.unknown == ()
    warnings = s.warnings()
    assert len(warnings) == len(obsolete)
    for key in obsolete:
        (line,) = [w for w in warnings if f" {key}," in w]
        assert "does nothing now; instead:" in line


def test_every_obsolete_key_names_what_replaced_it():
    assert all(reason for reason in settings.OBSOLETE.values())
    assert not set(settings.OBSOLETE) & set(settings.BY_NAME)


def test_limits_and_timeouts():
    c = applied(NOTEBOOK_MEM_LIMIT="512M", NOTEBOOK_CPU_LIMIT="0.5", SPAWN_TIMEOUT="600", HTTP_TIMEOUT="90")
    assert c.DockerSpawner.mem_limit == "512M"
    assert c.DockerSpawner.extra_host_config["nano_cpus"] == 500000000
    assert c.DockerSpawner.cpu_limit is None
    assert (c.Spawner.start_timeout, c.Spawner.http_timeout) == (600, 90)
    assert applied().DockerSpawner.mem_limit == "2G"  # the template's default
    assert "mem_limit" not in applied(NOTEBOOK_MEM_LIMIT="").DockerSpawner  # none, when asked


def test_gpus_become_a_docker_device_request():
    (everything,) = applied(NOTEBOOK_GPUS="all").DockerSpawner.extra_host_config["device_requests"]
    assert (everything["Driver"], everything["Count"], everything["Capabilities"]) == ("nvidia", -1, [["gpu"]])
    (some,) = applied(NOTEBOOK_GPUS="0,2").DockerSpawner.extra_host_config["device_requests"]
    assert some["DeviceIDs"] == ["0", "2"]


def test_shared_folder_mount_and_mode():
    volumes = applied(SHARED_VOLUME="course-data", SHARED_MODE="ro").DockerSpawner.volumes
    assert volumes["course-data"] == {"bind": "/home/jovyan/shared", "mode": "ro"}


def test_profiles_are_the_allowed_images():
    c = applied(NOTEBOOK_IMAGES="Python=lab/python:1; R = lab/r:2")
    assert c.DockerSpawner.allowed_images == {"Python": "lab/python:1", "R": "lab/r:2"}
    assert "allowed_images" not in applied().DockerSpawner


def test_the_culler_is_a_service_with_only_its_documented_scopes():
    c = applied(SERVER_TIMEOUT_SECONDS="600", CULL_EVERY_SECONDS="60", CULL_MAX_AGE_SECONDS="86400")
    (service,) = c.JupyterHub.services
    assert service["name"] == "idle-culler" and "admin" not in service
    assert service["command"][-5:] == ["--timeout=600", "--cull-every=60", "--max-age=86400", "--cull-users=False",
                                       "--cull-admin-users=False"]
    (role,) = c.JupyterHub.load_roles
    assert set(role["scopes"]) == {"list:users", "read:users:activity", "read:servers", "delete:servers"}
    assert "admin:users" in applied(SERVER_TIMEOUT_SECONDS="600", CULL_USERS="yes").JupyterHub.load_roles[0]["scopes"]
    assert "services" not in applied(SERVER_TIMEOUT_SECONDS="0").JupyterHub


@pytest.mark.parametrize(("key", "value"), [
    ("NOTEBOOK_MEM_LIMIT", "lots"), ("NOTEBOOK_CPU_LIMIT", "-1"), ("NOTEBOOK_GPUS", "some"),
    ("SHARED_VOLUME", "not a name"), ("NOTEBOOK_IMAGES", "no-equals-sign"), ("CULL_USERS", "maybe"),
])
def test_operations_settings_are_validated(key, value):
    with pytest.raises(SettingsError, match=f"{key}={value!r}"):
        settings.from_mapping({key: value})


def test_secret_permissions_are_checked(tmp_path):
    stack = Stack(tmp_path, settings.from_mapping({}))
    assert [c.ok for c in doctor.secret_checks(stack)] == [False]  # missing
    secretfiles.ensure_secrets(tmp_path / "secrets")
    assert [c.ok for c in doctor.secret_checks(stack)] == [True]
    (tmp_path / "secrets/cookie_secret").chmod(0o640)
    (check,) = doctor.secret_checks(stack)
    assert check.line().startswith("✗ secrets/cookie_secret is readable by others\n    fix: chmod 600")


def test_a_taken_port_is_found():
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        assert doctor.port_in_use(port) == "is taken by another program"
    assert doctor.port_in_use(port) is None


def test_a_port_on_an_engine_elsewhere_is_left_to_that_engine(monkeypatch):
    """With DOCKER_HOST naming another engine, the port is on its machine: a bind here proves nothing."""
    from jhdeploy import engine

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(engine, "stack_containers", lambda c, project: [])
        fake = type("S", (), {"project": "lab", "published_ports": {"JUPYTERHUB_HTTPS_PORT": port}})()
        for local in ("", "unix:///var/run/docker.sock"):
            monkeypatch.setenv("DOCKER_HOST", local)
            assert [check.ok for check in doctor.port_checks(None, fake)] == [False]
        monkeypatch.setenv("DOCKER_HOST", "ssh://admin@hub.example.org")
        [check] = doctor.port_checks(None, fake)
        assert check.ok and "not checked here, the engine is DOCKER_HOST's" in check.what
