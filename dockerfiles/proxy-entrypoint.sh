#!/bin/sh
# Entrypoint of the proxy image (dockerfiles/Dockerfile.proxy).
#   jhdeploy-proxy ARGS...     configurable-http-proxy ARGS, with the token from
#                              /run/secrets/proxy_token, and TLS when
#                              /run/secrets/ssl_cert and ssl_key are mounted, and metrics on
#                              CHP_METRICS_PORT when it is set
#   jhdeploy-proxy routes      how many routes the proxy holds (`invoke status`)
#   jhdeploy-proxy healthcheck exit 0 once the API answers (the image's HEALTHCHECK)
set -eu

secrets=/run/secrets
# Mozilla's "intermediate" list: forward secrecy and AEAD only, no CBC-SHA1 suite.
ciphers=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384
ciphers=$ciphers:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
ciphers=$ciphers:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305

CONFIGPROXY_AUTH_TOKEN=$(cat "$secrets/proxy_token")
export CONFIGPROXY_AUTH_TOKEN

api() {
  # GET http://127.0.0.1:8001/api/routes with the token; prints the body.
  node -e '
    const http = require("http");
    const request = http.get({host: "127.0.0.1", port: 8001, path: "/api/routes", timeout: 4000,
      headers: {Authorization: "token " + process.env.CONFIGPROXY_AUTH_TOKEN}}, (response) => {
        let body = "";
        response.on("data", (chunk) => body += chunk);
        response.on("end", () => { process.stdout.write(body); process.exit(response.statusCode === 200 ? 0 : 1); });
      });
    request.on("error", () => process.exit(1));
    request.on("timeout", () => process.exit(1));'
}

case "${1:-}" in
  routes)
    api | node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () =>
      console.log(Object.keys(JSON.parse(s)).length))'
    exit
    ;;
  healthcheck)
    api >/dev/null
    exit
    ;;
esac

if [ -f "$secrets/ssl_cert" ] && [ -f "$secrets/ssl_key" ]; then
  # Node refuses TLS 1.0 and 1.1 by default (minimum TLSv1.2).
  set -- "$@" --ssl-cert "$secrets/ssl_cert" --ssl-key "$secrets/ssl_key" --ssl-ciphers "$ciphers"
fi
if [ -n "${CHP_METRICS_PORT:-}" ]; then
  # The metrics add-on (compose/metrics.yml) reads them on its own network.
  set -- "$@" --metrics-ip 0.0.0.0 --metrics-port "$CHP_METRICS_PORT"
fi
exec configurable-http-proxy "$@"
