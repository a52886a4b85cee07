"""Fixtures for end-to-end tests: a real Docker Engine, stand-in base images, and
a deployment directory laid out as a user's clone, driven through `invoke`."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hubclient import HubClient

REPO = Path(__file__).resolve().parents[1]
STANDINS = {
    "JUPYTERHUB_BASE_IMAGE": "jhdeploy-standin/jupyterhub:6.1.1",
    "PROXY_IMAGE": "jhdeploy-standin/configurable-http-proxy:5.3.0",
    "DOCKER_NOTEBOOK_BASE": "jhdeploy-standin/minimal-notebook:latest",
    "BACKUP_IMAGE": "jhdeploy-standin/restic:0.18.0",
    "PROMETHEUS_IMAGE": "jhdeploy-standin/prometheus:v3.5.0",
    "NODE_EXPORTER_IMAGE": "jhdeploy-standin/node-exporter:v1.9.1",
    "BLACKBOX_EXPORTER_IMAGE": "jhdeploy-standin/blackbox-exporter:v0.27.0",
    "ALERTMANAGER_IMAGE": "jhdeploy-standin/alertmanager:v0.28.1",
}
# Fixed test tags: repeated runs reuse the build cache, and a developer's own
# images (the default tags) are never overwritten.
TEST_IMAGES = {
    "LOCAL_HUB_IMAGE": "jhdtest-hub:latest",
    "LOCAL_PROXY_IMAGE": "jhdtest-proxy:latest",
    "LOCAL_NOTEBOOK_BASE": "jhdtest-notebook-base:latest",
    "LOCAL_NOTEBOOK_BODY": "jhdtest-notebook-body:latest",
    "LOCAL_NOTEBOOK_IMAGE": "jhdtest-notebook:latest",
}
# What a user's clone holds; nothing of the developer's own .env or secrets.
DEPLOY_FILES = ["tasks.py", "jhdeploy", "hub", "compose", "dockerfiles", "conf", "scripts",
                ".env-template", "userlist-template", ".dockerignore"]


def copy_checkout(root: Path) -> None:
    """Into ROOT, what a user's clone holds (DEPLOY_FILES)."""
    for name in DEPLOY_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)


PASSWORD = "e2e-shared-password"
USERLIST = "# test users\nalice admin\n\nbob\n"


FQDN = "hub.example.test"  # the Let's Encrypt tests' public name, an alias of Caddy on the stack's network
ROOTFS = "jhdeploy-standin/debian:trixie"  # for helper containers (an identity provider, a TLS server)


def network_cas() -> list[Path]:
    """This network's TLS-inspection CAs, which builds need (JHDEPLOY_TEST_CA_DIR, set by .ci/run)."""
    folder = os.environ.get("JHDEPLOY_TEST_CA_DIR", "")
    return sorted(Path(folder).glob("*.crt")) if folder else []


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(directory: Path) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway certificate authority, like a company's TLS-inspection CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jhdeploy e2e test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / "e2e-ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def issue_server_cert(ca_key, ca_cert, hostname: str, directory: Path, *more_names: str) -> tuple[Path, Path]:
    """A server certificate for `hostname` (and `more_names`), signed by the test CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in (hostname, *more_names)]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o644)  # read by the server's container user; a throwaway test key
    return cert_path, key_path


class Poller(threading.Thread):
    """GET a URL every `every` seconds until stopped; keeps what failed (an error, or a status >= 400)."""

    def __init__(self, url: str, verify, every: float = 0.1):
        super().__init__(daemon=True)
        self.url, self.verify, self.every = url, verify, every
        self.requests, self.failures = 0, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace `verify`
        while not self._stop_event.is_set():
            try:
                status = session.get(self.url, verify=self.verify, timeout=5, allow_redirects=False).status_code
                if status >= 400:
                    self.failures.append(f"HTTP {status}")
            except requests.RequestException as error:
                self.failures.append(type(error).__name__)
            self.requests += 1
            time.sleep(self.every)

    def __enter__(self) -> Poller:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop_event.set()
        self.join()




class Deployment:
    """A deployment directory and the `invoke` tasks run inside it."""

    def __init__(self, root: Path, ca_file: Path, **env: str):
        self.root = root
        self.project = f"jhdtest{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        copy_checkout(root)
        (root / "userlist").write_text(USERLIST)
        # Every image trusts the test CA and this network's own (JHDEPLOY_TEST_CA_DIR, set by .ci/run),
        # as an admin behind a TLS-inspecting proxy sets EXTRA_CA_CERTS up: the stand-ins trust neither.
        (root / "certs").mkdir()
        shutil.copy2(ca_file, root / "certs" / ca_file.name)
        for extra in network_cas():
            shutil.copy2(extra, root / "certs" / extra.name)
        self.env = {
            "EXTRA_CA_CERTS": "certs",
            "COMPOSE_PROJECT_NAME": self.project,
            "JUPYTERHUB_HTTPS_PORT": str(self.port),
            "DUMMY_AUTH_PASSWORD": PASSWORD,
            **STANDINS,
            **TEST_IMAGES,
            **env,
        }
        self.write_env()

    def write_env(self) -> None:
        path = self.root / ".env"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        path.chmod(0o600)  # it may hold passwords: `invoke start` refuses a .env others can read

    @property
    def network(self) -> str:
        return f"{self.project}-network"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/"

    @property
    def cert(self) -> Path:
        return self.root / "secrets" / "jupyterhub.crt"

    def invoke(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.root, capture_output=True, text=True, timeout=timeout,
        )
        # Shown by pytest when a test fails: what the user would have seen.
        print(f"$ invoke {' '.join(args)}  (exit {result.returncode})\n{result.stdout}\n{result.stderr}")
        if check:
            assert result.returncode == 0, f"invoke {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def invoke_env(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        """`invoke` with extra environment (a fault to inject), never raising."""
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, capture_output=True,
                                text=True, timeout=600, env={**os.environ, **env})
        print(f"$ {env} invoke {' '.join(args)}  (exit {result.returncode})\n{result.stdout}\n{result.stderr}")
        return result

    def client(self) -> HubClient:
        return HubClient(self.url, verify=str(self.cert))

    def logged_in(self, name: str) -> HubClient:
        """A client logged in as NAME through the login form."""
        client = self.client()
        response = client.login(name, self.password(name))
        assert response.status_code == 200 and "/hub/login" not in response.url, response.url
        return client

    def password(self, name: str) -> str:
        """What NAME types: userlist admins have their own generated password, the others share one."""
        admins = {line.split()[0] for line in (self.root / "userlist").read_text().splitlines()
                  if line.strip() and not line.startswith("#") and line.split()[1:2] == ["admin"]}
        secret = "admin_password" if name in admins else "shared_password"
        return (self.root / "secrets" / secret).read_text().strip()

    def service_address(self, offset: int) -> str:
        """An address in the lower half of the stack's network, which users' servers may reach (the fence)."""
        config = json.loads(docker("network", "inspect", "--format", "{{json .IPAM.Config}}", self.network).stdout)
        return str(ipaddress.ip_network(config[0]["Subnet"]).network_address + offset)

    def create_network(self) -> None:
        """The stack's network, made as `invoke start` makes it, for containers that must be there first."""
        from invoke import Config, Context

        from jhdeploy import engine
        from jhdeploy.resolve import from_env

        quiet = Context(Config(overrides={"run": {"in_stream": False, "hide": True}}))
        engine.ensure_network(quiet, from_env(self.root, environ={}))

    def running_containers(self) -> list[str]:
        names = []
        for label in (f"com.docker.compose.project={self.project}", f"org.jhdeploy.stack={self.project}"):
            names += docker("ps", "--quiet", "--filter", f"label={label}").stdout.split()
        return names

    def remove_everything(self) -> None:
        """Test cleanup only: the stack, its user containers and its volumes."""
        self.invoke("stop", check=False)
        for label in (f"com.docker.compose.project={self.project}", f"org.jhdeploy.stack={self.project}"):
            ids = docker("ps", "--all", "--quiet", "--filter", f"label={label}").stdout.split()
            if ids:
                docker("rm", "--force", *ids, check=False)
        # A swarm's containers go a moment after their services, and hold their volumes until then.
        for _ in range(60):
            volumes = docker("volume", "ls", "--quiet", "--filter", f"name=^{self.project}-").stdout.split()
            if not volumes or docker("volume", "rm", "--force", *volumes, check=False).returncode == 0:
                break
            time.sleep(1)
        networks = {self.network}
        for label in (f"com.docker.compose.project={self.project}", f"com.docker.stack.namespace={self.project}"):
            networks |= set(docker("network", "ls", "--quiet", "--filter", f"label={label}").stdout.split())
        for network in networks:
            docker("network", "rm", network, check=False)


def pebble_root(name: str, into: Path) -> str:
    """The root that the Pebble container NAME issues under, from its management API."""
    result = docker("exec", name, "curl", "-sS", "--cacert", "/etc/pebble/e2e-ca.crt",
                    "https://localhost:15000/roots/0")
    path = into / "pebble-root.pem"
    path.write_text(result.stdout)
    return str(path)
