"""Disk limits in the hub: who may start a server, what users are told, and the log `invoke usage` reads.

The disk-scan service (jhdeploy_hub.diskscan) measures; this decides from its usage.json, in
contract.DISK_STATE. A user over their limit (NOTEBOOK_DISK_LIMIT, or their groups' most generous
`disk_limit`) does not start a new server unless an admin granted one start (`invoke allow-start`,
a file in ALLOW_DIR that the start takes away); when the disk where Docker keeps volumes has less
than its reserve free, nobody does. A running server is never stopped for either.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from pathlib import Path

from jhdeploy_hub import contract
from jhdeploy_hub.contract import human_size

STATE = Path(contract.DISK_STATE)


class DiskRefusal(Exception):
    """A start refused, in words for the user; `reason` labels it (the spawner makes it JupyterHub's
    SpawnException, which the spawn page and the REST API show, and metrics count as a failure)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def read_usage(state: Path = STATE) -> dict:
    """The disk-scan service's last figures; {} when there are none, or none of the shape it writes (nothing
    is refused for want of a figure)."""
    try:
        usage = json.loads((state / contract.USAGE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(usage, dict):
        return {}
    numbers = all(isinstance(usage.get(key, 0), (int, float)) for key in ("free", "reserve"))
    servers = usage.get("servers", [])
    entries = isinstance(servers, list) and all(
        isinstance(entry, dict) and isinstance(entry.get("user"), str) and isinstance(entry.get("bytes"), int)
        for entry in servers)
    return usage if numbers and entries else {}


def used_by(usage: dict, user: str) -> int | None:
    """Bytes of all the user's servers' volumes and folders at the last scan; None before the first."""
    if "servers" not in usage:
        return None
    return sum(entry["bytes"] for entry in usage["servers"] if entry["user"] == user)


def limit_of(plan: dict, default: str, groups: list[str]) -> int | None:
    """The user's limit in bytes: the most generous of their groups' `disk_limit`, else .env's; None: none."""
    offers = [contract.parse_size(value) for group, value in plan.get("limits", {}).get("disk_limit", [])
              if group in groups]
    if offers:
        return max(offers)
    return contract.parse_size(default) if default else None


def allowance(user: str, state: Path = STATE) -> Path:
    return state / contract.ALLOW_DIR / urllib.parse.quote(user, safe="")


def over_limit(used: int, limit: int) -> str:
    return (f"Your files use {human_size(used)}, over your disk limit of {human_size(limit)}, so a new server "
            "cannot start. Ask your hub's admin for a one-time start to delete files you no longer need.")


def low_disk(usage: dict) -> str:
    return (f"The hub's disk is nearly full ({human_size(usage['free'])} free, below the "
            f"{human_size(usage['reserve'])} it keeps in reserve), so no new server can start. Running servers "
            "keep working; please tell your hub's admin.")


def check_start(user: str, limit: int | None, usage: dict, state: Path = STATE) -> str:
    """Raise DiskRefusal if this start must not happen; else what to tell the user ('' for nothing).
    A one-time grant lets a user over their limit start (and is used up), never past the reserve."""
    if usage.get("free") is not None and usage["free"] < usage.get("reserve", 0):
        raise DiskRefusal(low_disk(usage), "disk-reserve")
    used = used_by(usage, user)
    if limit is None or used is None:
        return ""
    if used > limit:
        grant = allowance(user, state)
        if not grant.exists():
            raise DiskRefusal(over_limit(used, limit), "disk-limit")
        grant.unlink(missing_ok=True)
        return (f"Your files use {human_size(used)}, over your disk limit of {human_size(limit)}. An admin "
                "allowed this one start: delete files you no longer need, or the next start will be refused.")
    return notice(used, limit)


def notice(used: int | None, limit: int | None) -> str:
    """From DISK_WARN_FRACTION of the limit on, what the spawn page, the home page and JupyterLab say."""
    if used is None or not limit or used < limit * contract.DISK_WARN_FRACTION:
        return ""
    if used > limit:
        return over_limit(used, limit)
    return (f"Your files use {human_size(used)} of your {human_size(limit)} disk limit "
            f"({100 * used / limit:.0f}%). Delete files you no longer need: over the limit, a new server "
            "will not start.")


def record(event: str, user: str, server: str, seconds: float | None = None, state: Path = STATE) -> None:
    """One line of the usage log (`invoke usage`); a log that cannot be written never fails a start."""
    line = {"time": round(time.time(), 3), "event": event, "user": user, "server": server}
    if seconds is not None:
        line["seconds"] = round(seconds, 3)
    try:
        with open(state / contract.EVENTS_FILE, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        os.chmod(state / contract.EVENTS_FILE, 0o644)
    except OSError:
        pass
