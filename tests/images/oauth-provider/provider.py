"""A small OAuth2 / OpenID Connect provider for the end-to-end tests.

It implements only what oauthenticator calls, in two dialects:
  - GitHub (Enterprise) style: /login/oauth/authorize, /login/oauth/access_token,
    /api/v3/user, /api/v3/user/teams, /api/v3/orgs/ORG/members/USER;
  - OpenID Connect: /.well-known/openid-configuration, /authorize, /token, /userinfo.
There is no login form: the test says who logs in next with POST /_next_user
{"login": ..., "orgs": [...], "teams": ["org/slug", ...], "groups": [...]}, then drives the real
redirects.
Standard library only, so it runs on the stand-in Debian image.
"""

import base64
import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = sys.argv[2]
CLIENT_SECRET = sys.argv[3]
next_user = {}
codes = {}  # code -> identity
tokens = {}  # access token -> identity


class Provider(BaseHTTPRequestHandler):
    def reply(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def identity(self):
        auth = self.headers.get("Authorization", "")
        return tokens.get(auth.split(" ", 1)[-1])

    def base(self):
        return f"http://{self.headers['Host']}"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            base = self.base()
            return self.reply(200, {
                "issuer": base, "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token", "userinfo_endpoint": f"{base}/userinfo",
            })
        if url.path in ("/authorize", "/login/oauth/authorize"):
            if query.get("client_id") != CLIENT_ID or not next_user:
                return self.reply(400, {"error": "unauthorized_client or no next user"})
            code = secrets.token_urlsafe(16)
            codes[code] = dict(next_user)
            target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
            return self.reply(302, headers=[("Location", target)])
        who = self.identity()
        if who is None:
            return self.reply(401, {"error": "invalid_token"})
        if url.path == "/api/v3/user":
            return self.reply(200, {"login": who["login"], "id": abs(hash(who["login"])) % 10**6,
                                    "name": who["login"], "email": f"{who['login']}@example.test"})
        if url.path == "/api/v3/user/teams":  # "org/slug" in the identity's teams, as GitHub lists them
            return self.reply(200, [{"slug": team.split("/")[1], "name": team.split("/")[1],
                                     "organization": {"login": team.split("/")[0]}} for team in who.get("teams", [])])
        if url.path.startswith("/api/v3/orgs/"):
            org, user = url.path.split("/")[4], url.path.split("/")[-1]
            return self.reply(204 if org in who.get("orgs", []) and user == who["login"] else 404)
        if url.path == "/userinfo":
            return self.reply(200, {"sub": who["login"], "preferred_username": who["login"],
                                    "email": f"{who['login']}@example.test", "groups": who.get("groups", [])})
        return self.reply(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        data = self.form()
        if self.path == "/_next_user":
            next_user.clear()
            next_user.update(data)
            return self.reply(204)
        if self.path in ("/token", "/login/oauth/access_token"):
            client_id, client_secret = data.get("client_id"), data.get("client_secret")
            basic = self.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                client_id, client_secret = base64.b64decode(basic[6:]).decode().split(":", 1)
            identity = codes.pop(data.get("code"), None)
            if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET) or identity is None:
                return self.reply(400, {"error": "invalid_grant"})
            token = secrets.token_urlsafe(16)
            tokens[token] = identity
            return self.reply(200, {"access_token": token, "token_type": "bearer", "scope": "openid"})
        return self.reply(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Provider).serve_forever()
