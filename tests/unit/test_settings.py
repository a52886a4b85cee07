from pathlib import Path

import pytest

from jhdeploy import envfile, settings
from jhdeploy.settings import SettingsError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_valid_and_interpolated():
    s = settings.from_mapping({})
    assert s["JUPYTERHUB_SSL"] == "use_ssl_ss"
    assert s["JUPYTERHUB_AUTHENTICATOR"] == "dummy_authenticator"
    assert s["JUPYTERHUB_DB_URL"] == "sqlite"
    assert s["DOCKER_NETWORK_NAME"] == "jupyterhub-network"
    assert s["JUPYTERHUB_BASE_IMAGE"] == "quay.io/jupyterhub/jupyterhub:6.1.1"


def test_references_follow_other_keys():
    s = settings.from_mapping({"COMPOSE_PROJECT_NAME": "lab2", "JUPYTERHUB_VERSION": "6.0.0"})
    assert s["DATA_VOLUME_HOST"] == "lab2-data"
    assert s["JUPYTERHUB_BASE_IMAGE"] == "quay.io/jupyterhub/jupyterhub:6.0.0"


def test_env_template_is_generated_from_the_definitions():
    assert (REPO / ".env-template").read_text() == settings.template_text(), (
        "regenerate it: python -m jhdeploy.settings > .env-template"
    )


def test_env_template_loads_to_the_defaults():
    entries = envfile.parse(settings.template_text())
    assert settings.resolve(entries).values == settings.from_mapping({}).values


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("JUPYTERHUB_SSL", "use_ssl_maybe", "choose one of: use_ssl_ss, use_ssl_own, use_ssl_le, no_ssl"),
        ("JUPYTERHUB_AUTHENTICATOR", "magic", "choose one of: dummy_authenticator"),
        ("JUPYTERHUB_HTTPS_PORT", "44x3", "a port number from 1 to 65535"),
        ("JUPYTERHUB_HTTP_PORT", "70000", "a port number from 1 to 65535"),
        ("JH_FQDN", "my hub.example.org", "a host name"),
        ("COMPOSE_PROJECT_NAME", "My Project", "lowercase letters"),
        ("JUPYTERHUB_DB_URL", "mysql", "'sqlite', 'postgres', or a full SQLAlchemy URL"),
        ("DOCKER_NOTEBOOK_DIR", "work", "an absolute path"),
        ("JUPYTERHUB_LOG_LEVEL", "LOUD", "choose one of"),
    ],
)
def test_bad_value_names_the_key_the_value_and_what_is_allowed(key, value, expected):
    with pytest.raises(SettingsError) as error:
        settings.from_mapping({key: value})
    message = str(error.value)
    assert f"{key}={value!r}" in message
    assert expected in message


def test_empty_required_value_is_refused_but_optional_may_be_empty():
    with pytest.raises(SettingsError, match="NB_UID is empty"):
        settings.from_mapping({"NB_UID": ""})
    assert settings.from_mapping({"JH_FQDN": ""})["JH_FQDN"] == ""


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as error:
        settings.from_mapping({"JUPYTERHUB_SSL": "x", "JUPYTERHUB_HTTPS_PORT": "0"})
    assert len(error.value.problems) == 2


def test_unknown_keys_are_reported_not_fatal():
    assert settings.from_mapping({"JUPYTERHUB_SSLL": "no_ssl"}).unknown == ("JUPYTERHUB_SSLL",)


def test_valid_host_names_and_addresses_pass():
    for name in ("hub.example.org", "localhost", "10.0.0.5", "a-b.c"):
        assert settings.from_mapping({"JH_FQDN": name})["JH_FQDN"] == name
