"""Issue 17, step 9: `invoke start --le` seen from a browser.

The browser trusts nothing but the test ACME server's root (Pebble's, fetched from its
management API) and resolves hub.example.test to this machine, as a DNS record would.
Its requests pass Caddy, then the proxy: the kernel's WebSocket included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import FQDN, pebble_root
from jupyter import assert_clean, log_in, run_in_new_cell

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def le_hub(deployment, acme, tmp_path_factory):
    deployment.invoke("build")
    deployment.invoke("start", "--le")
    deployment.root_pem = Path(pebble_root(acme, tmp_path_factory.mktemp("root")))
    return deployment


def test_the_browser_trusts_the_acme_certificate_and_a_kernel_runs_through_caddy(browsers, le_hub):
    url = f"https://{FQDN}:{le_hub.port}/"
    browser = browsers.new(trust={le_hub.root_pem: "ca"}, hosts={FQDN: "127.0.0.1"})
    since = browser.mark()
    log_in(browser, le_hub, "alice", url=url)
    browser.element(".jp-LabShell", timeout=120)
    assert browser.url.startswith(url + "user/alice/lab")
    browser.element('.jp-LauncherCard[data-category="Notebook"]').click()
    assert run_in_new_cell(browser, "print(6 * 7)", since) == "42"
    sockets = [r for r in browser.requests_to(f"wss://{FQDN}:{le_hub.port}/user/alice/api/kernels/")
               if r["method"] == "WebSocket"]
    assert sockets and all(r["status"] == 101 for r in sockets), sockets
    browser.shot("letsencrypt-jupyterlab")
    assert_clean(browser, since)
