"""Fixtures shared by the end-to-end and browser tiers: a real Docker Engine, the
stand-in base images, one test CA per session, and deployments driven through
`invoke`. The helpers they use live in harness.py."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from harness import FQDN, REPO, Deployment, docker, free_port, issue_server_cert, make_ca


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """One CA per session, so that all deployments share the images' build cache."""
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def docker_engine():
    """A reachable engine and the stand-in base images (built once, idempotently)."""
    if docker("info", check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no Docker Engine answers; .ci/run must start dockerd.")
        pytest.skip("no Docker Engine answers `docker info`")
    subprocess.run(["bash", str(REPO / "tests/images/build-standins.sh")], check=True)


@pytest.fixture(scope="module")
def deployment(docker_engine, test_ca, tmp_path_factory):
    deployment = Deployment(tmp_path_factory.mktemp("deploy"), test_ca[0])
    yield deployment
    deployment.remove_everything()


@pytest.fixture(scope="module")
def acme(deployment, test_ca, tmp_path_factory):
    """Pebble on the stack's network, its listener certificate signed by the test CA."""
    directory = tmp_path_factory.mktemp("pebble")
    _, ca_key, ca_cert = test_ca
    issue_server_cert(ca_key, ca_cert, "pebble", directory, "localhost")
    (directory / "e2e-ca.crt").write_bytes((deployment.root / "certs/e2e-ca.crt").read_bytes())
    (directory / "pebble-config.json").write_text(json.dumps({"pebble": {
        "listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
        "certificate": "/etc/pebble/server.crt", "privateKey": "/etc/pebble/server.key",
        # Validate on the real ports of the proxy, as Let's Encrypt does.
        "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False,
    }}))
    deployment.create_network()
    name = f"{deployment.project}-pebble"
    # An address in the services' half: from the users' half, where Docker would put it, the fence
    # would refuse its validation requests to Caddy.
    docker("run", "--detach", "--name", name, "--network", deployment.network, "--network-alias", "pebble",
           "--ip", deployment.service_address(100),
           "--volume", f"{directory}:/etc/pebble:ro", "jhdeploy-standin/pebble:latest",
           "pebble", "-config", "/etc/pebble/pebble-config.json", "-dnsserver", "127.0.0.11:53")
    deployment.env.update(
        JH_FQDN=FQDN, JH_EMAIL="admin@example.test", CERT_SERVER="https://pebble:14000/dir",
        ACME_CA_ROOT="certs/e2e-ca.crt", CADDY_IMAGE="jhdeploy-standin/caddy:2", LE_HTTP_PORT=str(free_port()),
    )
    deployment.write_env()
    yield name
    docker("rm", "--force", name, check=False)
