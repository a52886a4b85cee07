"""Disk use on the host side: the reserve that backups and builds keep to, `invoke allow-start`, a scan
asked for now, and what `doctor` says. The disk-scan service measures (hub/jhdeploy_hub/diskscan.py);
the hub decides each start (hub/jhdeploy_hub/diskuse.py); both agree with this through contract.py.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path

from jhdeploy_hub import contract
from jhdeploy_hub.contract import human_size
from jhdeploy_hub.diskscan import reserve_of
from jhdeploy_hub.diskuse import read_usage

from jhdeploy import changes, engine, options, resolve
from jhdeploy.errors import DeployError
from jhdeploy.layout import DISK_SCAN_SERVICE
from jhdeploy.stack import Stack


def measured(stack: Stack) -> dict:
    """state/disk/usage.json, as the disk-scan service last wrote it (read as the hub reads it); {} before its
    first run."""
    return read_usage(stack.disk_state)


def free_and_reserve(c, stack: Stack) -> tuple[str, int, int] | None:
    """(where, free bytes, reserve bytes) for the disk where Docker keeps its data, seen from this host;
    None when that engine's disk is not here (a remote engine)."""
    root = engine.docker_root(c)
    if not Path(root).exists():
        return None
    stats = os.statvfs(root)
    total = stats.f_blocks * stats.f_frsize
    return root, stats.f_bavail * stats.f_frsize, reserve_of(total, stack.settings["DISK_RESERVE"])


def require_reserve(c, stack: Stack, doing: str, again: str) -> None:
    """Refuse to begin `doing` when the free space where Docker keeps its data is below DISK_RESERVE."""
    found = free_and_reserve(c, stack)
    if found and found[1] < found[2]:
        where, free, reserve = found
        rules = ",".join(stack.settings["DISK_RESERVE"])
        raise DeployError(
            f"Not {doing}: {human_size(free)} free in {where}, below DISK_RESERVE={rules} ({human_size(reserve)}). "
            "Free some space (`docker image prune`, old backups), or lower "
            f"DISK_RESERVE in .env, then run `{again}` again.")


def scan(c, stack: Stack) -> None:
    """One measure now, in the running disk-scan service (it sees what it measures; this host may not)."""
    if options.DISK_SCAN not in stack.addons:
        raise DeployError("Disk use is measured in Compose mode only: on Swarm users' volumes are on the workers.")
    print(f"Measuring every user's volumes and folders (at most DISK_SCAN_IOPS={stack.settings['DISK_SCAN_IOPS']} "
          "file operations a second)...", flush=True)
    began, wall = time.monotonic(), time.time()
    result = engine.compose(c, stack, ["exec", "-T", DISK_SCAN_SERVICE, "python3", "-m", "jhdeploy_hub.diskscan",
                                       "once"], warn=True, hide="stderr")
    if changes.dry(c):
        return
    # Compose may exit 0 when there was no container to run in: the new figures are the proof.
    if not result.ok or measured(stack).get("scanned_at", 0) < wall:
        said = (result.stderr or "").strip()[-300:]
        raise DeployError(f"The disk scan did not run{f' ({said})' if said else ''}. Is the stack up? `invoke "
                          f"status` says; `invoke logs --service {DISK_SCAN_SERVICE}` says why it stopped.")
    print(f"Scanned in {time.monotonic() - began:.1f} s.", flush=True)


def allow_start(c, root: Path, name: str) -> None:
    """`invoke allow-start NAME`: one start for a user over their disk limit, to delete files."""
    looked = resolve.for_looking(c, root, "granting a start on")
    stack, listed = looked.stack, (looked.env_stack or looked.stack).users  # state/ keeps no userlist
    if stack.authenticator.uses_userlist and name not in listed.allowed:
        raise DeployError(f"{name!r} is not in userlist: check the name (`invoke groups --user NAME` shows a "
                          "user's limits).", code=2)
    if options.DISK_SCAN not in stack.addons:
        raise DeployError("Disk limits apply in Compose mode only: there is nothing to allow on Swarm.")
    grant = stack.disk_state / contract.ALLOW_DIR / urllib.parse.quote(name, safe="")
    changes.apply(c, f"grant {name} one start in {grant.relative_to(stack.root)}", write_grant, grant)
    print(f"{name} may start a server once, whatever their disk use; the next start after that is checked "
          "again (after the next scan, with the files they deleted).")


def write_grant(grant: Path) -> None:
    grant.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    grant.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")


def status_lines(c, stack: Stack) -> list[tuple[bool, str, str]]:
    """For `doctor`: (ok, line, what to do) on the free space against the reserve, which limit mode is in
    force and why, and the last scan."""
    if options.DISK_SCAN not in stack.addons:
        return [(False, "Disk limits: not on Swarm (users' volumes are on the workers)", "")]
    usage = measured(stack)
    found = free_and_reserve(c, stack)
    free, reserve = (usage["free"], usage["reserve"]) if "free" in usage else (found[1:] if found else (None, None))
    lines = []
    if free is not None:
        lines.append((free >= reserve, f"Disk reserve: {human_size(free)} free where Docker keeps volumes, "
                                       f"{human_size(reserve)} kept (DISK_RESERVE)",
                      "free some space: below the reserve no new server starts, and backups and builds refuse"))
    system = usage.get("filesystem")
    mode = "hard (Docker's size option) and measured" if system and system["hard_limits"] else "measured"
    why = system["why"] if system else "the disk-scan service has not reported yet"
    limit = stack.settings["NOTEBOOK_DISK_LIMIT"] or "none in .env"
    lines.append((True, f"Disk limits: {mode} ({limit}); {why}", ""))
    if "scanned_at" in usage:
        age = (time.time() - usage["scanned_at"]) / 60
        lines.append((age <= 2 * stack.settings["DISK_SCAN_MINUTES"] + 5,
                      f"Disk scan: last {age:.0f} min ago, {len(usage['servers'])} volume(s) and folder(s) in "
                      f"{usage['scan_seconds']} s", f"`invoke logs --service {DISK_SCAN_SERVICE}` says why"))
    return lines
