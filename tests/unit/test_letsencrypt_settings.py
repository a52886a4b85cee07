import datetime

import pytest

from jhdeploy import certs, tlsprobe
from jhdeploy.resolve import from_env
from jhdeploy.settings import SettingsError

LE = {"JUPYTERHUB_SSL": "use_ssl_le", "JH_FQDN": "hub.example.org", "JH_EMAIL": "admin@example.org"}


def stack_in(tmp_path, overrides=None, **values):
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return from_env(tmp_path, overrides, environ={})


def test_le_mode_puts_caddy_in_front_and_keeps_its_volume(tmp_path):
    stack = stack_in(tmp_path, **LE)
    assert stack.compose_files[:2] == ["compose/base.yml", "compose/letsencrypt.yml"]
    assert "jupyterhub-caddy-data" in stack.volumes
    assert stack.url == "https://hub.example.org/"


def test_le_flag_selects_the_same_files_without_editing_env(tmp_path):
    stack = stack_in(tmp_path, {"JUPYTERHUB_SSL": "use_ssl_le"}, JH_FQDN="hub.example.org", JH_EMAIL="a@b.org")
    assert "compose/letsencrypt.yml" in stack.compose_files


@pytest.mark.parametrize(("server", "directory"), [
    ("", "https://acme-v02.api.letsencrypt.org/directory"),
    ("--staging", "https://acme-staging-v02.api.letsencrypt.org/directory"),
    ("https://ca.internal:9000/acme/acme/directory", "https://ca.internal:9000/acme/acme/directory"),
])
def test_cert_server_picks_the_acme_directory(tmp_path, server, directory):
    stack = stack_in(tmp_path, **LE, CERT_SERVER=server)
    assert stack.acme_directory == directory
    assert stack.compose_env()["ACME_CA"] == directory


def test_a_private_acme_root_adds_its_override(tmp_path):
    (tmp_path / "root.pem").write_bytes(certs.make_self_signed(["ca"])[0])
    stack = stack_in(tmp_path, **LE, ACME_CA_ROOT="root.pem")
    assert "compose/acme_ca_root.yml" in stack.compose_files
    assert stack.compose_env()["ACME_CA_ROOT_PATH"] == str(tmp_path / "root.pem")


@pytest.mark.parametrize(("values", "message"), [
    ({"JH_FQDN": ""}, "JH_FQDN='': Let's Encrypt (use_ssl_le, --le) needs the public DNS name"),
    ({"JH_FQDN": "localhost"}, "JH_FQDN='localhost'"),
    ({"JH_FQDN": "203.0.113.7"}, "not an IP address"),
    ({"JH_EMAIL": ""}, "JH_EMAIL='': Let's Encrypt"),
    ({"JH_EMAIL": "admin.example.org"}, "JH_EMAIL='admin.example.org'"),
    ({"CERT_SERVER": "staging"}, "CERT_SERVER='staging': expected empty (Let's Encrypt), --staging"),
    ({"OAUTH_CALLBACK_URL": "https://other.example.org/hub/oauth_callback",
      "JUPYTERHUB_AUTHENTICATOR": "github_authenticator", "GITHUB_CLIENT_ID": "x", "GITHUB_CLIENT_SECRET": "y"},
     "OAUTH_CALLBACK_URL='https://other.example.org/hub/oauth_callback' must point at this hub's host"),
])
def test_le_settings_are_checked_before_anything_runs(tmp_path, values, message):
    with pytest.raises(SettingsError) as error:
        stack_in(tmp_path, **{**LE, **values})
    assert message in str(error.value)


def test_certificate_description_warns_under_14_days():
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(certs.make_self_signed(["hub.example.org"])[0])
    soon = cert.not_valid_after_utc - datetime.timedelta(days=10)
    line, expiring = tlsprobe.describe(cert, now=soon)
    assert "for hub.example.org" in line and "(10 days)" in line and expiring
    assert tlsprobe.describe(cert, now=cert.not_valid_before_utc)[1] is False
