"""Headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, as a user's browser.

Each Browser has its own profile and its own NSS certificate store, which trusts exactly
the certificates a test hands it: a TLS error is a real error, never ignored. It keeps
the console's messages and every HTTP response and WebSocket handshake it saw, so that a
step can say which of them went wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("JHDEPLOY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JHDEPLOY_CHROMEDRIVER", "/usr/bin/chromedriver")
# Chromium's own calls home (updates, sync, safe browsing) find no network here and only add noise.
FLAGS = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--window-size=1366,860", "--lang=en-US"]
TRUST = {"server": "P,,", "ca": "C,,"}  # NSS trust flags: a self-signed server certificate, or a root
# Chromium aborts what is in flight when this host gains an IP address, as the veth of each container
# Docker starts here does (a user's browser is never on the engine's host). No server sends it; the
# browser tier's conftest gives new interfaces no IPv6, which leaves only the bridges' own addresses.
HOST_NOISE = ("net::ERR_NETWORK_CHANGED",)


def available() -> str | None:
    """None when Chromium and its driver are installed, else what is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER, shutil.which("certutil")) if not path or
               not Path(path).exists()]
    return None if not missing else "missing: " + ", ".join(str(m) for m in missing) + \
        " (apt-get install chromium chromium-driver libnss3-tools)"


@dataclass
class Problem:
    what: str  # "console" or "request"
    text: str

    def __str__(self) -> str:
        return f"{self.what}: {self.text}"


class Browser:
    def __init__(self, shots: Path, trust: dict[Path, str] | None = None, hosts: dict[str, str] | None = None,
                 docs: Path | None = None):
        self.shots, self.docs = shots, docs
        self.home = Path(tempfile.mkdtemp(prefix="jhd-browser-"))
        nssdb = self.home / ".pki" / "nssdb"
        nssdb.mkdir(parents=True)
        subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
        for number, (cert, kind) in enumerate((trust or {}).items()):
            subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", f"test-{number}", "-t", TRUST[kind],
                            "-i", str(cert)], check=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + [f"--user-data-dir={self.home / 'profile'}"]:
            options.add_argument(flag)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
        if hosts:  # as /etc/hosts lines would do, for this browser only
            rules = ",".join(f"MAP {name} {address}" for name, address in hosts.items())
            options.add_argument(f"--host-resolver-rules={rules}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        # Chromium reads the NSS store under $HOME; the driver given by path keeps Selenium Manager offline.
        service = Service(CHROMEDRIVER, env={**os.environ, "HOME": str(self.home)})
        self.driver = webdriver.Chrome(options=options, service=service)
        self.console: list[dict] = []
        self.network: list[dict] = []  # responses and WebSocket handshakes: url, status, method
        self._urls: dict[str, tuple[str, str]] = {}  # request id -> (url, method)

    # --- navigation and waiting ---

    def get(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    def wait(self, condition: Callable[[], object], timeout: float = 30, what: str = "") -> object:
        """Poll `condition` until it returns something true; fail naming `what`."""
        try:
            # A page that reloads while polled leaves stale elements: asked again at the next poll.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"after {timeout:.0f} s, still waiting for {what or condition} "
                                 f"(at {self.url})") from None

    def find(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def element(self, css: str, timeout: float = 30, visible: bool = True) -> WebElement:
        """The first element matching `css`, once it is there (and displayed)."""
        def found():
            return next((e for e in self.find(css) if not visible or e.is_displayed()), None)
        return self.wait(found, timeout, f"the element {css!r}")

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for_text(self, text: str, timeout: float = 30, css: str = "body") -> WebElement:
        def found():
            return next((e for e in self.find(css) if text in e.text), None)
        return self.wait(found, timeout, f"{text!r} in {css!r}")

    def click_text(self, css: str, text: str, timeout: float = 30) -> None:
        """Click the first displayed `css` element whose text is `text`."""
        def found():
            return next((e for e in self.find(css) if e.is_displayed() and e.text.strip() == text), None)
        self.wait(found, timeout, f"a {css!r} reading {text!r}").click()

    # --- what the browser saw ---

    def collect(self) -> None:
        """Move the driver's buffered console and network logs into this object (reading empties them)."""
        self.console += self.driver.get_log("browser")
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method", ""), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self._urls[params["requestId"]] = (params["request"]["url"], params["request"]["method"])
            elif method == "Network.responseReceived":
                response = params["response"]
                method_seen = self._urls.get(params["requestId"], ("", "GET"))[1]
                self.network.append({"url": response["url"], "status": response["status"], "method": method_seen})
            elif method == "Network.webSocketHandshakeResponseReceived":
                url = self._urls.get(params["requestId"], ("", ""))[0]
                self.network.append({"url": url, "status": params["response"]["status"], "method": "WebSocket"})
            elif method == "Network.webSocketCreated":
                self._urls[params["requestId"]] = (params["url"], "WebSocket")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                url, method_seen = self._urls.get(params["requestId"], ("?", "?"))
                self.network.append({"url": url, "status": params.get("errorText", "failed"), "method": method_seen})

    def mark(self) -> tuple[int, int]:
        """Where the logs stand now: problems(since=mark) reports only what comes after."""
        self.collect()
        return len(self.console), len(self.network)

    def problems(self, since: tuple[int, int] = (0, 0), expected: tuple[str, ...] = (),
                 noise: bool = False) -> list[Problem]:
        """Console errors, and failed requests under /hub/ or /user/, since a mark, except those whose
        text holds one of `expected` (or HOST_NOISE, unless `noise`)."""
        self.collect()
        found = [Problem("console", f"{e['level']} {e['message']}") for e in self.console[since[0]:]
                 if e["level"] == "SEVERE"]
        found += [Problem("request", f"{r['method']} {r['url']} -> {r['status']}") for r in self.network[since[1]:]
                  if ("/hub/" in r["url"] or "/user/" in r["url"])
                  and (not isinstance(r["status"], int) or r["status"] >= 400)]
        ignored = expected + (() if noise else HOST_NOISE)
        return [p for p in found if not any(text in str(p) for text in ignored)]

    def requests_to(self, fragment: str) -> list[dict]:
        self.collect()
        return [r for r in self.network if fragment in r["url"]]

    # --- evidence ---

    def shot(self, name: str, doc: bool = False) -> Path:
        """A screenshot of the page as it is now, as SHOTS/NAME.png; with `doc`, also the README's
        copy when this run makes them (DOCS/NAME.png)."""
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        if doc and self.docs:
            self.docs.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, self.docs / path.name)
        return path

    def save_failure(self, name: str) -> tuple[Path, Path]:
        """The page and everything the console said, for a failed step."""
        screenshot = self.shot(f"FAILED-{name}")
        log = self.shots / f"FAILED-{name}.console.log"
        try:
            self.collect()
        except Exception as error:  # the browser may be what broke
            self.console.append({"level": "NOTE", "message": f"could not read the logs: {error}", "timestamp": 0})
        lines = [f"{e.get('timestamp', 0)} {e['level']} {e['message']}" for e in self.console]
        lines += ["", "# requests with status >= 400 or failed"]
        lines += [f"{r['method']} {r['url']} -> {r['status']}" for r in self.network
                  if not isinstance(r["status"], int) or r["status"] >= 400]
        lines += ["", f"# page: {self.url}", time.strftime("# saved %Y-%m-%d %H:%M:%S")]
        log.write_text("\n".join(lines) + "\n")
        return screenshot, log

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
