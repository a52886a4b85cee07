"""The metrics add-on's configuration (options.METRICS), made from a stack's settings.

Prometheus, the blackbox exporter and Alertmanager read files, not environment
variables: `invoke start` writes these under state/metrics/ (jhdeploy/state.py),
mounted read-only into their containers (compose/metrics.yml). JSON is YAML, so
each is written as JSON. The alert rules come from conf/metrics/alerts.yml, with
each ${ALERT_...} setting put in its place. state/textfile/stack.prom tells the
rules what this stack expects to find (node-exporter's textfile collector).
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

from jhdeploy_hub import contract

from jhdeploy import options
from jhdeploy.errors import DeployError
from jhdeploy.layout import HUB_SERVICE, PROXY_SERVICE

RULES_TEMPLATE = "conf/metrics/alerts.yml"
INSIDE = "/etc/jhdeploy"  # where the containers see state/metrics/
TOKEN = "/run/secrets/metrics_token"
HUB_CA = "hub-ca.crt"  # the self-signed certificate, which the certificate probe trusts
# Where the services listen on the metrics network.
PROMETHEUS, ALERTMANAGER = "prometheus:9090", "alertmanager:9093"
NODE_EXPORTER, NODE_EXPORTER_PORT = "node-exporter", 9100
TARGETS = {"jupyterhub": f"{HUB_SERVICE}:8081", "proxy": f"{PROXY_SERVICE}:8002",
           "node": f"{NODE_EXPORTER}:{NODE_EXPORTER_PORT}",
           "alertmanager": ALERTMANAGER, "prometheus": "localhost:9090"}
PROXY_TLS_PORT = 8000
TEST_ALERT = "JHDeployReceiverTest"  # `invoke alerts --test`


def on(stack) -> bool:
    return options.METRICS in stack.addons


def certificate_target(stack) -> str | None:
    """host:port of the TLS endpoint behind the public URL, as the probe reaches it: the proxy on the
    metrics network, or the public name itself for Let's Encrypt (Caddy is not on that network)."""
    if stack.ssl.scheme != "https":
        return None
    if stack.uses_le:
        return f"{stack.host}:{stack.settings['JUPYTERHUB_HTTPS_PORT']}"
    return f"{PROXY_SERVICE}:{PROXY_TLS_PORT}"


def prometheus(stack) -> dict[str, Any]:
    s = stack.settings
    every = f"{s['METRICS_SCRAPE_SECONDS']}s"
    labels = {"namespace": stack.project}  # jupyterhub/grafana-dashboards select a hub by it

    def job(name: str, target: str, **more) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": [target], "labels": labels}], **more}

    if stack.in_swarm:  # node-exporter on every node: each task's address, from Swarm's DNS
        node = {"job_name": "node", "dns_sd_configs": [
            {"names": [f"tasks.{stack.project}_{NODE_EXPORTER}"], "type": "A", "port": NODE_EXPORTER_PORT}],
            "relabel_configs": [{"target_label": "namespace", "replacement": stack.project}]}
    else:
        node = job("node", TARGETS["node"])
    jobs = [job("jupyterhub", TARGETS["jupyterhub"], metrics_path="/hub/metrics",
                authorization={"credentials_file": TOKEN}),
            node, *(job(name, TARGETS[name]) for name in ("proxy", "alertmanager", "prometheus"))]
    target = certificate_target(stack)
    if target:
        jobs.append({
            "job_name": "certificate", "metrics_path": "/probe", "params": {"module": ["tls"]},
            "static_configs": [{"targets": [target], "labels": {**labels, "url": stack.url}}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["url"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": "blackbox-exporter:9115"},
            ]})
    return {"global": {"scrape_interval": every, "evaluation_interval": every},
            "rule_files": [f"{INSIDE}/alerts.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [ALERTMANAGER]}]}]},
            "scrape_configs": jobs}


def blackbox(stack) -> dict[str, Any]:
    """One module: a TLS handshake with the public name, which reports the certificate's expiry. The
    self-signed certificate is trusted as itself; any other, as a browser would (the public CAs)."""
    tls: dict[str, Any] = {"server_name": stack.host}
    if stack.ssl.verify == "generated":
        tls["ca_file"] = f"{INSIDE}/{HUB_CA}"
    return {"modules": {"tls": {"prober": "tcp", "timeout": "10s", "tcp": {"tls": True, "tls_config": tls}}}}


def receivers(stack) -> dict[str, Any]:
    """Alertmanager's receiver: the webhook and/or email that the settings and secrets/ name."""
    s, receiver = stack.settings, {"name": "admin"}
    if stack.secret_path("alert_webhook_url").is_file() and stack.secret_path("alert_webhook_url").stat().st_size:
        receiver["webhook_configs"] = [{"url_file": f"{contract.SECRETS}/alert_webhook_url",
                                        "send_resolved": True}]
    if s["ALERT_EMAIL_TO"]:
        email = {"to": s["ALERT_EMAIL_TO"], "from": s["ALERT_EMAIL_FROM"], "smarthost": s["ALERT_SMTP_HOST"],
                 "send_resolved": True}
        if s["ALERT_SMTP_USER"]:
            email["auth_username"] = s["ALERT_SMTP_USER"]
            email["auth_password_file"] = f"{contract.SECRETS}/alert_smtp_password"
        receiver["email_configs"] = [email]
    return receiver


def receiver_kinds(stack) -> list[str]:
    """Alertmanager's integration names of the receivers in use (its notification metrics' labels)."""
    found = receivers(stack)
    return [kind for kind, key in (("webhook", "webhook_configs"), ("email", "email_configs")) if key in found]


def alertmanager(stack) -> dict[str, Any]:
    every = stack.settings["ALERT_REPEAT_SECONDS"]
    route = {"receiver": "admin", "group_by": ["alertname"], "group_wait": f"{min(every, 30)}s",
             "group_interval": f"{every}s", "repeat_interval": "4h",
             # The test alert goes out at once, alone.
             "routes": [{"receiver": "admin", "matchers": [f'alertname="{TEST_ALERT}"'], "group_wait": "0s"}]}
    return {"route": route, "receivers": [receivers(stack)]}


def rules(root: Path, values: dict[str, Any]) -> str:
    """conf/metrics/alerts.yml with its ${ALERT_...} settings in place; Prometheus' own $labels and
    $value stay as they are."""
    path = root / RULES_TEMPLATE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DeployError(f"{RULES_TEMPLATE} cannot be read ({error.strerror}): METRICS=yes needs its alert "
                          "rules. Restore it with `git checkout -- conf/metrics/alerts.yml`.") from None
    # The thresholds only: never a secret (this file is readable by the containers' user).
    wanted = {key: str(value) for key, value in values.items() if key.startswith("ALERT_") and isinstance(value, int)}
    unknown = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(wanted))
    if unknown:
        raise DeployError(f"{RULES_TEMPLATE} names ${{{unknown[0]}}}, which is not a threshold setting; the rules "
                          f"may use these: {', '.join(sorted(wanted))}.")
    return string.Template(text).safe_substitute(wanted)


def files(stack) -> dict[str, str]:
    """state/metrics/: name -> content."""
    made = {"prometheus.yml": prometheus(stack), "blackbox.yml": blackbox(stack),
            "alertmanager.yml": alertmanager(stack)}
    found = {name: json.dumps(content, indent=2) + "\n" for name, content in made.items()}
    found["alerts.yml"] = rules(stack.root, stack.settings.values)
    if stack.ssl.verify == "generated" and stack.secret_path("ssl_cert").exists():
        found[HUB_CA] = stack.secret_path("ssl_cert").read_text()  # public: a certificate
    return found


def expected(stack) -> str:
    """state/textfile/stack.prom: what the alert rules expect to hear from (fence, snapshots)."""
    lines = []
    if stack.fenced:
        lines += ["# HELP jhdeploy_fence_expected The user network fence should be in force.",
                  "# TYPE jhdeploy_fence_expected gauge", "jhdeploy_fence_expected 1"]
    if options.SNAPSHOTS in stack.addons and stack.snapshot_plan()["schedule"]:
        lines += ["# HELP jhdeploy_snapshots_expected Snapshots are scheduled.",
                  "# TYPE jhdeploy_snapshots_expected gauge", "jhdeploy_snapshots_expected 1"]
    return "\n".join(lines) + "\n" if lines else ""
