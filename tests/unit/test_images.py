from pathlib import Path

import pytest
from jhdeploy_hub import contract

from jhdeploy import engine, images, settings
from jhdeploy.build import resume_command
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

REPO = Path(__file__).resolve().parents[2]
S = settings.from_mapping({"DOCKER_NOTEBOOK_BASE": "mirror.example/minimal-notebook:1"})


def test_layers_in_build_order_each_built_from_the_one_below():
    assert [layer.name for layer in images.LAYERS] == ["hub", "proxy", "notebook_base", "notebook_body",
                                                       "notebook_image"]
    body, top = images.BY_NAME["notebook_body"], images.BY_NAME["notebook_image"]
    assert images.below(body) is images.BY_NAME["notebook_base"]
    assert images.below(top) is body
    assert images.below(images.BY_NAME["notebook_base"]) is None  # an upstream image


def test_up_to_lists_the_lower_layers_first():
    top = images.BY_NAME["notebook_image"]
    assert [layer.name for layer in images.up_to(top)] == ["notebook_base", "notebook_body", "notebook_image"]


def test_build_command_passes_the_parent_tag_and_versions():
    body = images.BY_NAME["notebook_body"]
    command = images.build_command(body, S, Path("/src"))
    assert command[:7] == ["docker", "build", "--force-rm", "--file", "/src/dockerfiles/Dockerfile.notebook_body",
                           "--tag", "jupyterhub-notebook-body:latest"]
    assert "BASE_IMAGE=jupyterhub-notebook-base:latest" in command
    assert "JUPYTERHUB_VERSION=6.1.1" in command and "JUPYTERLAB_VERSION=4.6.6" in command
    assert "--no-cache" not in command and command[-1] == "/src"
    assert "--no-cache" in images.build_command(body, S, Path("/src"), no_cache=True)


def test_upstream_base_is_a_setting():
    base = images.BY_NAME["notebook_base"]
    assert images.build_args(base, S)["BASE_IMAGE"] == "mirror.example/minimal-notebook:1"
    hub = images.BY_NAME["hub"]
    assert images.build_args(hub, S)["BASE_IMAGE"] == "quay.io/jupyterhub/jupyterhub:6.1.1"


def test_resume_command_rebuilds_the_failed_layer_and_those_above():
    remaining = list(images.LAYERS[3:])
    assert resume_command(remaining) == "invoke notebook-body notebook-image"


def test_no_secret_is_ever_a_build_arg():
    for layer in images.LAYERS:
        assert not set(layer.arg_keys) & settings.SECRET_KEYS


def test_the_news_choice_reaches_the_top_layer_as_true_or_false():
    top = images.BY_NAME["notebook_image"]
    assert images.build_args(top, S)["JUPYTERLAB_NEWS"] == "false"  # off unless asked for
    on = settings.from_mapping({"JUPYTERLAB_NEWS": "yes"})
    assert images.build_args(top, on)["JUPYTERLAB_NEWS"] == "true"


def test_lab_overrides_merge_ours_over_the_base_images_and_decide_the_news():
    import importlib.util

    path = Path(__file__).parents[2] / "scripts" / "lab-overrides.py"
    spec = importlib.util.spec_from_file_location("lab_overrides", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    base = {module.NOTIFICATION: {"checkForUpdates": True, "doNotDisturbMode": True}, "other:plugin": {"a": 1}}
    ours = {module.NOTIFICATION: {"checkForUpdates": False}}
    merged = module.merged(base, ours, news=False)
    assert merged[module.NOTIFICATION] == {"checkForUpdates": False, "doNotDisturbMode": True, "fetchNews": "false"}
    assert merged["other:plugin"] == {"a": 1}
    assert module.merged({}, ours, news=True)[module.NOTIFICATION]["fetchNews"] == "true"


def test_the_hub_image_is_labelled_with_the_settings_format_its_package_reads():
    hub = images.BY_NAME["hub"]
    assert images.build_args(hub, S)["SETTINGS_FORMAT"] == str(contract.SETTINGS_FORMAT)
    assert f"LABEL {contract.FORMAT_LABEL}=${{SETTINGS_FORMAT}}" in (REPO / hub.dockerfile).read_text()


class Answers:
    """An invoke Context whose commands all answer `stdout`."""

    def __init__(self, stdout: str):
        self.stdout, self.ok = stdout, True

    def run(self, command, **kwargs):
        return self


def test_a_start_refuses_a_hub_image_that_reads_other_settings_before_anything_changes():
    stack = Stack(REPO, S)
    engine.require_images(Answers(f"{contract.SETTINGS_FORMAT}\n\n\n\n"), stack)  # this checkout's images
    with pytest.raises(DeployError, match="reads hub settings of format 1; these tasks write format .* Nothing was "
                                          r"changed. Run `invoke hub-image`"):
        engine.require_images(Answers("\n\n\n\n"), stack)  # built before the label existed
