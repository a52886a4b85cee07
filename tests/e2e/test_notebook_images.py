"""Issue 3: resumable notebook layers, the users' environment, UI choice, branding, extra CAs."""

from __future__ import annotations

import base64
import re
import time

import pytest
from harness import ROOTFS, STANDINS, TEST_IMAGES, docker, image_id, issue_server_cert, network_cas

pytestmark = pytest.mark.e2e

BROKEN = "jhdeploy-no-such-package-e2e==0.0.1\n"
REPAIRED = "tabulate==0.10.0\n"
# A 1x1 PNG.
LOGO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def images(deployment):
    # Fail fast on the package that cannot exist: two attempts, one second apart.
    deployment.env.update(NOTEBOOK_BUILD_RETRIES="2", NOTEBOOK_BUILD_RETRY_DELAY="1")
    deployment.write_env()
    deployment.invoke("build")
    return deployment


def logged_in_server(deployment, username: str):
    client = deployment.client()
    assert client.login(username, deployment.password(username)).status_code == 200
    client.spawn(username)
    return client


def test_failed_body_layer_names_itself_and_resumes_without_rebuilding_the_base(images):
    base_before = image_id(TEST_IMAGES["LOCAL_NOTEBOOK_BASE"])
    requirements = images.root / "conf/notebook/requirements.txt"

    requirements.write_text(BROKEN)
    failed = images.invoke("build", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Layer notebook_body failed" in output
    assert "install-environment: attempt 1 failed; retrying in 1 s" in output  # the bounded retry
    assert "jhdeploy-no-such-package-e2e" in output.split("Last lines:")[1]  # the cause is shown
    resume = re.search(r"resume from this layer with:\s+invoke (.+)", output).group(1).split()
    assert resume == ["notebook-body", "notebook-image"]

    requirements.write_text(REPAIRED)
    images.invoke(*resume)

    assert image_id(TEST_IMAGES["LOCAL_NOTEBOOK_BASE"]) == base_before
    result = docker("run", "--rm", "--entrypoint", "python3", TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"],
                    "-c", "import tabulate; print(tabulate.__version__)")
    assert result.stdout.strip() == "0.10.0"


def test_a_layer_without_its_lower_layer_says_what_to_run(images):
    images.env["LOCAL_NOTEBOOK_BODY"] = "jhdtest-notebook-body:never-built"
    images.write_env()
    try:
        result = images.invoke("notebook-image", check=False)
    finally:
        images.env["LOCAL_NOTEBOOK_BODY"] = TEST_IMAGES["LOCAL_NOTEBOOK_BODY"]
        images.write_env()
    assert result.returncode != 0
    assert "notebook_body" in result.stderr and "is not built yet" in result.stderr
    assert "invoke notebook-image --with-deps" in result.stderr


def test_server_runs_as_the_notebook_user_and_opens_jupyterlab(images):
    images.invoke("start")
    client = logged_in_server(images, "alice")
    landing = client.get("/user/alice/")
    assert landing.status_code == 200
    assert landing.url.endswith("/user/alice/lab")
    assert docker("exec", f"{images.project}-alice", "id", "-u").stdout.strip() == "1000"


def test_a_server_starts_lean_and_keeps_what_users_use(images):
    container = f"{images.project}-alice"  # started by the test above
    # Bytecode was written at build time: the start compiled nothing into the container's layer.
    assert [line for line in docker("diff", container).stdout.splitlines() if line.endswith(".pyc")] == []
    loaded = set(re.findall(r"(\S+) \| extension was successfully loaded", docker("logs", container).stderr))
    assert {"jupyterlab", "notebook", "jupyter_server_terminals", "jupyter_lsp"} <= loaded
    assert not loaded & {"nbclassic", "notebook_shim"}
    # jsonschema checks IRIs with rfc3987 and never builds rfc3987-syntax's parser (in the server and the hub).
    probe = ("import sys, jupyter_events, jsonschema; iri = jsonschema.FormatChecker().conforms; "
             "print(iri('https://example.org/ä', 'iri'), iri('not an iri', 'iri'), 'rfc3987_syntax' in sys.modules)")
    assert docker("exec", container, "python3", "-c", probe).stdout.split() == ["True", "False", "False"]
    hub = docker("run", "--rm", "--entrypoint", "python3", TEST_IMAGES["LOCAL_HUB_IMAGE"], "-c",
                 "import sys, jupyterhub.app; print('rfc3987_syntax' in sys.modules)")
    assert hub.stdout.strip() == "False"


def start_env(image: str, *flags: str) -> dict[str, str]:
    """The environment start.sh hands to the server's command, after the before-notebook.d hooks."""
    lines = docker("run", "--rm", *flags, image, "env").stdout.splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line))


def test_the_conda_hook_is_replayed_without_running_conda(images):
    conda_keys = ("PATH", "CONDA_PREFIX", "CONDA_SHLVL", "CONDA_DEFAULT_ENV", "CONDA_EXE", "CONDA_PYTHON_EXE")
    ours, base = TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"], STANDINS["DOCKER_NOTEBOOK_BASE"]
    expected = {key: start_env(base).get(key) for key in conda_keys}
    assert expected["CONDA_PREFIX"] == "/opt/conda" and expected["CONDA_SHLVL"] == "1"
    assert {key: start_env(ours).get(key) for key in conda_keys} == expected
    # Replayed: a `conda` that only complains is never called (the base image's hook calls it).
    hook = "/usr/local/bin/before-notebook.d/10activate-conda-env.sh"
    probe = f'conda() {{ echo conda-ran; }}; source {hook} 2>&1; echo "prefix=$CONDA_PREFIX"'
    def sourced(image: str) -> str:
        return docker("run", "--rm", "--entrypoint", "bash", image, "-c", probe).stdout.strip()

    assert sourced(ours) == "prefix=/opt/conda"
    assert "conda-ran" in sourced(base)
    # Another PATH than the image's: the original hook runs, and conda activates base as before.
    other = start_env(ours, "--env", "PATH=/usr/local/bin:/opt/conda/bin:/usr/bin:/bin")
    assert other["CONDA_PREFIX"] == "/opt/conda" and other["PATH"].startswith("/opt/conda/bin:")


def test_ui_logo_and_templates_are_hub_settings_applied_by_restart(images):
    image_before = image_id(TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"])
    (images.root / "conf/logo.png").write_bytes(LOGO)
    (images.root / "conf/jupyterhub_config.d/50-announcement.py").write_text(
        'c.JupyterHub.template_vars = {"announcement": "Maintenance on Friday at 18:00"}\n'
    )
    images.env.update(JUPYTER_UI="notebook", LOGO_IMAGE="conf/logo.png")
    images.write_env()

    images.invoke("restart")  # leaves alice's running server alone: the interface applies to her next start

    client = images.client()
    assert client.login("alice", images.password("alice")).status_code == 200
    client.stop_server("alice")
    client.wait_stopped("alice")
    client.spawn("alice")
    landing = client.get("/user/alice/")
    assert landing.status_code == 200
    assert landing.url.endswith("/user/alice/tree")  # Notebook 7
    assert client.get("/hub/logo").content == LOGO
    home = client.get("/hub/home").text
    assert 'id="jhdeploy-announcement"' in home and "Maintenance on Friday at 18:00" in home
    assert image_id(TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"]) == image_before  # no rebuild


def test_spawned_server_trusts_the_extra_ca(images, test_ca, tmp_path):
    _, ca_key, ca_cert = test_ca
    cert, key = issue_server_cert(ca_key, ca_cert, "internal-tls.test", tmp_path)
    server = f"{images.project}-tls"
    code = ("import http.server, ssl\n"
            "s = http.server.HTTPServer(('0.0.0.0', 8443), http.server.SimpleHTTPRequestHandler)\n"
            "x = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
            "x.load_cert_chain('/tls/server.crt', '/tls/server.key')\n"
            "s.socket = x.wrap_socket(s.socket, server_side=True)\n"
            "s.serve_forever()\n")
    # An address in the services' half: users' servers may reach what an admin attaches there (the fence).
    docker("run", "--detach", "--name", server, "--network", images.network, "--ip", images.service_address(50),
           "--network-alias", "internal-tls.test", "--label", f"org.jhdeploy.stack={images.project}",
           "--volume", f"{tmp_path}:/tls:ro", "--workdir", "/tmp",
           ROOTFS, "python3", "-c", code)
    try:
        logged_in_server(images, "bob")
        fetch = "import requests; print(requests.get('https://internal-tls.test:8443/', timeout=10).status_code)"
        for _ in range(20):  # the server container needs a moment to listen
            trusted = docker("exec", f"{images.project}-bob", "python3", "-c", fetch, check=False)
            if "Connection refused" not in trusted.stderr:
                break
            time.sleep(0.5)
        assert trusted.stdout.strip() == "200", trusted.stderr
        curl = docker("exec", f"{images.project}-bob", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                      "https://internal-tls.test:8443/", check=False)
        assert curl.stdout == "200", curl.stderr

        # The same request from the upstream base image, built without EXTRA_CA_CERTS, is refused.
        untrusted = docker("run", "--rm", "--network", images.network, STANDINS["DOCKER_NOTEBOOK_BASE"],
                           "python3", "-c", fetch, check=False)
        assert untrusted.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    finally:
        docker("rm", "--force", server, check=False)


ENVIRONMENT = "channels:\n  - conda-forge\ndependencies:\n  - humanize\n"
EXTRA_KERNEL = "channels:\n  - conda-forge\ndependencies:\n  - python=3.13\n  - ipykernel\n  - toolz\n"


@pytest.fixture(scope="module")
def environment(images):
    """Every input of the users' environment at once: conda, an extra kernel, apt and pip."""
    notebook = images.root / "conf/notebook"
    (notebook / "environment.yml").write_text(ENVIRONMENT)
    (notebook / "kernels/extra.yml").write_text(EXTRA_KERNEL)
    (notebook / "apt.txt").write_text("jq  # a command-line JSON tool\n")
    (notebook / "requirements.txt").write_text(REPAIRED)
    images.invoke("build")
    images.invoke("restart")
    client = images.client()
    assert client.login("bob", images.password("bob")).status_code == 200
    client.stop_server("bob")  # its next start takes the new image
    client.wait_stopped("bob")
    client.spawn("bob")
    return client


def test_conda_an_extra_kernel_apt_and_pip_all_take_effect_in_a_server(images, environment):
    code = "import humanize, tabulate; print(humanize.__name__, tabulate.__version__)"
    assert environment.run_code("bob", code).split() == ["humanize", "0.10.0"]
    extra = environment.run_code("bob", "import os, sys, toolz; print(sys.prefix, os.environ['CONDA_PREFIX'])",
                                 kernel="extra")
    assert extra.split() == ["/opt/conda/envs/extra", "/opt/conda/envs/extra"]
    jq = docker("exec", f"{images.project}-bob", "jq", "--version")
    assert jq.returncode == 0 and jq.stdout.startswith("jq-")


def test_the_servers_jupyterhub_equals_the_hubs_though_the_base_held_another(images, environment):
    version = "import jupyterhub; print(jupyterhub.__version__)"
    def of(image: str) -> str:
        return docker("run", "--rm", "--entrypoint", "python3", image, "-c", version).stdout.strip()

    assert of(STANDINS["DOCKER_NOTEBOOK_BASE"]) != images.env.get("JUPYTERHUB_VERSION", "6.1.1")
    assert of(TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"]) == of(TEST_IMAGES["LOCAL_HUB_IMAGE"]) == "6.1.1"


def test_doctor_warns_when_the_base_pins_another_jupyterhub(images, tmp_path):
    pinned = "jhdtest-pinned-base:latest"
    (tmp_path / "Dockerfile").write_text(f"FROM {STANDINS['DOCKER_NOTEBOOK_BASE']}\n"
                                         "RUN echo 'jupyterhub 5.5.*' >> /opt/conda/conda-meta/pinned\n")
    docker("build", "--quiet", "--tag", pinned, str(tmp_path))
    assert "pins jupyterhub" not in images.invoke("doctor", check=False).stdout
    images.env["DOCKER_NOTEBOOK_BASE"] = pinned
    images.write_env()
    try:
        doctor = images.invoke("doctor", check=False).stdout
    finally:
        images.env["DOCKER_NOTEBOOK_BASE"] = STANDINS["DOCKER_NOTEBOOK_BASE"]
        images.write_env()
    assert f"! DOCKER_NOTEBOOK_BASE={pinned} pins jupyterhub 5.5.* (conda-meta/pinned)" in doctor
    assert "cannot install JUPYTERHUB_VERSION=6.1.1" in doctor


@pytest.mark.skipif(not network_cas(), reason="this network inspects no TLS (JHDEPLOY_TEST_CA_DIR is empty)")
def test_without_the_extra_cas_the_body_fails_at_the_conda_step(images, environment):
    """The stand-in's mamba trusts only the public CAs unless told: as the real one, behind this network."""
    saved = dict(images.env)
    images.env.update(EXTRA_CA_CERTS="", LOCAL_NOTEBOOK_BASE="jhdtest-noca-base:latest",
                      LOCAL_NOTEBOOK_BODY="jhdtest-noca-body:latest", LOCAL_NOTEBOOK_IMAGE="jhdtest-noca:latest")
    images.write_env()
    try:
        failed = images.invoke("notebook-body", "--with-deps", check=False)  # the hub image would fail first
    finally:
        images.env.clear()
        images.env.update(saved)
        images.write_env()
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0 and "Layer notebook_body failed" in output
    assert "mamba: could not download the packages" in output.split("Last lines:")[1]
    assert re.search(r"resume from this layer with:\s+invoke notebook-body$", output, re.MULTILINE)
