"""The stand-ins keep the real images' contract and are no kinder than they are."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from harness import REPO, ROOTFS, STANDINS, docker, network_cas

sys.path.insert(0, str(REPO / "tests/images"))
import check_contract  # noqa: E402

pytestmark = pytest.mark.e2e

ALL_STANDINS = sorted({*STANDINS.values(), "jhdeploy-standin/jupyterhub:5.5.4", "jhdeploy-standin/postgres:17",
                       "jhdeploy-standin/caddy:2", ROOTFS})


def test_notebook_standin_keeps_the_contract_of_minimal_notebook(docker_engine):
    assert check_contract.broken(STANDINS["DOCKER_NOTEBOOK_BASE"]) == []


def test_the_contract_check_catches_an_image_that_breaks_it(docker_engine):
    problems = "\n".join(check_contract.broken(STANDINS["JUPYTERHUB_BASE_IMAGE"]))
    for promise in ("entrypoint:", "id:", "command mamba:", "command tini:", "env NB_USER:"):
        assert promise in problems


def fingerprints(pem: str) -> set[str]:
    blocks = pem.split("-----BEGIN CERTIFICATE-----")[1:]
    return {"".join(block.split("-----END CERTIFICATE-----")[0].split()) for block in blocks}


@pytest.mark.skipif(not network_cas(), reason="JHDEPLOY_TEST_CA_DIR names no CA of this network")
@pytest.mark.parametrize("image", ALL_STANDINS)
def test_standins_trust_only_the_public_cas(docker_engine, image):
    """Like the real images: EXTRA_CA_CERTS is what makes a build pass behind TLS inspection."""
    ours = set().union(*(fingerprints(Path(ca).read_text()) for ca in network_cas()))
    store = docker("run", "--rm", "--user", "0", "--entrypoint", "cat", image, "/usr/lib/ssl/cert.pem").stdout
    assert len(fingerprints(store)) > 100  # the public CAs are there
    assert not fingerprints(store) & ours
    listing = docker("run", "--rm", "--user", "0", "--entrypoint", "ls", image, "-A", "/tmp").stdout
    assert listing.strip() == ""
