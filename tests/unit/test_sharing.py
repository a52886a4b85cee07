"""Sharing a server (issue 31), the notebook image's half: collaboration off unless JHDEPLOY_SHARING=1, and the
jhdeploy_sharing guard's policy (which hub answers it caches, which WebSockets it closes), without Docker."""

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
from jupyterhub.services.auth import _ExpiringDict
from tornado.websocket import WebSocketHandler
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[2]
SHARING = REPO / "conf/notebook/sharing"
SERVER_CONFIG = REPO / "conf/notebook/jupyter_server_config.py"
HOOK = SHARING / "before-notebook.sh"
LAB_EXTENSION = REPO / "conf/notebook/labextensions/jhdeploy-sharing"
DOCKERFILE = REPO / "dockerfiles/Dockerfile.notebook_image"

sys.path.insert(0, str(SHARING))
import jhdeploy_sharing as guard  # noqa: E402

sys.path.remove(str(SHARING))
_spec = importlib.util.spec_from_file_location("collaboration_switch", SHARING / "collaboration-switch.py")
switch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(switch)

OWNER = {"kind": "user", "name": "ada", "scopes": ["access:servers!server=ada/"]}
GUEST = {"kind": "user", "name": "bob", "scopes": ["access:servers!server=ada/"]}


# The cache policy.

@pytest.mark.parametrize(("model", "kept"), [
    (OWNER, True),
    (GUEST, False),
    ({**GUEST, "scopes": []}, False),
    ({"kind": "service", "name": "ada", "scopes": []}, False),  # a service named like the owner is not the owner
    (None, True),  # "no such token": refusing again from the cache grants nothing
])
def test_only_the_owners_answers_and_refusals_are_cached(model, kept):
    assert guard.keep_in_cache(model, "ada") is kept


def test_the_cache_never_keeps_a_guest_so_each_guest_request_asks_the_hub():
    cache = guard.owner_only_cache(_ExpiringDict, "ada", 300)
    assert isinstance(cache, _ExpiringDict)  # HubOAuth.cache is an Instance(_ExpiringDict) trait
    cache["token:s:owner"] = OWNER
    cache["token:s:guest"] = GUEST
    cache["token:s:bogus"] = None
    assert cache.get("token:s:owner") == OWNER
    assert "token:s:guest" not in cache
    assert "token:s:bogus" in cache
    # An answer that turns into a guest's replaces nothing stale.
    cache["token:s:owner"] = GUEST
    assert "token:s:owner" not in cache


# Which WebSockets to close.

class FakeConnection:
    def __init__(self, closing=False):
        self.closing = closing

    def is_closing(self):
        return self.closing


class FakeSocket:
    """What the guard reads and calls on a tornado WebSocketHandler."""

    def __init__(self, state="open"):
        self.ws_connection = FakeConnection(state == "closing") if state in ("open", "closing") else None
        self._finished = state != "pending"
        self.closed_with = None
        self.request = SimpleNamespace(path="/user/ada/api/events/subscribe")

    def close(self, code=None, reason=None):
        self.closed_with = (code, reason)
        self.ws_connection = None


@pytest.mark.parametrize(("state", "expected"), [("open", "open"), ("closing", "gone"), ("pending", "pending"),
                                                 ("closed", "gone")])
def test_connection_state(state, expected):
    assert guard.connection_state(FakeSocket(state)) == expected


def test_only_open_sockets_whose_token_lost_access_are_closed():
    revoked, kept, unknown, pending, gone = (FakeSocket(), FakeSocket(), FakeSocket(), FakeSocket("pending"),
                                             FakeSocket("closed"))
    sockets = {revoked: "t1", kept: "t2", unknown: "t3", pending: "t1", gone: "t1"}
    assert guard.to_close(sockets, {"t1": False, "t2": True, "t3": None}) == [revoked]


class FakeHubAuth:
    """HubOAuth as the guard uses it; `access` says which tokens the hub still allows."""

    access_scopes = {"access:servers!server=ada/"}
    cache_max_age = 300

    def __init__(self, access):
        self.access = access
        self.calls = []
        self.cache = _ExpiringDict(300)

    async def user_for_token(self, token, use_cache=True, session_id="", *, sync=True):
        assert use_cache is False and sync is False
        self.calls.append(token)
        if self.access[token] == "error":
            raise RuntimeError("hub down")
        name = "ada" if token == "owner" else "bob"
        return {"kind": "user", "name": name, "scopes": sorted(self.access_scopes) if self.access[token] else []}

    def check_scopes(self, required, model):
        return set(required) & set(model["scopes"])


def make_guard(hub_auth):
    provider = SimpleNamespace(hub_auth=hub_auth)
    return guard.Guard(provider, "ada", "/hub/home", logging.getLogger("test"))


def test_a_sweep_asks_the_hub_once_per_guest_token_and_closes_with_4403():
    hub = FakeHubAuth({"revoked": False, "allowed": True, "flaky": "error"})
    g = make_guard(hub)
    a, b, c, d = FakeSocket(), FakeSocket(), FakeSocket(), FakeSocket()
    g.sockets.update({a: "revoked", b: "revoked", c: "allowed", d: "flaky"})
    asyncio.run(g.sweep())
    assert sorted(hub.calls) == ["allowed", "flaky", "revoked"]
    assert a.closed_with == b.closed_with == (4403, guard.CLOSE_REASON)
    assert c.closed_with is None and d.closed_with is None  # a hub that does not answer cuts no one off
    assert set(g.sockets.keys()) == {c, d}


def test_a_sweep_without_guest_sockets_asks_nothing():
    hub = FakeHubAuth({})
    g = make_guard(hub)
    g.sockets[FakeSocket("closed")] = "gone"
    asyncio.run(g.sweep())
    assert hub.calls == [] and len(g.sockets) == 0


class FakeWebSocket(WebSocketHandler):
    def __init__(self):  # no application, no request: only what observe() touches
        self.redirected = False

    def redirect(self, *args, **kwargs):
        self.redirected = True


class ObservingHubAuth(FakeHubAuth):
    def __init__(self, model):
        super().__init__({})
        self.model = model

    async def get_user(self, handler, *, sync=True):
        return self.model

    def get_token(self, handler):
        return "cookie-token"


@pytest.mark.parametrize(("model", "registered"), [(GUEST, True), (OWNER, False)])
def test_only_a_guests_websocket_is_watched(model, registered):
    g = make_guard(ObservingHubAuth(model))
    handler = FakeWebSocket()
    asyncio.run(g.observe(handler, SimpleNamespace(hub_user=model)))
    assert (handler in g.sockets) is registered


def test_a_refused_guest_gets_access_ended_instead_of_a_bare_403():
    g = make_guard(ObservingHubAuth({**GUEST, "scopes": []}))
    handler = SimpleNamespace(redirect=None)
    asyncio.run(g.observe(handler, None))
    with pytest.raises(guard.AccessEnded) as raised:
        handler.redirect("/login")
    assert raised.value.status_code == 403
    assert (raised.value.jhdeploy_owner, raised.value.jhdeploy_home) == ("ada", "/hub/home")


def test_someone_not_logged_in_is_still_sent_to_log_in():
    g = make_guard(ObservingHubAuth(None))
    handler = SimpleNamespace(redirect="the login redirect")
    asyncio.run(g.observe(handler, None))
    assert handler.redirect == "the login redirect"


def test_without_jupyterhub_the_guard_logs_and_the_server_goes_on(monkeypatch, caplog):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    app = SimpleNamespace(log=logging.getLogger("test"), identity_provider=SimpleNamespace())
    with caplog.at_level(logging.WARNING):
        guard._load_jupyter_server_extension(app)
    assert "NOT enforced" in caplog.text


def test_the_access_ended_page_names_the_owner_and_links_to_the_hub():
    # jupyter_server's error.html, reduced to the blocks our 403.html overrides.
    error = ("<h>{% block h1_error %}{{status_code}} : {{status_message}}{% endblock h1_error %}</h>"
             "<d>{% block error_detail %}{{message}}{% endblock error_detail %}</d>")
    env = jinja2.Environment(autoescape=True, loader=jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(SHARING / "jhdeploy_sharing/templates")),
        jinja2.DictLoader({"error.html": error})]))
    html = env.get_template("403.html").render(exception=guard.AccessEnded("bob", "ada<x>", "/base/hub/home"),
                                               status_code=403, status_message="Access ended", message="m")
    assert "Your access to ada&lt;x&gt;'s server has ended: the share was revoked, or it expired." in html
    assert '<a href="/base/hub/home">' in html
    other = env.get_template("403.html").render(exception="(unknown)", status_code=403,
                                                status_message="Forbidden", message="xsrf")
    assert "403 : Forbidden" in other and "xsrf" in other and "access" not in other


# Off unless JHDEPLOY_SHARING=1.

def server_config(monkeypatch, sharing: str | None, config_path: str | None = None) -> Config:
    for name, value in (("JHDEPLOY_SHARING", sharing), ("JUPYTER_CONFIG_PATH", config_path)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("JHDEPLOY_NOTICE", raising=False)
    c = Config()
    runpy.run_path(str(SERVER_CONFIG), init_globals={"get_config": lambda: c})
    return c


@pytest.mark.parametrize("value", [None, "", "0", "yes"])
def test_without_sharing_the_server_config_adds_nothing(monkeypatch, value):
    c = server_config(monkeypatch, value)
    assert "JUPYTER_CONFIG_PATH" not in os.environ
    assert "extra_template_paths" not in c.ServerApp and "tornado_settings" not in c.ServerApp


@pytest.mark.parametrize("before", [None, "/srv/a", "/usr/local/share/jhdeploy/sharing-on:/srv/a",
                                    "/srv/a:/usr/local/share/jhdeploy/sharing-on"])
def test_with_sharing_the_on_switch_comes_first_once(monkeypatch, before):
    c = server_config(monkeypatch, "1", before)
    rest = [] if before is None else ["/srv/a"]
    assert os.environ["JUPYTER_CONFIG_PATH"].split(os.pathsep) == ["/usr/local/share/jhdeploy/sharing-on", *rest]
    assert c.ServerApp.extra_template_paths == ["/usr/local/share/jhdeploy/sharing/jhdeploy_sharing/templates"]
    assert c.ServerApp.tornado_settings["page_config_data"] == {"jhdeploySharing": True}


def test_sharing_and_a_notice_share_the_page_config(monkeypatch):
    monkeypatch.setenv("JHDEPLOY_SHARING", "1")
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    monkeypatch.setenv("JHDEPLOY_NOTICE", json.dumps({"message": "hello"}))
    c = Config()
    runpy.run_path(str(SERVER_CONFIG), init_globals={"get_config": lambda: c})
    assert c.ServerApp.tornado_settings["page_config_data"] == {
        "jhdeploySharing": True, "jhdeployNotice": {"message": "hello", "type": "info"}}


@pytest.mark.parametrize(("sharing", "before", "after"), [
    ("", "", ""),
    ("1", "", "/usr/local/share/jhdeploy/sharing-on"),
    ("1", "/srv/a", "/usr/local/share/jhdeploy/sharing-on:/srv/a"),
    ("1", "/usr/local/share/jhdeploy/sharing-on", "/usr/local/share/jhdeploy/sharing-on"),
])
def test_the_start_hook_puts_the_on_switch_on_the_path(sharing, before, after):
    script = f'set -o nounset; source "{HOOK}"; printf %s "${{JUPYTER_CONFIG_PATH:-}}"'
    env = {"PATH": os.environ["PATH"], "JHDEPLOY_SHARING": sharing}
    if before:
        env["JUPYTER_CONFIG_PATH"] = before
    assert subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout == after


def test_the_paths_agree_across_files():
    config = SERVER_CONFIG.read_text()
    on_dir = re.search(r'^SHARING_ON = "(.+)"$', config, re.M).group(1)
    templates = re.search(r'^SHARING_TEMPLATES = "(.+)"$', config, re.M).group(1)
    dockerfile = DOCKERFILE.read_text()
    assert on_dir in HOOK.read_text() and f"collaboration-switch.py {on_dir}" in dockerfile
    assert "COPY conf/notebook/sharing/ /usr/local/share/jhdeploy/sharing/" in dockerfile
    assert templates.removeprefix("/usr/local/share/jhdeploy/sharing/") == "jhdeploy_sharing/templates"
    assert (SHARING / "jhdeploy_sharing/templates/403.html").is_file()


# The build-time switch.

def test_the_switch_finds_what_the_collaboration_packages_register():
    files = {
        "../../etc/jupyter/jupyter_server_config.d/jupyter_collaboration.json":
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_server_ydoc": True}}}),
        "../../etc/jupyter/jupyter_server_config.d/jupyter_server_fileid.json":
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_server_fileid": True, "old": False}}}),
        "../../share/jupyter/labextensions/@jupyter/docprovider-extension/package.json":
            json.dumps({"name": "@jupyter/docprovider-extension", "jupyterlab": {"_build": {}}}),
        "../../share/jupyter/labextensions/@jupyter/docprovider-extension/static/package.json":
            json.dumps({"name": "not-an-extension"}),
        "../../share/jupyter/labextensions/@jupyter/docprovider-extension/install.json": "{}",
        "jupyter_server_ydoc/_version.json": "{}",
    }
    assert switch.registered(files) == (["jupyter_server_fileid", "jupyter_server_ydoc"],
                                        ["@jupyter/docprovider-extension"])


def test_the_on_switch_enables_the_same_names_and_the_guard():
    on = switch.on_config(["jupyter_server_ydoc"], ["@jupyter/docprovider-extension"])
    assert on["jupyter_server_config.d/jhdeploy-sharing.json"] == {
        "ServerApp": {"jpserver_extensions": {"jupyter_server_ydoc": True, "jhdeploy_sharing": True}}}
    # false outranks the sys-prefix level's true: JupyterLab drops it from disabledExtensions
    assert on["labconfig/page_config.json"] == {"disabledExtensions": {"@jupyter/docprovider-extension": False}}
    assert switch.GUARD == guard.__name__


# The JupyterLab side.

def test_the_lab_extension_is_complete_and_named_by_its_hash():
    package = json.loads((LAB_EXTENSION / "package.json").read_text())
    assert package["name"] == "jhdeploy-sharing"
    load = package["jupyterlab"]["_build"]["load"]
    entry = LAB_EXTENSION / load
    digest = hashlib.sha256(entry.read_bytes()).hexdigest()[:20]
    assert load == f"static/remoteEntry.{digest}.js", (
        f"after editing the extension, rename it to static/remoteEntry.{digest}.js here and in package.json")
    assert [p.name for p in (LAB_EXTENSION / "static").iterdir()] == [Path(load).name], "stale remoteEntry files"
    source = entry.read_text()
    assert "window._JUPYTERLAB" in source and "'jhdeploy-sharing:plugin'" in source and "'./extension'" in source
    assert f"var CLOSE_CODE = {guard.CLOSE_CODE};" in source and ".jhdeploySharing" in source
