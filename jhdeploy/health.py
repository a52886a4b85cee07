"""Is the hub up? Checks from this host, and what to tell the user."""

from __future__ import annotations

import datetime

import requests
from invoke import Exit

from jhdeploy import engine
from jhdeploy import settings as settings_module
from jhdeploy.layout import HUB_SERVICE
from jhdeploy.stack import Stack


def check(stack: Stack, timeout: float = 5) -> tuple[bool, str]:
    """GET /hub/health through the published port, verifying our certificate."""
    try:
        response = requests.get(stack.local_url + "hub/health", verify=stack.ca_bundle, timeout=timeout)
    except requests.RequestException as error:
        return False, f"no answer ({type(error).__name__})"
    return response.status_code == 200, f"HTTP {response.status_code}"


def describe(stack: Stack) -> str:
    ok, detail = check(stack)
    return f"{'healthy' if ok else 'not answering'} ({detail})"


def _finished_since(state: dict, since: datetime.datetime) -> bool:
    """True if the container stopped (exited or crashed) after `since`."""
    finished = state.get("FinishedAt", "")[:19]
    if not finished or finished.startswith("0001"):
        return False
    return datetime.datetime.fromisoformat(finished).replace(tzinfo=datetime.timezone.utc) >= since


def wait_until_healthy(c, stack: Stack, timeout: float, since: datetime.datetime) -> None:
    """Poll until healthy; fail early, with the hub's logs, if it crashes after `since`."""
    def healthy_or_crashed():
        state = engine.hub_state(c, stack) or {}
        if (state.get("Restarting") or state.get("Status") == "exited") and _finished_since(state, since):
            return "crashed"
        return "healthy" if check(stack, timeout=3)[0] else None

    if c.config.run.dry:
        return
    outcome = engine.wait_for(healthy_or_crashed, timeout, interval=1.0)
    if outcome == "healthy":
        return
    what = "crashed while starting" if outcome == "crashed" else f"did not answer within {timeout:.0f} s"
    logs = ["logs", "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"), "--tail", "60", HUB_SERVICE]
    engine.compose(c, stack, logs, warn=True, echo=False)
    raise Exit(
        f"\n✗ The hub {what}; its log lines are above. Fix the cause, then run `invoke restart`. "
        "`invoke logs` follows the logs.",
        code=1,
    )


def login_hint(stack: Stack) -> str:
    hint = "Log in as any user listed in userlist, with the password DUMMY_AUTH_PASSWORD from .env."
    if stack.uses_tls:
        hint += "\nThe certificate is self-signed: your browser asks you to accept it once."
    return hint


def mask_secrets(text: str, stack: Stack) -> str:
    for key in settings_module.SECRET_KEYS:
        value = stack.settings[key]
        if value:
            text = text.replace(value, "********")
    return text
