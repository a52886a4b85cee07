"""Is the hub up? Checks from this host, and what to tell the user."""

from __future__ import annotations

import datetime

import requests
from invoke import Exit

from jhdeploy import engine, tlsprobe
from jhdeploy.layout import HUB_SERVICE
from jhdeploy.stack import Stack


def check(stack: Stack, timeout: float = 5) -> tuple[bool, str]:
    """GET /hub/health through the published port, verifying our certificate.

    With use_ssl_le the name on the certificate may not resolve here, so the
    check connects to the local port with JH_FQDN as the server name, and asks
    for a certificate that names it.
    """
    if stack.uses_le:
        served = tlsprobe.fetch(int(stack.settings["JUPYTERHUB_HTTPS_PORT"]), stack.host, timeout=timeout)
        if served.certificate is None or stack.host not in tlsprobe.names(served.certificate):
            return False, "no certificate for JH_FQDN yet"
        return served.status == 200, f"HTTP {served.status}"
    try:
        response = requests.get(stack.local_url + "hub/health", verify=stack.ca_bundle, timeout=timeout)
    except requests.RequestException as error:
        return False, f"no answer ({type(error).__name__})"
    return response.status_code == 200, f"HTTP {response.status_code}"


def describe(stack: Stack) -> str:
    ok, detail = check(stack)
    return f"{'healthy' if ok else 'not answering'} ({detail})"


def certificate_report(stack: Stack) -> str | None:
    """The served certificate's issuer, names and expiry, with a warning under 14 days."""
    if stack.settings["JUPYTERHUB_SSL"] == "no_ssl":
        return None
    served = tlsprobe.fetch(int(stack.settings["JUPYTERHUB_HTTPS_PORT"]), stack.host)
    if served.certificate is None:
        return "Certificate: none served yet"
    line, expiring = tlsprobe.describe(served.certificate)
    warning = "\n!!! The certificate expires in under 14 days" + (
        ": check the proxy's logs (`invoke logs --service proxy`) for renewal errors." if stack.uses_le else ".")
    return f"Certificate: {line}" + (warning if expiring else "")


def _finished_since(state: dict, since: datetime.datetime) -> bool:
    """True if the container stopped (exited or crashed) after `since`."""
    finished = state.get("FinishedAt", "")[:19]
    if not finished or finished.startswith("0001"):
        return False
    return datetime.datetime.fromisoformat(finished).replace(tzinfo=datetime.timezone.utc) >= since


def failed_service(states: dict[str, dict], since: datetime.datetime) -> str | None:
    """The first service that crashed after `since` or reports itself unhealthy."""
    for service, state in sorted(states.items()):
        crashed = (state.get("Restarting") or state.get("Status") == "exited") and _finished_since(state, since)
        if crashed or state.get("Health", {}).get("Status") == "unhealthy":
            return service
    return None


def wait_until_healthy(c, stack: Stack, timeout: float, since: datetime.datetime) -> None:
    """Poll until healthy; fail early, with the logs, if a service crashes after `since`."""
    def healthy_or_failed():
        failed = failed_service(engine.service_states(c, stack), since)
        if failed:
            return failed
        return "healthy" if check(stack, timeout=3)[0] else None

    if c.config.run.dry:
        return
    # 0.2 s: part of the cold start users wait for (docs/performance.md).
    outcome = engine.wait_for(healthy_or_failed, timeout, interval=0.2)
    if outcome == "healthy":
        return
    service = outcome or HUB_SERVICE
    what = f"{service} failed while starting" if outcome else f"the hub did not answer within {timeout:.0f} s"
    logs = ["logs", "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"), "--tail", "60", service]
    result = engine.compose(c, stack, logs, warn=True, echo=False, hide="both")
    text = result.stdout + result.stderr
    if needs_upgrade(text):
        # Stop the restart loop: the hub refuses this database until it is upgraded.
        engine.compose(c, stack, ["stop"], hide="both", echo=False)
        raise Exit(
            "\n✗ The hub database has an older schema than this JupyterHub. The stack is stopped.\n"
            "Run `invoke upgrade-db` (it backs up first), then `invoke start`.",
            code=1,
        )
    print(text)
    raise Exit(
        f"\n✗ {what}; its log lines are above. Fix the cause, then run `invoke restart`. "
        "`invoke logs` follows the logs.",
        code=1,
    )


def needs_upgrade(hub_logs: str) -> bool:
    """JupyterHub's refusal to run on an old schema ("Found database schema version X != Y")."""
    return "database schema version" in hub_logs and "upgrade-db" in hub_logs


def login_hint(stack: Stack) -> str:
    auth = stack.authenticator
    hint = {
        "dummy_authenticator": "Log in as any user listed in userlist, with the password DUMMY_AUTH_PASSWORD "
                               "from .env.",
        "hash_authenticator": "Log in as a user listed in userlist; `invoke user-password NAME` prints the "
                              "password.",
        "native_authenticator": "Sign up at /hub/signup; admins authorize new users at /hub/authorize.",
        "tmp_authenticator": "Every visitor gets a temporary user.",
    }.get(auth, "Log in through your identity provider.")
    if stack.uses_tls:
        hint += "\nThe certificate is self-signed: your browser asks you to accept it once."
    return hint


def mask_secrets(text: str, stack: Stack) -> str:
    for value in stack.secret_values():
        text = text.replace(value, "********")
    return text
