"""`invoke usage`: who used the hub, how much, and who holds the disk; as a table, a CSV and an HTML page.

It gathers: the hub's log of starts and stops (state/disk/events.jsonl, written by the spawner), the
disk-scan service's last measure (state/disk/usage.json), userlist's users and groups, and with
METRICS=yes Prometheus' own series for the charts. usagereport.py turns them into the report.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from jhdeploy_hub import contract

from jhdeploy import diskspace, metrics, metricsconf, options, resolve, usagereport
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

SINCE = re.compile(r"^([1-9][0-9]*)([hdw])$")
UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}
SINCE_ALLOWED = "a number of hours, days or weeks, such as 12h, 30d or 4w"


def say(message: str) -> None:
    print(message, flush=True)


def window(since: str) -> float:
    """--since as seconds."""
    match = SINCE.match(since.strip())
    if not match:
        raise DeployError(f"--since {since!r} is not allowed: {SINCE_ALLOWED}.", code=2)
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def read_events(stack: Stack, since: float) -> list[dict]:
    """The usage log's lines from `since` on; a line cut short (the hub stopped mid-write) or of another shape is
    skipped."""
    found = []
    try:
        lines = (stack.disk_state / contract.EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if (isinstance(event, dict) and isinstance(event.get("time"), (int, float)) and event["time"] >= since
                and isinstance(event.get("user"), str) and isinstance(event.get("server", ""), str)
                and event.get("event") in ("start", "stop", "refused")):
            found.append(event)
    return found


def disk_of(usage: dict) -> dict[str, int]:
    """Bytes per user, all their servers' volumes and folders together."""
    sizes: dict[str, int] = {}
    for entry in usage.get("servers", []):
        sizes[entry["user"]] = sizes.get(entry["user"], 0) + entry["bytes"]
    return sizes


def limits_of(stack: Stack, listed: Stack, groups: dict[str, list[str]]) -> dict[str, int | None]:
    """Each user's disk limit, as the hub decides it (jhdeploy_hub.diskuse.limit_of): .env's as `stack` runs
    it, and the groups' of conf/groups.toml (`listed`, read from the files; state/ keeps only the settings)."""
    from jhdeploy_hub.diskuse import limit_of

    plan = listed.groups.for_hub(stack.project, stack.settings["USER_STORAGE_PATH"])
    return {name: limit_of(plan, stack.settings["NOTEBOOK_DISK_LIMIT"], member_of)
            for name, member_of in groups.items()}


# PromQL for the charts: JupyterHub's own figures (its metrics have no user label).
SERIES = {
    "running_servers": ("sum(jupyterhub_running_servers)", None),
    "active_users": ('max_over_time(jupyterhub_active_users{period="24h"}[1d])', 86400),
    "start_p50": ('histogram_quantile(0.5, sum by (le) (increase(jupyterhub_server_spawn_duration_seconds_bucket'
                  '{status="success"}[1d])))', 86400),
    "start_p95": ('histogram_quantile(0.95, sum by (le) (increase(jupyterhub_server_spawn_duration_seconds_bucket'
                  '{status="success"}[1d])))', 86400),
}


def prometheus_series(c, stack: Stack, since: float, now: float) -> dict[str, list[tuple[float, float]]]:
    found = {}
    for name, (expression, step) in SERIES.items():
        points = metrics.query_range(c, stack, expression, since, now, step or max(60, int((now - since) / 300)))
        found[name] = [(t, value) for t, value in points if value == value]  # NaN: no start that day
    return found


def run(c, root: Path, since: str, html: str, csv: str, disk: bool, scan: bool) -> None:
    """`invoke usage`."""
    seconds = window(since)
    looked = resolve.for_looking(c, root, "reporting on")
    stack = looked.stack
    if options.DISK_SCAN not in stack.addons:
        raise DeployError("`invoke usage` reads what the disk-scan service and the hub log in Compose mode; on "
                          "Swarm it is not there yet.")
    began, now = time.monotonic(), time.time()
    if scan:
        diskspace.scan(c, stack)
    usage = diskspace.measured(stack)
    sizes = disk_of(usage)
    scanned = (f"the last scan, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(usage['scanned_at']))}"
               if "scanned_at" in usage else "no scan yet")
    events = [] if disk else read_events(stack, now - seconds)
    # userlist and conf/groups.toml, which what runs was started from (state/ keeps only the settings).
    listed = looked.env_stack or stack
    users = sorted(set(listed.users.allowed) | {event["user"] for event in events} | set(sizes))
    groups = {name: list(listed.users.groups.get(name, ())) for name in users}
    rows = usagereport.rows(events, now - seconds, now, users=users, disk=sizes,
                            limits=limits_of(stack, listed, groups), groups=groups)
    if disk:
        say(f"Disk use per user, at {scanned} (`--scan` measures now):")
        say(usagereport.disk_table(rows))
        return
    say(f"Read {len(events)} start(s) and stop(s) of the last {since} from {contract.EVENTS_FILE}; disk use at "
        f"{scanned}.")
    series = None
    if metricsconf.on(stack) and looked.saved:
        say("Asking Prometheus for running servers, active users and start times per day...")
        series = prometheus_series(c, stack, now - seconds, now)
    totals = usagereport.group_totals(rows)
    say(usagereport.text_table(rows))
    say("\nPer group:\n" + usagereport.group_table(totals))
    notes = report_notes(stack, events, series is not None, scanned)
    if csv:
        usagereport.write_csv(rows, csv)
        say(f"Wrote {csv} ({len(rows)} user(s); its columns are in README.md, 'Usage report').")
    if html:
        say("Drawing the charts...")
        daily = usagereport.daily(events, now - seconds, now, series)
        usagereport.write_html(html, rows, totals, daily, notes)
        say(f"Wrote {html}.")
    for note in notes:
        say(f"note: {note}")
    say(f"Done in {time.monotonic() - began:.1f} s.")


def report_notes(stack: Stack, events: list[dict], with_prometheus: bool, scanned: str) -> list[str]:
    """What this report cannot know, said plainly."""
    notes = [f"Disk use is from {scanned}."]
    if events:
        first = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(events[0]["time"]))
        notes.append(f"The hub's usage log begins at {first} in this window: use before it is not counted.")
    if not with_prometheus:
        notes.append("Without METRICS=yes, 'active' means a server ran that day (JupyterHub's own activity count "
                     "is not kept), and running servers come from the log of starts and stops.")
    if stack.authenticator.groups_from_provider:
        notes.append("Groups come from the identity provider at each login, so this report shows none.")
    return notes
