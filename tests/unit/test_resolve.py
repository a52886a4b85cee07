"""resolve.py: one resolution of .env, and tasks that look or take down working from the saved state."""

import shutil
from pathlib import Path

import pytest
from invoke import Context

from jhdeploy import engine, resolve, settings, state
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A checkout whose stack `invoke start` recorded as 'lab', with no Docker Engine asked."""
    for name in (".env-template", "userlist-template"):
        shutil.copy2(REPO / name, tmp_path / name)
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=lab\n")
    (tmp_path / ".env").chmod(0o600)
    state.save(Context(), Stack(tmp_path, settings.from_mapping({"COMPOSE_PROJECT_NAME": "lab"})))
    monkeypatch.setattr(engine, "ready", lambda c: None)
    return tmp_path


def test_an_invalid_env_is_said_in_one_line_and_the_running_stack_is_used(checkout, capsys):
    (checkout / ".env").write_text("COMPOSE_PROJECT_NAME=lab\nJUPYTERHUB_SSL=bogus\nNB_UID=root\n")
    looked = resolve.for_looking(Context(), checkout, "stopping")
    assert looked.stack.project == "lab" and looked.env_stack is None
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.count("\n") == 1 and said.err.startswith(
        "note: .env is invalid and was not used (JUPYTERHUB_SSL='bogus' is not allowed")
    assert said.err.rstrip().endswith("; this acts on 'lab' as `invoke start` recorded it.")


def test_an_env_that_names_another_project_is_said_and_the_running_one_is_used(checkout, capsys):
    (checkout / ".env").write_text("COMPOSE_PROJECT_NAME=lab2\n")
    looked = resolve.for_looking(Context(), checkout, "showing")
    assert looked.stack.project == "lab" and looked.env_stack.project == "lab2"
    assert capsys.readouterr().err == "note: .env now names the project 'lab2'; showing the running 'lab'.\n"


def test_a_valid_env_of_the_running_project_says_nothing(checkout, capsys):
    assert resolve.for_looking(Context(), checkout, "showing").note == ""
    assert capsys.readouterr().err == ""


def test_with_nothing_running_an_invalid_env_is_refused_as_before(checkout):
    state.forget(Context(), checkout)
    (checkout / ".env").write_text("JUPYTERHUB_SSL=bogus\n")
    with pytest.raises(settings.SettingsError, match="JUPYTERHUB_SSL='bogus'"):
        resolve.for_looking(Context(), checkout, "stopping")


def test_warnings_of_a_change_are_said_once(checkout, capsys):
    (checkout / ".env").write_text("COMPOSE_PROJECT_NAME=lab\nINSTALL_USER=me\n")
    resolve.for_change(Context(), checkout, needs_engine=False)
    assert capsys.readouterr().err.count("INSTALL_USER") == 1


def test_the_saved_state_holds_only_what_later_tasks_read(checkout):
    assert set(state.load(checkout)) == {"format", "started", "mode", "flags", "settings"}


def test_the_archived_env_is_resolved_by_the_same_rules_as_env(tmp_path):
    with pytest.raises(settings.SettingsError, match="USER_STORAGE_PATH='relative'"):
        resolve.from_text(tmp_path, "USER_STORAGE_PATH=relative\n", "", environ={})
    with pytest.raises(settings.SettingsError, match="needs GITHUB_CLIENT_ID"):
        resolve.from_text(tmp_path, "JUPYTERHUB_AUTHENTICATOR=github_authenticator\n", "", environ={})


def test_a_saved_state_that_no_longer_resolves_says_what_to_do(checkout):
    path = checkout / "state/stack.json"
    path.write_text(path.read_text().replace('"COMPOSE_PROJECT_NAME": "lab"', '"COMPOSE_PROJECT_NAME": "Not Valid"'))
    with pytest.raises(DeployError, match="stack.json no longer describes a stack .*COMPOSE_PROJECT_NAME"):
        resolve.for_looking(Context(), checkout, "stopping")
