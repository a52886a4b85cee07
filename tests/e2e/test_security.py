"""Issue 14: secure by default, checked as an attacker on the same network or host would try it."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import threading

import pytest
import requests
from cryptography import x509
from harness import Deployment, docker, issue_server_cert

pytestmark = pytest.mark.e2e

OWN_FQDN = "own.example.test"


@pytest.fixture(scope="module")
def fresh(docker_engine, test_ca, tmp_path_factory):
    """A deployment as a new admin makes it: nothing about passwords in .env."""
    deployment = Deployment(tmp_path_factory.mktemp("fresh"), test_ca[0])
    del deployment.env["DUMMY_AUTH_PASSWORD"]
    deployment.write_env()
    yield deployment
    deployment.remove_everything()


@pytest.fixture(scope="module")
def hub(fresh):
    fresh.invoke("setup")
    fresh.invoke("build")
    fresh.invoke("start")
    return fresh


def login(hub, name: str, password: str):
    client = hub.client()
    response = client.login(name, password)
    return client, response.status_code == 200 and "/hub/login" not in response.url


def test_setup_writes_no_known_password_and_an_admin_cannot_use_the_shared_one(hub):
    shared = (hub.root / "secrets/shared_password").read_text().strip()
    assert len(shared) >= 16 and "DUMMY_AUTH_PASSWORD" not in (hub.root / ".env").read_text()
    assert not login(hub, "bob", "change-me-now")[1]
    assert login(hub, "bob", shared)[1]
    assert hub.invoke("user-password", "bob").stdout.strip().splitlines()[-1] == shared
    assert not login(hub, "alice", shared)[1]  # alice is an admin: the users' password is not hers
    admin = hub.invoke("user-password", "alice").stdout.strip().splitlines()[-1]
    client, ok = login(hub, "alice", admin)
    assert ok and client.api("GET", "/user").json()["admin"] is True


def test_a_userlist_of_comments_lets_nobody_in(hub):
    userlist = hub.root / "userlist"
    saved = userlist.read_text()
    userlist.write_text("# nobody yet\n")
    try:
        result = hub.invoke("restart")
        assert "userlist names nobody, so nobody can log in" in result.stderr
        shared = hub.password("bob")
        for name in ("bob", "mallory", "jovyan"):
            assert not login(hub, name, shared)[1], name
    finally:
        userlist.write_text(saved)
        hub.invoke("restart")


@pytest.fixture(scope="module")
def servers(hub):
    for name in ("alice", "bob"):
        client, ok = login(hub, name, hub.password(name))
        assert ok
        client.spawn(name)
    return {name: f"{hub.project}-{name}" for name in ("alice", "bob")}


def address(container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return docker("inspect", "--format", template, container).stdout.strip()


def connect_from(container: str, host: str, port: int):
    code = ("import socket, sys\n"
            "try:\n"
            f"    socket.create_connection(({host!r}, {port}), timeout=5).close(); print('connected')\n"
            "except OSError as error:\n"
            "    print(type(error).__name__)\n")
    return docker("exec", container, "python3", "-c", code, check=False).stdout.strip()


@pytest.fixture
def host_service():
    """A TCP service on this host, on every address, as a database or an admin tool would listen."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    thread = threading.Thread(target=lambda: [listener.accept()[0].close() for _ in range(100)], daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


def test_users_are_fenced_from_each_other_and_from_the_host_but_reach_the_hub(hub, servers, host_service):
    alice, bob = servers["alice"], servers["bob"]
    gateway = json.loads(docker("network", "inspect", "--format", "{{json .IPAM.Config}}", hub.network).stdout)[0][
        "Gateway"]
    assert connect_from(alice, address(bob, hub.network), 8888) == "ConnectionRefusedError"
    assert connect_from(alice, gateway, host_service) == "ConnectionRefusedError"
    # The same host service answers the hub, which is not fenced: the refusal is the fence's.
    assert connect_from(f"{hub.project}-jupyterhub-1", gateway, host_service) == "connected"
    api = docker("exec", alice, "python3", "-c",
                 "import urllib.request; print(urllib.request.urlopen('http://jupyterhub:8081/hub/api').status)")
    assert api.stdout.strip() == "200"
    # The metadata rule is read from the firewall, never tried.
    rules = docker("exec", f"{hub.project}-fence-1", "sh", "-c", "iptables-nft -w -S 2>/dev/null || iptables -w -S")
    assert "-d 169.254.169.254/32 -j REJECT" in rules.stdout
    assert "User network fence: fence: in force" in hub.invoke("doctor").stdout


def test_user_containers_are_hardened_and_a_fork_loop_stops_at_the_limit(hub, servers):
    host = json.loads(docker("inspect", "--format", "{{json .HostConfig}}", servers["bob"]).stdout)
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["CapDrop"] == ["ALL"]
    assert host["PidsLimit"] == 1024 and host["Memory"] == 2 * 1024**3
    loop = docker("exec", servers["bob"], "timeout", "60", "sh", "-c",
                  "i=0; while [ $i -lt 3000 ]; do sleep 20 & i=$((i+1)); done; wait", check=False)
    assert "fork" in loop.stderr.lower() or "resource temporarily unavailable" in loop.stderr.lower(), loop.stderr
    assert requests.get(hub.url + "hub/health", verify=str(hub.cert), timeout=10).status_code == 200


def test_self_signed_tls_is_modern_sends_hsts_and_the_certificate_is_no_ca(hub):
    from sslyze import ScanCommand, Scanner, ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum

    location = ServerNetworkLocation(hostname="localhost", port=hub.port, ip_address="127.0.0.1")
    scanner = Scanner()
    scanner.queue_scans([ServerScanRequest(server_location=location, scan_commands={
        ScanCommand.TLS_1_0_CIPHER_SUITES, ScanCommand.TLS_1_1_CIPHER_SUITES, ScanCommand.TLS_1_2_CIPHER_SUITES,
        ScanCommand.HTTP_HEADERS})])
    (result,) = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED
    scans = result.scan_result
    assert scans.tls_1_0_cipher_suites.result.accepted_cipher_suites == []
    assert scans.tls_1_1_cipher_suites.result.accepted_cipher_suites == []
    accepted = [s.cipher_suite.name for s in scans.tls_1_2_cipher_suites.result.accepted_cipher_suites]
    assert accepted and not [name for name in accepted if name.endswith("_CBC_SHA")], accepted
    assert scans.http_headers.result.strict_transport_security_header is not None
    cert = x509.load_pem_x509_certificate(hub.cert.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_your_own_certificate_is_served_as_it_is_and_nothing_of_yours_in_secrets_changes(hub, test_ca, tmp_path):
    _, ca_key, ca_cert = test_ca
    cert, key = issue_server_cert(ca_key, ca_cert, OWN_FQDN, tmp_path)
    (hub.root / "certs/own").mkdir()
    shutil.copy2(cert, hub.root / "certs/own/hub.crt")
    shutil.copy2(key, hub.root / "certs/own/hub.key")
    foreign = hub.root / "secrets/institution-notes.pem"
    foreign.write_bytes(b"not ours: leave me alone\n")
    foreign.chmod(0o600)  # anything in secrets/ must be owner-only, or `start` refuses
    before = {p.name: p.read_bytes() for p in (hub.root / "secrets").iterdir()}
    saved = dict(hub.env)
    hub.env.update(JUPYTERHUB_SSL="use_ssl_own", JH_FQDN=OWN_FQDN, SSL_CERT_PATH="certs/own/hub.crt",
                   SSL_KEY_PATH="certs/own/hub.key")
    hub.write_env()
    try:
        hub.invoke("setup")
        restarted = hub.invoke("restart")
        assert "proxy changed: recreating it drops users' open connections" in restarted.stdout
        context = ssl.create_default_context(cafile=str(hub.root / "certs/e2e-ca.crt"))
        with socket.create_connection(("127.0.0.1", hub.port)) as raw, \
                context.wrap_socket(raw, server_hostname=OWN_FQDN) as tls:
            served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        assert served == x509.load_pem_x509_certificate(cert.read_bytes())
        hub.invoke("restart")
        assert foreign.read_bytes() == b"not ours: leave me alone\n"
        assert {p.name: p.read_bytes() for p in (hub.root / "secrets").iterdir()} == before
    finally:
        hub.env.clear()
        hub.env.update(saved)
        hub.write_env()
        hub.invoke("restart")
