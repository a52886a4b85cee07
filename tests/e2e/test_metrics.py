"""Issue 27: Prometheus watches the hub, the proxy, the host and the certificate; its token reads metrics and
nothing else; Alertmanager tells a webhook when the hub goes down and when it is back."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from harness import ROOTFS, TEST_IMAGES, docker, free_port

pytestmark = pytest.mark.e2e


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on this host, as Slack's or Mattermost's would be: it keeps what Alertmanager posts."""

    def __init__(self):
        self.posts: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805 (the handler's own self)
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                self.posts.append(json.loads(body))
                handler.send_response(200)
                handler.end_headers()

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("0.0.0.0", free_port()), Handler)

    def wait_for(self, alertname: str, status: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for post in self.posts:
                if post["status"] == status and any(a["labels"]["alertname"] == alertname for a in post["alerts"]):
                    return post
            time.sleep(1)
        raise AssertionError(f"no {status} {alertname} within {timeout} s; received: {self.posts}")


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def hub(deployment, receiver):
    # Alertmanager reaches this host on the default bridge's gateway, as it would any address on the internet.
    gateway = docker("network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", "bridge").stdout.strip()
    deployment.env.update(
        METRICS="yes", METRICS_PORT=str(free_port()), METRICS_SCRAPE_SECONDS="2",
        ALERT_HUB_DOWN_SECONDS="10", ALERT_REPEAT_SECONDS="5",
        ALERT_WEBHOOK_URL=f"http://{gateway}:{receiver.server_address[1]}/alerts",
        NOTEBOOK_MEM_LIMIT="512M",
        # A choice that cannot start: a bare Debian root filesystem has no Jupyter server.
        NOTEBOOK_IMAGES=f"Standard={TEST_IMAGES['LOCAL_NOTEBOOK_IMAGE']};Broken={ROOTFS}",
    )
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def query(hub, expression: str) -> list[tuple[dict, float]]:
    """Prometheus' answer, asked through `invoke metrics --query` (from inside the metrics network)."""
    out = hub.invoke("metrics", "--query", expression).stdout
    found = []
    for line in out.splitlines():
        labels, value = re.fullmatch(r"\{(.*)\} (\S+)", line).groups()
        found.append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return found


def eventually(hub, expression: str, wanted, timeout: float = 60) -> list[tuple[dict, float]]:
    deadline = time.monotonic() + timeout
    while True:
        answer = query(hub, expression)
        if wanted(answer):
            return answer
        assert time.monotonic() < deadline, f"{expression}: {answer}"
        time.sleep(2)


def test_prometheus_counts_servers_and_failed_starts_and_sees_the_disk_and_the_certificate(hub):
    # A day's starts are the increase of the hub's histogram, seen only from a scrape before them on.
    eventually(hub, 'jupyterhub_server_spawn_duration_seconds_count{status="success"}', bool)
    bob = hub.logged_in("bob")
    response = bob.api("POST", "/users/bob/server", json={"image": "Broken"})
    # 500 when the container cannot even be created (the hub's log says why); else it fails while starting.
    assert response.status_code in (201, 202, 500), response.text
    deadline = time.monotonic() + 120
    while bob.api("GET", "/users/bob").json().get("pending") and time.monotonic() < deadline:
        time.sleep(1)
    assert not bob.api("GET", "/users/bob").json().get("servers"), "the broken image must not start"
    hub.logged_in("alice").spawn("alice", options={"image": "Standard"})
    bob.spawn("bob", options={"image": "Standard"})

    eventually(hub, "jupyterhub_running_servers", lambda a: a and a[0][1] == 2)
    # JupyterHub 5 and later count a start that broke as status="error"; "failure" is a start it refused
    # (throttled, too many users, already pending). The SpawnFailures rule counts both.
    failed = eventually(
        hub, 'sum by (namespace) (jupyterhub_server_spawn_duration_seconds_count{status=~"error|failure"})',
        lambda a: a and a[0][1] >= 1)
    assert failed[0][0]["namespace"] == hub.project  # what jupyterhub/grafana-dashboards select a hub by
    disk = query(hub, 'node_filesystem_avail_bytes{mountpoint="/docker-volumes"}')
    assert disk and disk[0][1] > 0
    expiry = eventually(hub, "probe_ssl_earliest_cert_expiry", lambda a: bool(a))
    assert expiry[0][0]["instance"] == hub.url and expiry[0][1] > time.time() + 300 * 86400
    targets = {labels["job"]: value for labels, value in query(hub, "up")}
    assert targets == {"jupyterhub": 1, "proxy": 1, "node": 1, "certificate": 1, "alertmanager": 1,
                       "prometheus": 1}, targets


def test_the_metrics_token_reads_metrics_and_nothing_else(hub):
    verify = str(hub.cert)
    assert requests.get(hub.url + "hub/metrics", verify=verify, timeout=10).status_code == 403
    token = (hub.root / "secrets/metrics_token").read_text().strip()
    headers = {"Authorization": f"token {token}"}
    metrics = requests.get(hub.url + "hub/metrics", headers=headers, verify=verify, timeout=10)
    assert metrics.status_code == 200 and "jupyterhub_total_users" in metrics.text
    assert requests.get(hub.url + "hub/api/users", headers=headers, verify=verify, timeout=10).status_code == 403


def test_no_user_reaches_prometheus_and_this_host_reaches_it_only_on_loopback(hub):
    probe = ("import urllib.request, sys\n"
             "try:\n    urllib.request.urlopen('http://prometheus:9090/-/ready', timeout=5)\n"
             "except Exception as e:\n    sys.exit(f'refused: {e}')\n")
    reached = docker("exec", f"{hub.project}-alice", "python3", "-c", probe, check=False)
    assert reached.returncode != 0 and "refused" in reached.stderr, reached
    ports = json.loads(docker("inspect", "--format", "{{json .NetworkSettings.Ports}}",
                              f"{hub.project}-prometheus-1").stdout)
    assert [binding["HostIp"] for binding in ports["9090/tcp"]] == ["127.0.0.1"]
    ready = requests.get(f"http://127.0.0.1:{hub.env['METRICS_PORT']}/-/ready", timeout=10)
    assert ready.status_code == 200


def test_a_query_prometheus_refuses_is_said_as_such(hub):
    refused = hub.invoke("metrics", "--query", "rate(jupyterhub_total_users[5m", check=False)
    assert refused.returncode == 2 and "Prometheus refused the query" in refused.stderr, refused
    assert "Traceback" not in refused.stderr


def test_users_disk_use_and_the_usage_reports_charts_come_from_prometheus(hub):
    """Issue 28: the disk-scan service's figures reach Prometheus through node-exporter's textfile collector,
    and `invoke usage` draws its charts from Prometheus' series."""
    hub.invoke("usage", "--disk", "--scan")
    sizes = eventually(hub, "jhdeploy_user_disk_bytes",
                       lambda answer: {"alice", "bob"} <= {labels.get("user") for labels, _ in answer})
    assert all(labels["namespace"] == hub.project for labels, _ in sizes)
    free = query(hub, "jhdeploy_disk_free_bytes")
    reserve = query(hub, "jhdeploy_disk_reserve_bytes")
    assert free[0][1] > reserve[0][1] > 0
    page = hub.root / "metrics-usage.html"
    out = hub.invoke("usage", "--since", "1d", "--html", str(page)).stdout
    assert "Asking Prometheus" in out and "Without METRICS=yes" not in out
    assert page.read_text().count("Source: Prometheus.") == 3, "active users, running servers and start times"


def test_a_test_alert_reaches_the_webhook(hub, receiver):
    tested = hub.invoke("alerts", "--test")
    assert "✓ webhook: accepted it" in tested.stdout, tested.stdout
    post = receiver.wait_for("JHDeployReceiverTest", "firing", 30)
    assert "nothing is wrong" in post["alerts"][0]["annotations"]["summary"]
    doctor = hub.invoke("doctor", check=False).stdout
    assert "✓ Metrics:  Prometheus on 127.0.0.1" in doctor and "✓ Alerts:   to webhook" in doctor, doctor


def test_the_hub_down_alert_arrives_and_then_its_resolution(hub, receiver):
    container = f"{hub.project}-jupyterhub-1"
    docker("stop", container)
    try:
        post = receiver.wait_for("HubDown", "firing", 90)
        assert post["alerts"][0]["labels"]["severity"] == "critical"
        listed = hub.invoke("alerts").stdout
        assert "HubDown" in listed, listed
    finally:
        docker("start", container)
    receiver.wait_for("HubDown", "resolved", 120)
    status = hub.invoke("status").stdout
    assert re.search(r"Metrics:  Prometheus on 127\.0\.0\.1:\d+, (\d+) of \1 targets up", status), status
    assert "Alerts:   to webhook" in status, status


def test_a_broken_rule_is_refused_before_anything_changes(hub):
    rules = hub.root / "conf/metrics/alerts.yml"
    good = rules.read_text()
    hub_before = docker("inspect", "--format", "{{.Id}}", f"{hub.project}-jupyterhub-1").stdout
    rules.write_text(good.replace('expr: up{job="jupyterhub"} == 0', 'expr: up{job="jupyterhub" == 0'))
    try:
        refused = hub.invoke("restart", check=False)
    finally:
        rules.write_text(good)
    assert refused.returncode != 0 and "Prometheus would refuse the alert rules" in refused.stderr, refused
    assert "conf/metrics/alerts.yml" in refused.stderr and "Traceback" not in refused.stderr
    assert docker("inspect", "--format", "{{.Id}}", f"{hub.project}-jupyterhub-1").stdout == hub_before


def test_turning_metrics_off_removes_its_services_and_keeps_users_servers(hub):
    running = set(hub.running_containers())
    hub.env["METRICS"] = "no"
    hub.write_env()
    restarted = hub.invoke("restart")
    assert "proxy changed" in restarted.stdout  # said before its connections drop
    names = docker("ps", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={hub.project}")
    assert not {"prometheus", "node-exporter", "blackbox-exporter", "alertmanager"} & {
        name.removeprefix(f"{hub.project}-").rsplit("-", 1)[0] for name in names.stdout.split()}
    servers = {f"{hub.project}-alice", f"{hub.project}-bob"}
    ids = {docker("inspect", "--format", "{{.Id}}", name).stdout.strip()[:12] for name in servers}
    assert ids <= running  # the same containers, still running (`docker ps` gives short ids)
    assert "Metrics:  off" in hub.invoke("status").stdout
    refused = hub.invoke("alerts", check=False)
    assert refused.returncode != 0 and "Metrics are off: set METRICS=yes" in refused.stderr
