"""Issue 31 in two browsers at once: alice shares her server with a link and with a group, bob edits her
notebook with her in real time, and loses it all the moment she revokes him; an expired link says so.

The steps run in order, as the people would take them. SHARING unset is checked on test_walk's stack.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

import pytest
from chromium import Browser
from jupyter import assert_clean, collaboration_in, keys, log_in, trusting
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

USERLIST = "admin admin\nalice\nbob\ncarol bio101\n"
NOTEBOOK = "together.ipynb"
BOBS_LINE = "written_by_bob = 6 * 7"
# A page that leaves for another while its requests are in flight: not a failure of the step.
LEFT = ("net::ERR_ABORTED",)
SHORTEST_EXPIRY = 60  # seconds


@pytest.fixture(scope="module")
def hub(deployment):
    (deployment.root / "userlist").write_text(USERLIST)
    deployment.env.update(SHARING="yes", SHARING_BY_NAME="yes")
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment



@pytest.fixture(scope="module")
def alice(browsers, hub) -> Browser:
    """alice in her JupyterLab, with a notebook of one empty code cell in her server."""
    browser = trusting(browsers, hub)
    log_in(browser, hub, "alice")
    browser.element(".jp-LabShell", timeout=120)
    notebook = {"type": "notebook", "content": {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        "cells": [{"cell_type": "code", "id": "first", "source": "", "metadata": {}, "outputs": [],
                   "execution_count": None}]}}
    client = hub.logged_in("alice")
    created = client.contents("PUT", "alice", NOTEBOOK, json=notebook)
    assert created.status_code in (200, 201), created.text
    # A link that expires during the module (JupyterHub's shortest), for the last step.
    short = client.api("POST", "/share-codes/alice/", json={"expires_in": SHORTEST_EXPIRY})
    assert short.status_code == 200, short.text
    browser.short_link = (short.json()["accept_url"], time.monotonic() + SHORTEST_EXPIRY)
    return browser


@pytest.fixture(scope="module")
def bob(browsers, hub) -> Browser:
    return trusting(browsers, hub)


def log_in_to(browser: Browser, hub, name: str, path: str) -> None:
    """The login form, going on to PATH afterwards (no server of their own starts)."""
    browser.get(f"{hub.url}hub/login?next={quote(path)}")
    browser.element("#username_input").send_keys(name)
    browser.element("#password_input").send_keys(hub.password(name))
    browser.element("#login_submit").click()


def authorize(browser: Browser) -> None:
    """JupyterHub asks a guest once whether the owner's server may know who they are (its OAuth consent)."""
    browser.wait_for_text("Authorize access", timeout=60)
    browser.click_text("button", "Authorize")


def click(browser: Browser, css: str) -> None:
    """As a person does: scrolled to the middle of the window first (the page is taller than the window;
    at once, not with Bootstrap's smooth scrolling, which would move the element under the click)."""
    element = browser.element(css)
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def open_share_page(browser: Browser, hub) -> None:
    browser.get(hub.url + "hub/home")
    browser.element("#share-default").click()
    browser.wait(lambda: "Loading" not in browser.element("#server-default .access").text,
                 what="the list of who has access")


def open_notebook(browser: Browser, hub, owner: str) -> None:
    browser.get(f"{hub.url}user/{owner}/lab/tree/{NOTEBOOK}")
    browser.element(".jp-Notebook .jp-Cell .cm-content", timeout=120)


def first_cell(browser: Browser) -> str:
    return browser.element(".jp-Notebook .jp-Cell .cm-content").text


def test_alice_creates_a_link_that_lasts_a_day(hub, alice):
    since = alice.mark()
    open_share_page(alice, hub)
    assert "as you" in alice.element("#share-warning").text  # kernels run as the owner: the page says so
    assert alice.element("#server-default .expiry option:checked").text == "1 day"
    click(alice, "#server-default .create-link")
    link = alice.wait(lambda: alice.element("#server-default .link").get_attribute("value"), what="the new link")
    assert link.startswith(hub.url + "hub/accept-share?code=")
    expires = alice.element("#server-default .links tbody tr td:nth-child(2)").text
    assert expires != "never"
    alice.shot("share-page", doc=True)
    assert_clean(alice, since)
    # Access only: starting and stopping her server takes the box she did not tick.
    codes = hub.logged_in("alice").api("GET", "/share-codes/alice/").json()["items"]
    assert {tuple(code["scopes"]) for code in codes} == {("access:servers!server=alice/",)}
    alice.link = link


def test_bob_accepts_the_link_and_lands_in_alices_jupyterlab(hub, alice, bob):
    since = bob.mark()
    log_in_to(bob, hub, "bob", urlsplit(alice.link).path + "?" + urlsplit(alice.link).query)
    bob.wait_for_text("Accept sharing invitation")
    assert "alice" in bob.text()
    bob.shot("share-accept")
    bob.click_text("button", "Accept invitation")
    authorize(bob)
    bob.element(".jp-LabShell", timeout=120)
    assert bob.url.startswith(hub.url + "user/alice/")
    assert_clean(bob, since, expected=LEFT)


def test_what_bob_types_and_runs_appears_in_alices_browser_under_his_name(hub, alice, bob):
    assert collaboration_in(hub, hub.logged_in("alice"), "alice") == {"server": True, "lab": True}
    since_alice, since_bob = alice.mark(), bob.mark()
    open_notebook(alice, hub, "alice")
    open_notebook(bob, hub, "alice")
    bob.element(".jp-Notebook .jp-Cell .cm-content").click()
    typed = time.monotonic()
    keys(bob, BOBS_LINE)
    alice.wait(lambda: BOBS_LINE in first_cell(alice), timeout=10, what="bob's line in alice's notebook")
    assert time.monotonic() - typed < 2 + 1.5, "bob's text reached alice later than 2 s"  # typing takes ~1 s
    # Bob's caret in alice's notebook carries his name.
    label = alice.wait(lambda: next((e.get_attribute("textContent") for e in alice.find(".jp-remote-userFlag-name")
                                     if e.get_attribute("textContent")), None), what="bob's named caret")
    assert label == "bob"
    keys(bob, Keys.ENTER)
    keys(bob, "print(written_by_bob)")
    keys(bob, Keys.SHIFT, Keys.ENTER)
    shown = alice.wait(lambda: next((e.text for e in alice.find(".jp-OutputArea-output") if e.text == "42"), None),
                       timeout=90, what="the output of bob's cell in alice's browser")
    assert shown == "42"
    alice.shot("editing-together", doc=True)
    assert_clean(alice, since_alice)
    assert_clean(bob, since_bob)


def test_a_group_share_reaches_carol_under_shared_with_me(browsers, hub, alice):
    open_share_page(alice, hub)
    alice.element("#server-default .share-kind").send_keys("Group")
    alice.element("#server-default .share-name").send_keys("bio101")
    click(alice, "#server-default .share-with")
    alice.wait_for_text("group bio101", css="#server-default .access")
    carol = trusting(browsers, hub)
    since = carol.mark()
    log_in_to(carol, hub, "carol", "/hub/shares")
    shared = carol.wait_for_text("alice", css="#shared-with-me tbody")
    assert "your group bio101" in shared.text
    carol.shot("shared-with-me")
    click(carol, "#shared-with-me a.open-shared")
    authorize(carol)
    carol.element(".jp-LabShell", timeout=120)
    assert carol.url.startswith(hub.url + "user/alice/")
    assert_clean(carol, since, expected=LEFT)
    browsers.open.remove(carol)  # a JupyterLab left open keeps this host's two cores busy
    carol.close()


def test_revoking_bob_closes_his_open_jupyterlab_and_refuses_his_next_request(hub, alice, bob):
    open_notebook(bob, hub, "alice")
    open_share_page(alice, hub)
    rows = [row for row in alice.find("#server-default .access tbody tr") if row.text.startswith("bob")]
    assert rows, alice.element("#server-default .access").text
    revoked = time.monotonic()
    rows[0].find_element("css selector", "button").click()
    alice.wait(lambda: "bob" not in alice.element("#server-default .access tbody").text, what="bob's row to go")
    # His open JupyterLab (its WebSockets) is cut within a few seconds, and it shows why.
    bob.wait(lambda: "access to alice's server has ended" in bob.text(), timeout=15, what="the page that says so")
    assert time.monotonic() - revoked < 15
    bob.shot("share-revoked", doc=True)
    # His next requests to alice's server are refused: a page, and her files through the API.
    bob.get(f"{hub.url}user/alice/lab/tree/{NOTEBOOK}")
    assert "access to alice's server has ended" in bob.text()
    status = bob.driver.execute_script(
        "return fetch(arguments[0]).then(response => response.status)", f"{hub.url}user/alice/api/contents")
    assert status == 403


def test_an_expired_link_is_refused_with_a_page_that_says_so(hub, alice, bob):
    url, expires = alice.short_link
    time.sleep(max(0.0, expires - time.monotonic() + 1))
    bob.get(hub.url + url.lstrip("/"))
    assert "This share link has expired" in bob.element("#jhdeploy-share-expired").text
    bob.shot("share-expired")


def test_admins_see_every_share(browsers, hub, alice):
    admin = trusting(browsers, hub)
    since = admin.mark()
    log_in_to(admin, hub, "admin", "/hub/home")
    click(admin, "#jhdeploy-sharing-nav")
    shares = admin.wait_for_text("group bio101", css="#all-shares tbody")
    assert "alice" in shares.text
    assert_clean(admin, since, expected=LEFT)
    browsers.open.remove(admin)
    admin.close()


def test_turning_sharing_off_ends_every_share_and_says_so_first(hub, alice):
    hub.env.update(SHARING="no", SHARING_BY_NAME="no")
    hub.write_env()
    restarted = hub.invoke("restart")
    assert "SHARING is off now: every share and share link ends" in restarted.stdout
    admin = hub.logged_in("admin")
    assert admin.api("GET", "/shares/alice").json()["items"] == []
    assert admin.api("GET", "/share-codes/alice/").json()["items"] == []
    alice.get(hub.url + "hub/home")
    alice.element("#start")
    assert not alice.find(".share-server") and not alice.find("#jhdeploy-sharing-nav")
