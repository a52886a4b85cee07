"""state/: what `invoke start` saved, the hub's settings file, and the lock."""

import json
import stat

import pytest
from configs import stack
from invoke import Context

from jhdeploy import settings, state
from jhdeploy.errors import DeployError
from jhdeploy.resolve import from_saved
from jhdeploy.stack import Stack


def test_saved_state_is_owner_only_and_rebuilds_the_running_stack(tmp_path):
    started = Stack(tmp_path, settings.from_mapping({"JH_FQDN": "hub.example.org", "COMPOSE_PROJECT_NAME": "lab",
                                                     "DUMMY_AUTH_PASSWORD": "never-saved-anywhere"},
                                                    {"JUPYTERHUB_SSL": "use_ssl_le"}))
    state.save(Context(), started)
    path = tmp_path / "state/stack.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "never-saved-anywhere" not in path.read_text()
    again = from_saved(tmp_path, state.load(tmp_path))
    assert again.project == "lab" and again.compose_files == started.compose_files
    assert again.ssl.name == "use_ssl_le" and again.volumes == started.volumes
    assert again.settings.overrides == {"JUPYTERHUB_SSL": "use_ssl_le"}  # `start --le` is remembered
    state.forget(Context(), tmp_path)
    assert state.load(tmp_path) is None


def test_hub_settings_are_written_atomically_and_change_the_digest(tmp_path):
    before = state.hub_settings_digest(tmp_path)
    path = state.write_hub_settings(Context(), stack(tmp_path))
    assert json.loads(path.read_text())["project"] == "jupyterhub"
    first = state.hub_settings_digest(tmp_path)
    state.write_hub_settings(Context(), stack(tmp_path, users="alice admin\nbob\ncarol\n"))
    assert before == "none" and first != state.hub_settings_digest(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary file left


def test_a_second_task_is_refused_while_one_holds_the_lock(tmp_path):
    with state.locked(Context(), tmp_path, "start"):
        with pytest.raises(DeployError, match=r"`invoke start` \(pid \d+\) is changing this stack right now"):
            with state.locked(Context(), tmp_path, "restart"):
                pass
    with state.locked(Context(), tmp_path, "restart"):  # free again
        pass


def test_a_damaged_state_file_says_what_to_do(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state/stack.json").write_text("{not json")
    with pytest.raises(DeployError, match="is damaged"):
        state.load(tmp_path)
