"""Each option record against its Compose file, as `compose config` reads it (no daemon needed).

Like Zero to JupyterHub's tools/compare-values-schema-content.py: the records say what each
`compose/*.yml` adds, and this test fails as soon as a file and its record disagree.
"""

import json
import subprocess
from pathlib import Path

import pytest
from jhdeploy_hub import config
from test_stack import compose_binary

from jhdeploy import network, options, settings
from jhdeploy.stack import COPIED_SECRET, Stack
from jhdeploy.userlist import parse

REPO = Path(__file__).resolve().parents[2]
FIELDS = ("services", "ports", "volumes", "secrets", "copied")
EXAMPLE_NETWORK = network.Plan(network.EXAMPLE).compose_env()
# One distinct host port per port setting, so that a published port names its setting.
PORTS = {row.name: str(10080 + number) for number, row in enumerate(settings.SETTINGS) if row.kind == "port"}
LE = {"JUPYTERHUB_SSL": "use_ssl_le", "JH_FQDN": "hub.example.org", "JH_EMAIL": "a@example.org",
      "ACME_CA_ROOT": "conf/caddy/acme-ca-root.caddy"}
# Between them, these stacks select every record.
STACKS = [
    ({}, "compose"),
    ({"JUPYTERHUB_SSL": "no_ssl", "JUPYTERHUB_AUTHENTICATOR": "hash_authenticator"}, "compose"),
    ({**LE, "JUPYTERHUB_AUTHENTICATOR": "github_authenticator", "JUPYTERHUB_DB_URL": "postgres",
      "BACKUP_SCHEDULE": "02:30", "METRICS": "yes"}, "compose"),
    ({"JUPYTERHUB_AUTHENTICATOR": "generic_oauth", "USER_STORAGE_PATH": "/srv/jhd-users", "METRICS": "yes"},
     "swarm"),
]


def stack(values: dict, mode: str) -> Stack:
    return Stack(REPO, settings.from_mapping({**PORTS, **values}), parse(""), mode)


def added_by(stack: Stack, files: list[str]) -> dict:
    """Services, published ports, external volumes and file secrets of these files merged."""
    argv = compose_binary() + ["--project-name", "records"]
    for name in files:
        argv += ["--file", str(REPO / name)]
    result = subprocess.run(argv + ["config", "--format", "json"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", **stack.compose_env(), **EXAMPLE_NETWORK,
                                 "HUB_SETTINGS_DIGEST": "x"})
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    port_keys = {int(v): k for k, v in PORTS.items()}
    volume_keys = {stack.settings[k]: k for k in settings.BY_NAME if k.endswith("_VOLUME_HOST")}
    secret_names = {secret.file: name for name, secret in options.SECRETS.items()}
    return {
        "services": set(merged["services"]),
        "ports": {port_keys[int(p["published"])] for service in merged["services"].values()
                  for p in service.get("ports", [])},
        "volumes": {volume_keys[v["name"]] for v in merged.get("volumes", {}).values() if v.get("external")},
        "secrets": {secret_names[Path(s["file"]).name] for s in merged.get("secrets", {}).values() if "file" in s},
        "copied": {s["environment"].removeprefix(COPIED_SECRET).lower() for s in merged.get("secrets", {}).values()
                   if "environment" in s},
    }


def test_every_compose_file_is_claimed_by_exactly_one_record():
    claimed = [override.compose for override in options.all_overrides()]
    assert len(claimed) == len(set(claimed))
    assert sorted(claimed) == sorted(f"compose/{p.name}" for p in (REPO / "compose").glob("*.yml"))


def test_the_stacks_here_select_every_record():
    selected = {override.compose for values, mode in STACKS for override in stack(values, mode).overrides}
    assert selected == {override.compose for override in options.all_overrides()}


def cases():
    for values, mode in STACKS:
        for override in stack(values, mode).overrides:
            yield pytest.param(values, mode, override, id=f"{override.compose}-{mode}-{len(values)}")


@pytest.mark.parametrize(("values", "mode", "override"), list(cases()))
def test_each_record_says_what_its_file_adds(values, mode, override):
    """What the file adds on top of the files before it (later ones may build on it)."""
    s = stack(values, mode)
    before = s.compose_files[: s.compose_files.index(override.compose)]
    without = added_by(s, before) if before else {key: set() for key in FIELDS}
    with_it = added_by(s, [*before, override.compose])
    assert with_it["services"] - without["services"] == set(override.services)
    assert with_it["ports"] - without["ports"] == set(override.ports)
    assert with_it["volumes"] - without["volumes"] == set(override.volumes)
    assert with_it["secrets"] - without["secrets"] == set(override.secrets)
    assert with_it["copied"] - without["copied"] == set(override.copied)


def test_every_authenticator_record_has_its_hub_mapping():
    assert {auth.hub_function for auth in options.AUTHENTICATORS.values()} == set(config.AUTHENTICATORS)
    assert set(options.AUTHENTICATORS) == set(settings.BY_NAME["JUPYTERHUB_AUTHENTICATOR"].choices)
    assert set(options.SSL_MODES) == set(settings.BY_NAME["JUPYTERHUB_SSL"].choices)


def test_every_service_of_every_file_rotates_its_log_by_the_settings():
    for values, mode in STACKS:
        s = stack(values, mode)
        argv = compose_binary() + ["--project-name", "records"]
        for name in s.compose_files:
            argv += ["--file", str(REPO / name)]
        result = subprocess.run(argv + ["config", "--format", "json"], capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin", **s.compose_env(), **EXAMPLE_NETWORK,
                                     "HUB_SETTINGS_DIGEST": "x",
                                     "LOG_MAX_SIZE": "7m", "LOG_MAX_FILES": "4"})
        for name, service in json.loads(result.stdout)["services"].items():
            assert service["logging"] == {"driver": "json-file", "options": {"max-size": "7m", "max-file": "4"}}, name
            # The hub image's own health check asks the hub's port: another service of that image would turn
            # unhealthy, and `invoke restart` then fails naming it.
            if service["image"] == s.images["LOCAL_HUB_IMAGE"] and name != "jupyterhub":
                assert "healthcheck" in service, name
