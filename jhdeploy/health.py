"""Is the hub up? Checks from this host, as the SSL mode's record says to make them."""

from __future__ import annotations

import datetime
import time

import requests

from jhdeploy import engine, tlsprobe
from jhdeploy.stack import Stack


def check(stack: Stack, timeout: float = 5) -> tuple[bool, str]:
    """GET /hub/health through the published port, verifying the certificate.

    With an ACME certificate or the admin's own, the name on it may not resolve
    here, so the check connects to the local port with JH_FQDN as the server
    name, and asks for a certificate that names it.
    """
    if stack.ssl.verify == "by_name":
        served = tlsprobe.fetch(stack.settings[stack.ssl.port_key], stack.host, timeout=timeout)
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
    if stack.ssl.scheme != "https":
        return None
    served = tlsprobe.fetch(stack.settings[stack.ssl.port_key], stack.host)
    if served.certificate is None:
        return "Certificate: none served yet"
    line, expiring = tlsprobe.describe(served.certificate)
    front = stack.ssl.front
    warning = "\n!!! The certificate expires in under 14 days" + (
        f": check its logs (`invoke logs --service {front}`) for renewal errors." if front else ".")
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


def wait_until_healthy(c, stack: Stack, timeout: float, since: datetime.datetime) -> str:
    """Poll until healthy: returns "healthy", a service that crashed after `since`, or "" on timeout."""
    states_due = 0.0

    def healthy_or_failed():
        nonlocal states_due
        if check(stack, timeout=3)[0]:
            return "healthy"
        # The crash check runs `docker` twice: once a second, so it does not slow the hub's own start.
        if time.monotonic() >= states_due:
            states_due = time.monotonic() + 1
            return failed_service(engine.service_states(c, stack.project), since)
        return None

    # 0.1 s: part of the cold start users wait for (docs/performance.md).
    return engine.wait_for(healthy_or_failed, timeout, interval=0.1) or ""


def needs_upgrade(hub_logs: str) -> bool:
    """JupyterHub's refusal to run on an old schema ("Found database schema version X != Y")."""
    return "database schema version" in hub_logs and "upgrade-db" in hub_logs


def mask_secrets(text: str, stack: Stack) -> str:
    for value in stack.secret_values():
        text = text.replace(value, "********")
    return text
