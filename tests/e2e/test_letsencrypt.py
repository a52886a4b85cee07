"""Issue 6: `invoke start --le` gets a real certificate from a real ACME server (Pebble).

Pebble runs on the stack's network and validates hub.example.test, a network
alias of the Caddy proxy, over real HTTP-01 requests. The test process reaches
the same name through a hosts-file-like mapping to 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid

import pytest
import requests
from harness import FQDN, Poller, docker, pebble_root

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hosts_entry():
    """hub.example.test -> 127.0.0.1 for this process, as an /etc/hosts line would do."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == FQDN else host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = real


def issued(name: str) -> int:
    logs = docker("logs", name)
    return (logs.stdout + logs.stderr).count("Issued certificate serial")


def served_serial(port: int, root: str) -> int:
    context = ssl.create_default_context(cafile=root)
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            context.wrap_socket(raw, server_hostname=FQDN) as tls:
        from cryptography import x509

        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


@pytest.mark.parametrize(("env", "message"), [
    ({"JH_FQDN": ""}, "JH_FQDN='': Let's Encrypt (use_ssl_le, --le) needs the public DNS name"),
    ({"JH_FQDN": "localhost"}, "JH_FQDN='localhost'"),
    ({"JH_EMAIL": "admin-at-example.test"}, "JH_EMAIL='admin-at-example.test'"),
])
def test_bad_input_fails_fast_and_starts_nothing(deployment, acme, env, message):
    saved = dict(deployment.env)
    deployment.env.update(env)
    deployment.write_env()
    try:
        result = deployment.invoke("start", "--le", check=False)
    finally:
        deployment.env.clear()
        deployment.env.update(saved)
        deployment.write_env()
    assert result.returncode == 2 and message in result.stderr
    assert deployment.running_containers() == []


@pytest.fixture(scope="module")
def le_hub(deployment, acme, hosts_entry, tmp_path_factory):
    deployment.invoke("build")
    deployment.invoke("start", "--le")
    deployment.root_pem = pebble_root(acme, tmp_path_factory.mktemp("root"))
    return deployment


def test_certificate_chains_to_pebble_and_the_hub_is_only_behind_the_proxy(le_hub):
    url = f"https://{FQDN}:{le_hub.port}"
    health = requests.get(f"{url}/hub/health", verify=le_hub.root_pem, timeout=10)
    assert health.status_code == 200
    assert health.headers["Strict-Transport-Security"].startswith("max-age=")

    assert docker("port", f"{le_hub.project}-jupyterhub-1").stdout.strip() == ""  # not published
    assert docker("port", f"{le_hub.project}-proxy-1").stdout.strip() == ""  # behind Caddy
    mounts = docker("inspect", "--format", "{{json .Mounts}}", f"{le_hub.project}-caddy-1").stdout
    assert "docker.sock" not in mounts

    status = le_hub.invoke("status").stdout
    assert "Certificate: issued by Pebble" in status and FQDN in status


def test_later_tasks_know_the_mode_that_start_was_given(le_hub):
    """`start --le` is remembered: status and logs need no flag, and know the proxy service."""
    status = le_hub.invoke("status").stdout
    assert "behind caddy" in status and "compose/letsencrypt.yml" in status
    logs = le_hub.invoke("logs", "--service", "caddy", "--no-follow").stdout
    assert "certificate obtained successfully" in logs


def test_login_spawn_lab_and_a_kernel_websocket_through_the_proxy(le_hub):
    import websocket

    url = f"https://{FQDN}:{le_hub.port}"
    client = le_hub.client()
    client.base, client.verify = url, le_hub.root_pem
    assert client.login("alice", le_hub.password("alice")).status_code == 200
    # Behind Caddy the proxy's hop says http; the hub's public URL keeps the login cookie Secure.
    (login_cookie,) = [c for c in client.session.cookies if c.name == "jupyterhub-hub-login"]
    assert login_cookie.secure and login_cookie.has_nonstandard_attr("HttpOnly")
    client.spawn("alice")
    assert client.get("/user/alice/lab").status_code == 200

    xsrf = client._xsrf("/user/alice/")
    kernel = client.request("POST", f"{url}/user/alice/api/kernels", json={"name": "python3"},
                            headers={"X-XSRFToken": xsrf})
    assert kernel.status_code == 201, kernel.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.session.cookies)
    ws = websocket.create_connection(
        f"wss://{FQDN}:{le_hub.port}/user/alice/api/kernels/{kernel.json()['id']}/channels",
        sslopt={"ca_certs": le_hub.root_pem}, cookie=cookies, suppress_origin=True, timeout=30)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "alice",
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell",
        }))
        for _ in range(50):
            reply = json.loads(ws.recv())
            if reply.get("parent_header", {}).get("msg_id") == msg_id and \
                    reply["header"]["msg_type"] == "kernel_info_reply":
                break
        else:
            raise AssertionError("no kernel_info_reply over the WebSocket")
        assert reply["content"]["status"] == "ok"
    finally:
        ws.close()


def test_port_80_redirects_to_https(le_hub):
    response = requests.get(f"http://{FQDN}:{le_hub.env['LE_HTTP_PORT']}/hub/", allow_redirects=False, timeout=10)
    assert response.status_code in (301, 308)
    assert response.headers["Location"].startswith(f"https://{FQDN}")


def test_restart_serves_the_same_certificate_without_a_new_order_and_users_notice_nothing(le_hub, acme):
    serial, orders = served_serial(le_hub.port, le_hub.root_pem), issued(acme)
    assert orders == 1
    # alice's server, started by the WebSocket test, answers throughout.
    with Poller(f"https://{FQDN}:{le_hub.port}/user/alice/api", le_hub.root_pem) as poller:
        le_hub.invoke("restart")  # no --le: the flag of the last start applies
        time.sleep(2)
    assert poller.requests > 20 and poller.failures == [], poller.failures
    assert served_serial(le_hub.port, le_hub.root_pem) == serial
    assert issued(acme) == orders


def test_tls_1_0_and_1_1_are_refused(le_hub):
    from sslyze import ScanCommand, Scanner, ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum

    location = ServerNetworkLocation(hostname=FQDN, port=le_hub.port, ip_address="127.0.0.1")
    scanner = Scanner()
    scanner.queue_scans([ServerScanRequest(server_location=location, scan_commands={
        ScanCommand.TLS_1_0_CIPHER_SUITES, ScanCommand.TLS_1_1_CIPHER_SUITES, ScanCommand.TLS_1_2_CIPHER_SUITES})])
    (result,) = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED
    scans = result.scan_result
    assert scans.tls_1_0_cipher_suites.result.accepted_cipher_suites == []
    assert scans.tls_1_1_cipher_suites.result.accepted_cipher_suites == []
    assert scans.tls_1_2_cipher_suites.result.accepted_cipher_suites  # the scan did reach the server
