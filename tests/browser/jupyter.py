"""What a person does in JupyterHub's and Jupyter's pages, in a Browser, shared by the browser tests."""

from __future__ import annotations

import json
import re

from chromium import Browser
from harness import Deployment, docker
from hubclient import HubClient
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys


def assert_clean(browser: Browser, since, expected: tuple[str, ...] = ()) -> None:
    problems = browser.problems(since, expected)
    assert not problems, "the browser saw:\n" + "\n".join(map(str, problems))


def trusting(browsers, hub: Deployment) -> Browser:
    """A browser that trusts the stack's generated certificate, as its admin's does after accepting it."""
    return browsers.new(trust={hub.cert: "server"})


def log_in(browser: Browser, hub: Deployment, name: str, url: str = "") -> None:
    """Through the login form, with the password NAME types; URL: the hub's address if not hub.url."""
    browser.get((url or hub.url) + "hub/login")
    browser.element("#username_input").send_keys(name)
    browser.element("#password_input").send_keys(hub.password(name))
    browser.element("#login_submit").click()


def keys(browser: Browser, *combo: str) -> None:
    """Press keys together as a person does: all but the last held down, such as (Keys.SHIFT, Keys.ENTER)."""
    actions = ActionChains(browser.driver)
    *held, last = combo
    for key in held:
        actions.key_down(key)
    actions.send_keys(last)
    for key in reversed(held):
        actions.key_up(key)
    actions.perform()


def kernel_connected(browser: Browser, since) -> bool:
    """What a user waits for before running a cell: the kernel's WebSocket is open, and it is idle."""
    opened = [r for r in browser.network[since[1]:] if r["method"] == "WebSocket" and "/channels" in r["url"]
              and r["status"] == 101]
    return bool(opened and browser.find('.jp-Notebook-ExecutionIndicator[data-status="idle"]'))


def run_in_new_cell(browser: Browser, code: str, since) -> str:
    """Once the kernel is there, type CODE into the notebook's empty cell, run it with Shift+Enter and
    return its output. A cell run before that would run nowhere (JupyterLab drops it)."""
    browser.wait(lambda: browser.collect() or kernel_connected(browser, since), timeout=90,
                 what="the kernel's WebSocket (through the proxy) and an idle kernel")
    browser.element(".jp-Notebook .jp-Cell .cm-content", timeout=60).click()
    keys(browser, code)
    keys(browser, Keys.SHIFT, Keys.ENTER)
    return browser.element(".jp-OutputArea-output", timeout=90).text


def collaboration_in(hub: Deployment, client: HubClient, user: str) -> dict[str, bool]:
    """What the user's running server loaded of jupyter-collaboration: its server extension (the server's log
    says so), and its JupyterLab extension, served and not disabled in /lab's page config."""
    logs = docker("logs", f"{hub.project}-{user}")
    server = "jupyter_server_ydoc | extension was successfully loaded" in logs.stdout + logs.stderr
    page = client.get(f"/user/{user}/lab").text
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert found, page[:500]
    config = json.loads(found.group(1))
    served = {extension["name"] for extension in config["federated_extensions"]}
    lab = "@jupyter/docprovider-extension" in served - set(config["disabledExtensions"])
    return {"server": server, "lab": lab}
