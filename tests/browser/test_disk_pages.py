"""Issue 28 in a browser: a start refused over the disk limit says why, a user near their limit is told on the
hub's pages and in JupyterLab, and the usage report's page shows its charts and its tables."""

from __future__ import annotations

import pytest
from jupyter import assert_clean, log_in, trusting

pytestmark = pytest.mark.browser

USERLIST = "admin admin\nalice\nbob\n"
MIB = 2**20
# Keeps what the spawn-pending page's event log showed, across the redirect to JupyterLab that follows.
LOG_RECORDER = """
document.addEventListener('DOMContentLoaded', () => {
  const log = document.getElementById('progress-log');
  if (!log) return;
  new MutationObserver(() => sessionStorage.setItem('jhd-log', log.textContent)).observe(log, {childList: true});
});
"""
# The refused start: the hub answers the spawn request with the refusal's page (507 Insufficient Storage).
REFUSED = ("/hub/spawn", "the server responded with a status of 507")


@pytest.fixture(scope="module")
def hub(deployment):
    """alice over her 20M limit, bob at about 90% of it; measured, their servers stopped."""
    (deployment.root / "userlist").write_text(USERLIST)
    deployment.env.update(NOTEBOOK_DISK_LIMIT="20M")
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    for name, mib in (("alice", 25), ("bob", 18)):
        client = deployment.logged_in(name)
        client.spawn(name)
        code = f"open('/home/jovyan/work/data.bin', 'wb').write(__import__('os').urandom({mib * MIB})); print('ok')"
        assert client.run_code(name, code).strip() == "ok"
        client.stop_server(name)
        client.wait_stopped(name)
    deployment.invoke("usage", "--disk", "--scan")
    return deployment



def test_a_start_over_the_limit_is_refused_with_what_the_user_uses(browsers, hub):
    alice = trusting(browsers, hub)
    since = alice.mark()
    log_in(alice, hub, "alice")  # the login starts her server, as it does for everyone
    shown = alice.wait_for_text("over your disk limit", timeout=60, css=".error p")
    assert "Your files use 25.0 MiB, over your disk limit of 20.0 MiB" in shown.text
    assert alice.element(".error h1").text.startswith("507")
    assert "/user/alice/" not in alice.url
    alice.shot("disk-refused", doc=True)
    assert_clean(alice, since, expected=REFUSED)


def test_near_the_limit_the_hub_and_jupyterlab_say_so(browsers, hub):
    bob = trusting(browsers, hub)
    since = bob.mark()
    bob.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LOG_RECORDER})
    log_in(bob, hub, "bob")
    bob.element(".jp-LabShell", timeout=120)
    spawn_log = bob.driver.execute_script("return sessionStorage.getItem('jhd-log') || ''")
    assert "of your 20.0 MiB disk limit" in spawn_log, spawn_log  # the spawn page said it first
    toast = bob.wait_for_text("of your 20.0 MiB disk limit", timeout=60, css=".Toastify__toast")
    assert "Delete files you no longer need" in toast.text
    bob.shot("disk-notice-jupyterlab", doc=True)
    bob.get(hub.url + "hub/home")
    assert "of your 20.0 MiB disk limit" in bob.element("#jhdeploy-disk-notice").text
    assert_clean(bob, since)


def test_the_usage_report_page_shows_every_chart_and_the_users(browsers, hub):
    page = hub.root / "report.html"
    hub.invoke("usage", "--since", "1d", "--html", str(page))
    reader = browsers.new()
    since = reader.mark()
    reader.get(page.as_uri())
    images = reader.find("img")
    assert len(images) == 4
    loaded = reader.wait(lambda: reader.driver.execute_script(
        "const all = [...document.images]; return all.every(i => i.complete && i.naturalWidth > 0) && all.length;"),
        what="every chart to load")
    assert loaded == 4
    tables = " ".join(table.text for table in reader.find("table"))
    for name in ("admin", "alice", "bob"):
        assert name in tables, tables
    assert "25.0 MiB" in tables and "20.0 MiB" in tables
    reader.driver.set_window_size(1200, 2400)
    reader.shot("usage-report", doc=True)
    assert_clean(reader, since)
