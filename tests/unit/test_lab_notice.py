"""The hub's JHDEPLOY_NOTICE: the server config puts it into JupyterLab's page config, and the
prebuilt jhdeploy-notice extension (conf/notebook/labextensions) is complete enough to load."""

import hashlib
import json
import runpy
from pathlib import Path

import pytest
from traitlets.config import Config, LazyConfigValue

REPO = Path(__file__).resolve().parents[2]
SERVER_CONFIG = REPO / "conf/notebook/jupyter_server_config.py"
EXTENSION = REPO / "conf/notebook/labextensions/jhdeploy-notice"
QUOTA = "Your files use 18.5 MB of your 20 MB disk limit (92%). Delete files you no longer need."


def server_config(monkeypatch, notice: str | None, preset: Config | None = None) -> Config:
    """Run the config file as Jupyter Server does, with JHDEPLOY_NOTICE set (or unset for None)."""
    if notice is None:
        monkeypatch.delenv("JHDEPLOY_NOTICE", raising=False)
    else:
        monkeypatch.setenv("JHDEPLOY_NOTICE", notice)
    c = preset if preset is not None else Config()
    runpy.run_path(str(SERVER_CONFIG), init_globals={"get_config": lambda: c})
    return c


def page_config(c: Config) -> dict | None:
    if "tornado_settings" not in c.ServerApp:
        return None
    settings = c.ServerApp.tornado_settings
    # A plain dict: jupyterhub-singleuser's extension fails on the lazy value .update() leaves, and so the server.
    assert not isinstance(settings, LazyConfigValue) and isinstance(settings, dict)
    return settings.get("page_config_data")


def test_a_valid_notice_reaches_the_page_config(monkeypatch):
    c = server_config(monkeypatch, json.dumps({"message": QUOTA, "type": "warning"}))
    assert page_config(c) == {"jhdeployNotice": {"message": QUOTA, "type": "warning"}}
    # The settings the file had before stay.
    assert c.ServerApp.jpserver_extensions == {"nbclassic": False, "notebook_shim": False}


@pytest.mark.parametrize("given", [None, "missing", "bogus", ["warning"]])
def test_a_notice_without_a_known_type_is_info(monkeypatch, given):
    notice = {"message": "Maintenance tonight"} if given is None else {"message": "Maintenance tonight", "type": given}
    assert page_config(server_config(monkeypatch, json.dumps(notice)))["jhdeployNotice"]["type"] == "info"


def test_other_tornado_settings_are_kept(monkeypatch):
    preset = Config()
    preset.ServerApp.tornado_settings = {"headers": {"X-Test": "1"}}
    c = server_config(monkeypatch, json.dumps({"message": QUOTA, "type": "error"}), preset)
    assert c.ServerApp.tornado_settings["headers"] == {"X-Test": "1"}
    assert page_config(c)["jhdeployNotice"]["type"] == "error"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_notice_sets_nothing(monkeypatch, capsys, value):
    assert page_config(server_config(monkeypatch, value)) is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ['{"message": oops', "not json", '"a string"', "[1, 2]", '{"type": "warning"}',
                                   '{"message": 5}', '{"message": "  "}'])
def test_a_bad_notice_is_ignored_with_one_line(monkeypatch, capsys, value):
    assert page_config(server_config(monkeypatch, value)) is None
    assert "ignoring JHDEPLOY_NOTICE" in capsys.readouterr().err


def test_the_extension_names_an_entry_point_that_exists():
    package = json.loads((EXTENSION / "package.json").read_text())
    assert (package["name"], package["version"]) == ("jhdeploy-notice", "1.0.0")
    build = package["jupyterlab"]["_build"]
    assert build["extension"] == "./extension"
    entry = EXTENSION / build["load"]
    assert entry.is_file(), f"package.json loads {build['load']}, which is missing"
    source = entry.read_text()
    assert "window._JUPYTERLAB" in source and "'jhdeploy-notice:plugin'" in source and "'./extension'" in source


def test_the_entry_point_name_carries_its_content_hash():
    """Browsers may cache labextension files: a changed file must get a new name, as a built one would."""
    load = json.loads((EXTENSION / "package.json").read_text())["jupyterlab"]["_build"]["load"]
    digest = hashlib.sha256((EXTENSION / load).read_bytes()).hexdigest()[:20]
    assert load == f"static/remoteEntry.{digest}.js", (
        f"after editing the extension, rename it to static/remoteEntry.{digest}.js here and in package.json")
    assert [p.name for p in (EXTENSION / "static").iterdir()] == [Path(load).name], "stale remoteEntry files"
