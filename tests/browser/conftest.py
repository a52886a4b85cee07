"""The browser tier: headless Chromium against stacks that `invoke` brings up.

Screenshots of every step go to test-artifacts/browser/ (JHDEPLOY_BROWSER_SHOTS), which is
git-ignored and left in place after a run. A failed step adds FAILED-<test>.png and
FAILED-<test>.console.log there; its report names both and lists what went wrong in the page. With
JHDEPLOY_DOC_SCREENSHOTS=docs/images the README's screenshots are taken anew
(tests/browser/screenshots.sh).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import chromium
import pytest
from harness import REPO

SHOTS = Path(os.environ.get("JHDEPLOY_BROWSER_SHOTS", REPO / "test-artifacts" / "browser"))
DOCS = Path(REPO, os.environ["JHDEPLOY_DOC_SCREENSHOTS"]) if os.environ.get("JHDEPLOY_DOC_SCREENSHOTS") else None
IPV6_OFF_FOR_NEW = Path("/proc/sys/net/ipv6/conf/default/disable_ipv6")


class Browsers:
    """Opens Chromium instances for one test module and closes them at its end."""

    def __init__(self):
        self.open: list[chromium.Browser] = []

    def new(self, trust: dict[Path, str] | None = None, hosts: dict[str, str] | None = None) -> chromium.Browser:
        browser = chromium.Browser(SHOTS, trust=trust, hosts=hosts, docs=DOCS)
        self.open.append(browser)
        return browser

    def close_all(self) -> None:
        while self.open:
            self.open.pop().close()


@pytest.fixture(scope="session")
def chromium_installed():
    missing = chromium.available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the browser is not installed ({missing}); .ci/run installs it.")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def no_ipv6_on_new_interfaces():
    """Chromium drops what it is loading (chromium.HOST_NOISE) whenever this host gains an address, and
    each container Docker starts adds a veth here that gets an IPv6 link-local one a second later, as a
    page loads. The tier's browser shares the engine's host, which a user's browser never does: for
    the tier's run new interfaces get no IPv6 (containers keep theirs), then the setting is restored."""
    if not IPV6_OFF_FOR_NEW.exists():  # no IPv6 on this host: nothing to quiet
        yield
        return
    before = IPV6_OFF_FOR_NEW.read_text()
    try:
        IPV6_OFF_FOR_NEW.write_text("1")
    except OSError as error:
        message = f"cannot turn IPv6 off for new interfaces ({error}); pages may lose requests to HOST_NOISE"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}; .ci/run runs as root.")
        warnings.warn(message, stacklevel=1)
        yield
        return
    try:
        yield
    finally:
        IPV6_OFF_FOR_NEW.write_text(before)


@pytest.fixture(scope="module")
def browsers(chromium_installed, no_ipv6_on_new_interfaces):
    browsers = Browsers()
    yield browsers
    browsers.close_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed step keeps its evidence: each open browser's screenshot and console log."""
    report = yield
    browsers = item.funcargs.get("browsers") if hasattr(item, "funcargs") else None
    if report.failed and report.when in ("setup", "call") and browsers:
        lines = []
        for number, browser in enumerate(browsers.open):
            try:
                screenshot, log = browser.save_failure(f"{item.name}-{number}")
                lines.append(f"browser {number} at {browser.url}:\n  screenshot: {screenshot}\n  console log: {log}")
                # CI keeps only its output: what went wrong in the page is printed, host noise included.
                lines += [f"  {problem}" for problem in browser.problems(noise=True)]
            except Exception as error:  # a browser that crashed has nothing to save
                lines.append(f"browser {number}: nothing saved ({error})")
        report.sections.append(("browser evidence", "\n".join(lines)))
    return report
