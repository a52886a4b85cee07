"""Issue 3: resumable notebook layers, the users' environment, UI choice, branding, extra CAs."""

from __future__ import annotations

import base64
import re
import time

import pytest
from conftest import STANDINS, TEST_IMAGES, docker, image_id, issue_server_cert

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
           "jhdeploy-standin/debian:bookworm", "python3", "-c", code)
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
