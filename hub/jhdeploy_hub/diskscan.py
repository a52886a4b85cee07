"""The disk-scan service: how much each user's files take, and how much room is left for them.

    python3 -m jhdeploy_hub.diskscan loop    the service: free space every FREE_EVERY seconds, sizes every
                                             DISK_SCAN_MINUTES
    python3 -m jhdeploy_hub.diskscan once    one scan now (`invoke usage --disk --scan`)
    python3 -m jhdeploy_hub.diskscan check   its health check: the free space was checked lately

It sees where Docker keeps volumes, and USER_STORAGE_PATH, read-only (compose/diskscan.yml), with
no Docker socket and no network. Sizes come from prometheus-dirsize-exporter's walker, which keeps
to an I/O budget (DISK_SCAN_IOPS) so that a scan never slows the users down. What it finds goes to usage.json in
state/disk/ (the hub refuses starts from it, `invoke usage --disk` prints it) and, for the metrics
add-on, to state/textfile/disk.prom. What to scan comes in DISK_PLAN (jhdeploy/stack.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from pathlib import Path

from jhdeploy_hub import contract, textfile

STATE = Path(contract.DISK_STATE)
FREE_EVERY = 30  # seconds; a statvfs is cheap, and a start refused for the reserve must not wait a scan
HARD_OPTIONS = ("prjquota", "pquota")  # XFS mount options under which Docker's local driver takes `size`


def server_of(name: str, prefix: str) -> tuple[str, str] | None:
    """A volume or folder name -> (user, server) if it is a user's (contract.USER_VOLUME), else None.
    DockerSpawner escapes '-' in names, so the first '--' starts the server's name."""
    from escapism import unescape  # DockerSpawner's dependency

    if not name.startswith(prefix) or name.startswith("_"):
        return None
    user, _, server = name[len(prefix):].partition("--")
    return (unescape(user, escape_char="-"), unescape(server, escape_char="-")) if user else None


def measure(parent: Path, prefix: str, source: str, walker) -> list[dict]:
    """Every user's entry under `parent` (a volume's data, or a folder), with its size in bytes."""
    found = []
    if not parent.is_dir():
        return found
    for entry in sorted(parent.iterdir()):
        owner = server_of(entry.name, prefix)
        if owner is None:
            continue
        info = walker.get_dir_info(str(entry / "_data" if source == "volume" else entry))
        if info is not None:
            found.append({"user": owner[0], "server": owner[1], "source": source, "name": entry.name,
                          "bytes": int(info.size)})
    return found


def filesystem(path: str, mountinfo: str = "/proc/self/mountinfo") -> dict:
    """The filesystem under `path`, and whether Docker's `size` option can hold users to their limit there."""
    best, fstype, options = "", "unknown", ""
    with contextlib.suppress(OSError):
        for line in Path(mountinfo).read_text().splitlines():
            fields = line.split()
            after = fields[fields.index("-") + 1:]
            point = fields[4]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, fstype, options = point, after[0], f"{fields[5]},{after[2] if len(after) > 2 else ''}"
    hard = fstype == "xfs" and any(option in options.split(",") for option in HARD_OPTIONS)
    why = (f"{fstype} with project quotas: volumes are created with Docker's size option" if hard else
           f"{fstype} without project quotas (XFS mounted with prjquota is needed for Docker's size option)"
           if fstype == "xfs" else f"{fstype}: Docker's size option needs XFS with project quotas")
    return {"type": fstype, "hard_limits": hard, "why": why}


def reserve_of(total: int, rules: list[str]) -> int:
    """DISK_RESERVE: the largest of its parts, each a percentage of the disk or a size."""
    return max((int(total * float(rule[:-1]) / 100) if rule.endswith("%") else contract.parse_size(rule)
                for rule in rules), default=0)


@contextlib.contextmanager
def locked():
    """One writer of usage.json at a time: the service's loop, and a scan asked for from the tasks."""
    with open(STATE / ".usage.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read_usage() -> dict:
    try:
        return json.loads((STATE / contract.USAGE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_usage(usage: dict) -> None:
    staging = STATE / f".{contract.USAGE_FILE}.{os.getpid()}"
    staging.write_text(json.dumps(usage, indent=1))
    staging.chmod(0o644)
    os.replace(staging, STATE / contract.USAGE_FILE)


def check_free(plan: dict, usage: dict) -> dict:
    stats = os.statvfs(plan["volumes"])
    total, free = stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize
    return {**usage, "checked_at": time.time(), "total": total, "free": free,
            "reserve": reserve_of(total, plan["reserve"]), "filesystem": filesystem(plan["volumes"])}


def scan(plan: dict) -> dict:
    """Every user's volumes and folders: what usage.json's `servers` holds, and when it was measured."""
    from prometheus_dirsize_exporter.exporter import BudgetedDirInfoWalker

    started = time.monotonic()
    walker = BudgetedDirInfoWalker(plan["iops"])
    servers = measure(Path(plan["volumes"]), plan["volume_prefix"], "volume", walker)
    if plan["folders"]:
        servers += measure(Path(plan["folders"]), "", "folder", walker)
    return {"scanned_at": time.time(), "scan_seconds": round(time.monotonic() - started, 3), "servers": servers}


def report(usage: dict) -> None:
    """The figures for Prometheus (the metrics add-on's node-exporter reads state/textfile/)."""
    per_user: dict[str, int] = {}
    for entry in usage.get("servers", []):
        per_user[entry["user"]] = per_user.get(entry["user"], 0) + entry["bytes"]
    textfile.write("disk", {
        "jhdeploy_disk_free_bytes": (usage["free"], "Free bytes where Docker keeps volumes."),
        "jhdeploy_disk_reserve_bytes": (usage["reserve"], "DISK_RESERVE: below this, new servers do not start."),
        "jhdeploy_disk_scan_timestamp_seconds": (usage.get("scanned_at", 0), "When users' files were last measured."),
        "jhdeploy_user_disk_bytes": ({(("user", user),): size for user, size in per_user.items()},
                                    "Bytes of a user's files, all their servers together, at the last scan."),
    })


def update(plan: dict, sizes: bool) -> dict:
    """The free space, and with `sizes` a new scan (measured before taking the lock: it may take long, and the
    free space must not wait for it)."""
    found = scan(plan) if sizes else {}
    with locked():
        usage = {**check_free(plan, read_usage()), **found}
        write_usage(usage)
    report(usage)
    return usage


def scans(plan: dict) -> None:
    """The scans, one every DISK_SCAN_MINUTES; a scan that breaks ends the service, which Docker restarts."""
    try:
        while True:
            usage = update(plan, sizes=True)
            print(f"Measured {len(usage['servers'])} user folder(s) and volume(s) in {usage['scan_seconds']} s; "
                  f"{contract.human_size(usage['free'])} free, {contract.human_size(usage['reserve'])} reserved",
                  flush=True)
            time.sleep(plan["minutes"] * 60)
    except Exception as error:
        print(f"The scan failed: {error!r}", file=sys.stderr, flush=True)
        os._exit(1)


def loop(plan: dict) -> None:
    threading.Thread(target=scans, args=(plan,), daemon=True).start()
    while True:
        time.sleep(FREE_EVERY)
        update(plan, sizes=False)


def healthy() -> bool:
    """Whether the free space was checked within three rounds (the hub refuses starts from it)."""
    return time.time() - read_usage().get("checked_at", 0) < 3 * FREE_EVERY


def main(argv: list[str]) -> int:
    if argv == ["check"]:
        return 0 if healthy() else 1
    plan = json.loads(os.environ["DISK_PLAN"])
    if argv == ["loop"]:
        loop(plan)
    elif argv == ["once"]:
        usage = update(plan, sizes=True)
        print(f"Measured {len(usage['servers'])} user folder(s) and volume(s) in {usage['scan_seconds']} s")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
