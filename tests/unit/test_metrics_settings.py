"""The metrics add-on's settings, configuration files and rules, with no Docker (issue 27)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_stack import compose_binary

from jhdeploy import metricsconf, network, options, settings, setup, swarm, validation
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

REPO = Path(__file__).resolve().parents[2]


def stack(root: Path = REPO, mode: str = "compose", **values) -> Stack:
    return Stack(root, settings.from_mapping({"METRICS": "yes", **values}), mode=mode)


@pytest.fixture
def checkout(tmp_path):
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    return tmp_path


def merged_config(s: Stack) -> dict:
    """`compose config` of the stack's files, as Compose would run them (no daemon needed)."""
    argv = [*compose_binary(), "--project-name", s.project]
    for path in s.compose_files:
        argv += ["--file", str(REPO / path)]
    env = {"PATH": "/usr/bin:/bin", **s.compose_env(), **network.Plan(network.EXAMPLE).compose_env()}
    return json.loads(subprocess.run([*argv, "config", "--format", "json"], capture_output=True, text=True,
                                     env=env, check=True).stdout)


def jobs(s: Stack) -> dict:
    return {job["job_name"]: job for job in metricsconf.prometheus(s)["scrape_configs"]}


def test_prometheus_reads_the_hub_with_its_token_and_labels_every_target_with_the_project():
    found = jobs(stack(COMPOSE_PROJECT_NAME="physics"))
    assert set(found) == {"jupyterhub", "proxy", "node", "alertmanager", "prometheus", "certificate"}
    hub = found["jupyterhub"]
    assert hub["metrics_path"] == "/hub/metrics"
    assert hub["authorization"] == {"credentials_file": "/run/secrets/metrics_token"}
    assert all(config["labels"]["namespace"] == "physics" for job in found.values()
               for config in job["static_configs"])


def test_the_certificate_probe_follows_the_ssl_mode():
    ss = stack(JH_FQDN="hub.example.org", JUPYTERHUB_HTTPS_PORT="8443")
    assert jobs(ss)["certificate"]["static_configs"][0]["targets"] == ["proxy:8000"]
    assert jobs(ss)["certificate"]["static_configs"][0]["labels"]["url"] == "https://hub.example.org:8443/"
    tls = metricsconf.blackbox(ss)["modules"]["tls"]["tcp"]["tls_config"]
    assert tls == {"server_name": "hub.example.org", "ca_file": "/etc/jhdeploy/hub-ca.crt"}
    le = stack(JUPYTERHUB_SSL="use_ssl_le", JH_FQDN="hub.example.org", JH_EMAIL="a@example.org")
    assert jobs(le)["certificate"]["static_configs"][0]["targets"] == ["hub.example.org:443"]
    assert "ca_file" not in metricsconf.blackbox(le)["modules"]["tls"]["tcp"]["tls_config"]
    assert "certificate" not in jobs(stack(JUPYTERHUB_SSL="no_ssl"))


def test_the_rules_get_the_thresholds_and_keep_prometheus_own_templates():
    text = metricsconf.rules(REPO, stack(ALERT_HUB_DOWN_SECONDS="45", ALERT_CERT_DAYS="21").settings.values)
    assert "for: 45s" in text and "< 21 * 86400" in text
    assert "{{ $labels.instance }}" in text and "{{ $value" in text
    assert not re.search(r"\$\{ALERT_[A-Z]", text)


def test_a_rule_naming_an_unknown_setting_or_a_secret_is_refused_with_its_name(checkout):
    path = checkout / metricsconf.RULES_TEMPLATE
    path.write_text(path.read_text().replace("${ALERT_CERT_DAYS}", "${ALERT_CERT_DAZE}"))
    s = stack(checkout)
    with pytest.raises(DeployError, match=r"names \$\{ALERT_CERT_DAZE\}, which is not a threshold setting.*"
                                          r"ALERT_CERT_DAYS"):
        metricsconf.rules(checkout, s.settings.values)
    assert any("ALERT_CERT_DAZE" in problem for problem in validation.problems(s))
    path.write_text(path.read_text().replace("${ALERT_CERT_DAZE}", "${ALERT_WEBHOOK_URL}"))
    with pytest.raises(DeployError, match="ALERT_WEBHOOK_URL}, which is not a threshold"):
        metricsconf.rules(checkout, stack(checkout, ALERT_WEBHOOK_URL="https://h.example.org/k").settings.values)
    path.unlink()
    assert any("conf/metrics/alerts.yml cannot be read" in problem for problem in validation.problems(s))


def test_alertmanager_sends_to_the_receivers_that_are_set(checkout):
    bare = stack(checkout)
    assert metricsconf.receiver_kinds(bare) == []
    assert metricsconf.alertmanager(bare)["receivers"] == [{"name": "admin"}]
    (checkout / "secrets").mkdir()
    (checkout / "secrets/alert_webhook_url").write_text("https://hooks.example.org/T0/B0/x\n")
    both = stack(checkout, ALERT_EMAIL_TO="admin@example.org", ALERT_EMAIL_FROM="hub@example.org",
                 ALERT_SMTP_HOST="smtp.example.org:587", ALERT_SMTP_USER="hub", ALERT_REPEAT_SECONDS="10")
    made = metricsconf.alertmanager(both)
    receiver = made["receivers"][0]
    assert receiver["webhook_configs"] == [{"url_file": "/run/secrets/alert_webhook_url", "send_resolved": True}]
    assert receiver["email_configs"][0]["auth_password_file"] == "/run/secrets/alert_smtp_password"
    assert "hooks.example.org" not in json.dumps(made)  # the URL stays in its secret file
    assert made["route"]["group_interval"] == "10s" and made["route"]["group_wait"] == "10s"
    assert metricsconf.receiver_kinds(both) == ["webhook", "email"]


@pytest.mark.parametrize(("values", "problem"), [
    ({"ALERT_EMAIL_TO": "admin@example.org"}, "ALERT_EMAIL_TO='admin@example.org' needs ALERT_SMTP_HOST"),
    ({"ALERT_SMTP_USER": "hub"}, "ALERT_SMTP_USER='hub' needs ALERT_SMTP_PASSWORD"),
    ({"ALERT_DISK_WARN_PERCENT": "95", "ALERT_DISK_CRITICAL_PERCENT": "90"},
     "ALERT_DISK_WARN_PERCENT=95 must be below ALERT_DISK_CRITICAL_PERCENT=90"),
])
def test_settings_that_cannot_work_together_are_refused(values, problem, checkout):
    assert any(problem in line for line in validation.problems(stack(checkout, **values)))


def test_on_swarm_node_exporter_runs_on_every_node_and_prometheus_finds_each_through_swarm_dns(tmp_path):
    s = stack(mode="swarm", COMPOSE_PROJECT_NAME="physics")
    assert s.compose_files[-2:] == ["compose/metrics.yml", "compose/metrics_swarm.yml"]
    node = jobs(s)["node"]
    assert node["dns_sd_configs"] == [{"names": ["tasks.physics_node-exporter"], "type": "A", "port": 9100}]
    assert node["relabel_configs"] == [{"target_label": "namespace", "replacement": "physics"}]
    assert not validation.problems(s)
    merged = merged_config(s)
    services = merged["services"]
    assert services["node-exporter"]["deploy"]["mode"] == "global"
    assert [v["target"] for v in services["node-exporter"]["volumes"]] == ["/docker-volumes"]
    assert not services["prometheus"].get("ports")  # Swarm would publish it on every node's addresses
    # A receiver's secret that is not there stays out of the stack: Swarm takes no empty secret.
    (tmp_path / "metrics_token").write_text("token\n")
    deployed = swarm.for_stack_deploy(merged, tmp_path)
    assert "alert_webhook_url_for_alertmanager" not in deployed["secrets"]
    assert [x["source"] for x in deployed["services"]["alertmanager"].get("secrets", [])] == []
    assert [x["source"] for x in deployed["services"]["prometheus"]["secrets"]] == ["metrics_token_for_prometheus"]


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("METRICS_RETENTION", "90 days", "a duration such as 90d"),
    ("ALERT_DISK_WARN_PERCENT", "110", "a whole percentage from 1 to 100"),
    ("ALERT_EMAIL_TO", "admin at example.org", "email addresses separated by commas"),
    ("ALERT_SMTP_HOST", "smtp.example.org", "host:port"),
    ("ALERT_WEBHOOK_URL", "hooks.example.org/x", "a URL starting with http"),
])
def test_bad_values_name_the_key_and_what_is_allowed(key, value, allowed):
    with pytest.raises(settings.SettingsError) as error:
        settings.from_mapping({key: value})
    assert key in str(error.value) and allowed in str(error.value)
    if key == "ALERT_WEBHOOK_URL":  # a secret's value is never repeated
        assert value not in str(error.value)


def test_the_webhook_url_becomes_a_secret_file_and_goes_nowhere_else(tmp_path):
    shutil.copy(REPO / ".env-template", tmp_path / ".env-template")
    url = "https://hooks.example.org/services/T0/B0/very-secret"
    s = stack(tmp_path, ALERT_WEBHOOK_URL=url, JUPYTERHUB_SSL="no_ssl")
    created = setup._runtime_files(s)
    assert "secrets/alert_webhook_url (from ALERT_WEBHOOK_URL)" in created
    path = tmp_path / "secrets/alert_webhook_url"
    assert path.read_text() == url + "\n" and path.stat().st_mode & 0o077 == 0
    assert url not in json.dumps(s.hub_settings()) + json.dumps(s.settings.public)
    env = s.compose_env()
    assert env["JHDEPLOY_SECRET_ALERT_WEBHOOK_URL"] == url + "\n"  # only for Compose's `environment:` secret
    assert url not in json.dumps({k: v for k, v in env.items() if not k.startswith("JHDEPLOY_SECRET_")})


def test_the_hub_gets_a_service_whose_role_reads_metrics_only():
    services, roles = stack().hub_services()
    assert services["prometheus"] == {"token_file": "/run/secrets/metrics_token"}
    assert roles["prometheus"] == {"scopes": ["read:metrics"], "services": ["prometheus"]}


def test_without_metrics_nothing_of_it_is_in_the_stack():
    plain = Stack(REPO, settings.from_mapping({}))
    assert options.METRICS not in plain.addons and "compose/metrics.yml" not in plain.compose_files
    assert "prometheus" not in plain.hub_services()[0]
    merged = merged_config(plain)
    assert set(merged["services"]) == {"jupyterhub", "proxy", "fence", "diskscan"}
    assert set(merged["networks"]) == {"default"}
    assert "CHP_METRICS_PORT" not in (merged["services"]["proxy"].get("environment") or {})


def test_the_textfile_tells_the_rules_what_to_expect():
    assert "jhdeploy_fence_expected 1" in metricsconf.expected(stack())
    assert metricsconf.expected(stack(USER_NETWORK_FENCE="no")) == ""
    assert "jhdeploy_snapshots_expected 1" in metricsconf.expected(stack(BACKUP_SCHEDULE="02:30"))
    assert "snapshots" not in metricsconf.expected(stack(BACKUP_SCHEDULE="manual"))
