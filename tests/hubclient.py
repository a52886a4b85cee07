"""A browser-like JupyterHub client on `requests`: login form, spawn, server APIs."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit

import requests


class HubClient:
    def __init__(self, base_url: str, verify):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        # Passed on every request: a session-level `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify = verify

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, url, verify=self.verify, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", self.base + path, **kwargs)

    def _xsrf(self, path: str = "/hub/") -> str:
        """The _xsrf cookie a browser sends first for `path`: the one with the longest matching path."""
        matching = [c for c in self.session.cookies if c.name == "_xsrf" and path.startswith(c.path or "/")]
        return max(matching, key=lambda c: len(c.path or "/")).value if matching else ""

    def login(self, username: str, password: str) -> requests.Response:
        """Submit the real login form, following redirects as a browser does."""
        self.get("/hub/login")
        form = {"username": username, "password": password, "_xsrf": self._xsrf("/hub/")}
        return self.request("POST", self.base + "/hub/login", data=form)

    def oauth_login(self, provider_seen_by_hub: str, provider_seen_by_us: str) -> requests.Response:
        """The browser side of an OAuth login: hub -> provider -> hub callback.

        The provider's name resolves only on the stack's network, so the redirect
        to it is rewritten to its published port, as a hosts-file entry would.
        """
        to_provider = self.get("/hub/oauth_login", allow_redirects=False)
        assert to_provider.status_code == 302, to_provider.text
        location = to_provider.headers["Location"]
        assert location.startswith(provider_seen_by_hub), location
        back = self.request("GET", location.replace(provider_seen_by_hub, provider_seen_by_us, 1),
                            allow_redirects=False)
        assert back.status_code == 302, back.text
        return self.request("GET", back.headers["Location"])

    def signup(self, username: str, password: str) -> requests.Response:
        """NativeAuthenticator's sign-up form."""
        self.get("/hub/signup")
        form = {"username": username, "signup_password": password,
                "signup_password_confirmation": password, "_xsrf": self._xsrf("/hub/")}
        return self.request("POST", self.base + "/hub/signup", data=form)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the hub's REST API with the login cookie (and its XSRF token)."""
        headers = {"X-XSRFToken": self._xsrf("/hub/")}
        return self.request(method, self.base + "/hub/api" + path, headers=headers, **kwargs)

    def progress(self, username: str, timeout: float = 600) -> list[dict]:
        """The spawn page's event stream, as a browser reads it, to its end (the server ready, or failed)."""
        response = self.get(f"/hub/api/users/{username}/server/progress", stream=True, timeout=timeout,
                            headers={"X-XSRFToken": self._xsrf("/hub/")})
        events = []
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    break
        return events

    def spawn(self, username: str, timeout: float = 120, server: str = "", options: dict | None = None) -> dict:
        """Start a server (the default one, or a named one) and wait until the hub reports it ready."""
        path = f"/users/{username}/servers/{server}" if server else f"/users/{username}/server"
        response = self.api("POST", path, json=options) if options else self.api("POST", path)
        # Logging in already starts the default server; a second request says so (or, just after a hub
        # restart, that the hub is still checking the server it found running).
        already = response.status_code == 400 and ("already" in response.text or "pending check" in response.text)
        assert response.status_code in (201, 202) or already, (response.status_code, response.text)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{username}").json()
            if model.get("servers", {}).get(server, {}).get("ready"):
                return model
            time.sleep(1)
        raise AssertionError(f"server of {username} not ready after {timeout} s: {model}")

    def wait_stopped(self, username: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api("GET", f"/users/{username}").json().get("servers"):
                return
            time.sleep(0.5)
        raise AssertionError(f"server of {username} still running after {timeout} s")

    def stop_server(self, username: str) -> None:
        response = self.api("DELETE", f"/users/{username}/server")
        assert response.status_code in (202, 204), (response.status_code, response.text)

    def contents(self, method: str, username: str, path: str = "", server: str = "", **kwargs) -> requests.Response:
        """A server's Jupyter Server contents API, through the proxy."""
        prefix = f"/user/{username}/{server + '/' if server else ''}"
        self.get(prefix + "lab")  # the server's own login (OAuth with the hub) and _xsrf cookie
        headers = {"X-XSRFToken": self._xsrf(prefix)}
        url = f"{self.base}{prefix}api/contents/{path}"
        return self.request(method, url, headers=headers, **kwargs)

    def run_code(self, username: str, code: str, kernel: str = "python3", server: str = "") -> str:
        """Start a kernel of this kind in the user's server, run `code` over its WebSocket, return its output."""
        import websocket

        prefix = f"/user/{username}/{server + '/' if server else ''}"
        self.get(prefix + "lab")
        headers = {"X-XSRFToken": self._xsrf(prefix)}
        started = self.request("POST", f"{self.base}{prefix}api/kernels", json={"name": kernel}, headers=headers)
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        parts = urlsplit(self.base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        ssl = {"ca_certs": self.verify} if isinstance(self.verify, str) else {}
        ws = websocket.create_connection(f"{scheme}://{parts.netloc}{prefix}api/kernels/{kernel_id}/channels",
                                         sslopt=ssl, cookie=cookies, suppress_origin=True, timeout=60)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": username,
                           "session": uuid.uuid4().hex, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            output = []
            while True:
                reply = json.loads(ws.recv())
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = reply["header"]["msg_type"]
                if kind == "stream":
                    output.append(reply["content"]["text"])
                elif kind == "error":
                    raise AssertionError(f"{kernel} kernel: {reply['content']['ename']}: {reply['content']['evalue']}")
                elif kind == "status" and reply["content"]["execution_state"] == "idle":
                    return "".join(output)
        finally:
            ws.close()
            self.request("DELETE", f"{self.base}{prefix}api/kernels/{kernel_id}", headers=headers)
