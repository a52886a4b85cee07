"""One interpolation engine, with Compose's rules; checked against Compose itself where it can be."""

import subprocess

import pytest
from test_stack import compose_binary

from jhdeploy import envfile, settings
from jhdeploy.settings import SettingsError

TRICKY = r"""# comments and blank lines

export EXPORTED=yes
UNQUOTED = spaced value   # an inline comment
HASH=a#b
DOLLARS=ab$$cd
SINGLE='ab$$cd ${NOT_EXPANDED} # kept'
DOUBLE="line\tone\n\"two\" \\ $$ \$"
MULTI="first
second"
REFERENCE=${DOLLARS}-x
BRACELESS=$EXPORTED!
DEFAULT=${UNSET_VAR:-fallback ${EXPORTED}}
DASH=${EMPTY_VAR-only-when-unset}
COLON_DASH=${EMPTY_VAR:-when-empty-too}
PLUS=${EXPORTED:+alternative}
EMPTY_VAR=
"""


def resolved(text: str, environ: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}

    def lookup(name):
        return environ.get(name, values.get(name))

    for entry in envfile.parse(text):
        values[entry.key] = entry.value if entry.literal else envfile.interpolate(entry.value, lookup)
    return values


def test_quotes_comments_and_escapes():
    values = resolved(TRICKY, {})
    assert values["EXPORTED"] == "yes"
    assert values["UNQUOTED"] == "spaced value"
    assert values["HASH"] == "a#b"
    assert values["DOLLARS"] == "ab$cd"
    assert values["SINGLE"] == "ab$$cd ${NOT_EXPANDED} # kept"
    assert values["DOUBLE"] == 'line\tone\n"two" \\ $ $'
    assert values["MULTI"] == "first\nsecond"


def test_references_defaults_and_the_dollar_escape():
    values = resolved(TRICKY, {})
    assert values["REFERENCE"] == "ab$cd-x"
    assert values["BRACELESS"] == "yes!"
    assert values["DEFAULT"] == "fallback yes"
    assert values["DASH"] == "only-when-unset"  # EMPTY_VAR is not set yet where DASH reads it
    assert values["COLON_DASH"] == "when-empty-too"
    assert values["PLUS"] == "alternative"


def test_the_environment_wins_over_the_file():
    values = resolved(TRICKY, {"EXPORTED": "from-env", "UNSET_VAR": "given"})
    assert values["BRACELESS"] == "from-env!"
    assert values["DEFAULT"] == "given"


def test_a_required_variable_names_itself():
    with pytest.raises(envfile.EnvFileError, match="NEEDED is required: set it first"):
        resolved("X=${NEEDED:?set it first}\n", {})


def test_a_line_without_equals_is_refused_with_its_number():
    with pytest.raises(envfile.EnvFileError, match="line 2: expected KEY=value"):
        envfile.parse("A=1\nnot a setting\n")


def test_we_read_a_dotenv_exactly_as_compose_does(tmp_path):
    """`compose config --environment` prints the values Compose would interpolate with."""
    (tmp_path / ".env").write_text(TRICKY)
    (tmp_path / "compose.yml").write_text("services:\n  x:\n    image: busybox\n")
    environ = {"PATH": "/usr/bin:/bin", "UNSET_VAR": "given"}
    result = subprocess.run(compose_binary() + ["config", "--environment"], cwd=tmp_path, env=environ,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ours = resolved(TRICKY, environ)
    theirs = {}
    for key in ours:  # multi-line values span lines in Compose's listing: compare the first
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"{key}="))
        theirs[key] = line.partition("=")[2]
    assert {k: v.splitlines()[0] if v else v for k, v in ours.items()} == theirs


def test_settings_see_the_defaults_of_keys_that_env_leaves_out():
    entries = envfile.parse("DOCKER_NETWORK_NAME=${COMPOSE_PROJECT_NAME}-network\n")
    assert settings.resolve(entries, {})["DOCKER_NETWORK_NAME"] == "jupyterhub-network"


def test_the_environment_wins_for_settings_too_and_is_reported():
    entries = envfile.parse("COMPOSE_PROJECT_NAME=lab\n")
    s = settings.resolve(entries, {"COMPOSE_PROJECT_NAME": "other"})
    assert s["COMPOSE_PROJECT_NAME"] == "other" and s["DATA_VOLUME_HOST"] == "other-data"
    assert s.warnings() == ["note: COMPOSE_PROJECT_NAME='other' comes from the environment, not .env."]


def test_task_flags_win_over_the_environment():
    s = settings.resolve([], {"JUPYTERHUB_SSL": "no_ssl"}, {"JUPYTERHUB_SSL": "use_ssl_le"})
    assert s["JUPYTERHUB_SSL"] == "use_ssl_le"


def test_a_password_with_dollars_arrives_as_written():
    entries = envfile.parse("DUMMY_AUTH_PASSWORD='ab$$cd-long'\nOAUTH_CLIENT_SECRET=ab$$cd\n")
    s = settings.resolve(entries, {})
    assert s["DUMMY_AUTH_PASSWORD"] == "ab$$cd-long"  # single quotes: literal, as in Compose
    assert s["OAUTH_CLIENT_SECRET"] == "ab$cd"  # unquoted: $$ is one dollar, as in Compose


def test_a_cycle_is_an_error_not_a_hang():
    entries = envfile.parse("DATA_VOLUME_HOST=${DB_VOLUME_HOST}\nDB_VOLUME_HOST=${DATA_VOLUME_HOST}\n")
    with pytest.raises(SettingsError, match="refers to itself"):
        settings.resolve(entries, {})


def test_values_are_typed_once():
    s = settings.from_mapping({"JUPYTERHUB_HTTPS_PORT": "8443", "CULL_USERS": "yes", "NOTEBOOK_CPU_LIMIT": "0.5",
                               "GITHUB_ALLOWED_ORGS": "b, a", "NOTEBOOK_IMAGES": "Py=lab/py:1; R=lab/r:2",
                               "JUPYTER_UI": "notebook", "SWARM_USER_CONSTRAINTS": "a==1; b==2"})
    assert s["JUPYTERHUB_HTTPS_PORT"] == 8443 and s["CULL_USERS"] is True and s["NOTEBOOK_CPU_LIMIT"] == 0.5
    assert s["GITHUB_ALLOWED_ORGS"] == ["a", "b"] and s["NOTEBOOK_IMAGES"] == {"Py": "lab/py:1", "R": "lab/r:2"}
    assert s["JUPYTER_UI"] == "/tree" and s["SWARM_USER_CONSTRAINTS"] == ["a==1", "b==2"]
    assert s.raw["JUPYTERHUB_HTTPS_PORT"] == "8443"  # what Compose gets


def test_blank_empties_a_value_over_several_lines_and_leaves_the_rest():
    text = 'A=1\nSECRET="line one\nline two"\nexport OTHER=\'x\'  # kept\nEMPTY=\n'
    blanked, keys = envfile.blank(text, {"SECRET", "OTHER", "EMPTY"}, "blanked")
    assert keys == ["OTHER", "SECRET"]
    assert blanked == "A=1\n# SECRET: blanked\nSECRET=\n# OTHER: blanked\nOTHER=\nEMPTY=\n"
    assert {entry.key: entry.value for entry in envfile.parse(blanked)} == {"A": "1", "SECRET": "", "OTHER": "",
                                                                          "EMPTY": ""}
