"""Issue 28: every user's files measured by the disk-scan service, a disk limit that refuses a new start (never
a running server), one start an admin grants, a host reserve no start goes past, and `invoke usage`."""

from __future__ import annotations

import csv
import json
import math
import re
import time

import pytest
from harness import docker

pytestmark = pytest.mark.e2e

MIB = 2**20
USERS = "admin admin\nalice\nbob\ncarol thesis\n"
GROUPS = '[groups.thesis]\ndisk_limit = "100M"\n'


@pytest.fixture(scope="module")
def hub(deployment):
    (deployment.root / "userlist").write_text(USERS)
    (deployment.root / "conf/groups.toml").write_text(GROUPS)
    deployment.env.update(ALLOW_NAMED_SERVERS="yes")
    deployment.write_env()
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def write(client, user: str, mib: int, name: str = "data.bin", server: str = "") -> None:
    """The user writes a file into their files (DOCKER_NOTEBOOK_DIR, their volume) from a kernel of their own
    server (started through the API, it runs in the server's working directory: name the folder)."""
    path = f"/home/jovyan/work/{name}"
    out = client.run_code(user, f"open({path!r}, 'wb').write(__import__('os').urandom({mib * MIB})); print('ok')",
                          server=server)
    assert out.strip() == "ok", out


def usage_json(hub) -> dict:
    return json.loads((hub.root / "state/disk/usage.json").read_text())


def disk_rows(hub) -> list[tuple[str, float]]:
    """`invoke usage --disk --scan`: (user, MiB) in the order printed."""
    out = hub.invoke("usage", "--disk", "--scan").stdout
    found = []
    for line in out.splitlines():
        match = re.match(r"^(\S+)\s+([0-9.]+) (B|KiB|MiB|GiB)\b", line.strip())
        if match:
            found.append((match.group(1), float(match.group(2)) * 1024 ** "B KiB MiB GiB".split().index(
                match.group(3)) / MIB))
    return found


def stop_default(client, user: str) -> None:
    """Stop the user's default server and wait until it is gone (their named server may keep running)."""
    client.stop_server(user)
    deadline = time.monotonic() + 60
    while client.api("GET", f"/users/{user}").json()["servers"].get(""):
        assert time.monotonic() < deadline, f"{user}'s server did not stop"
        time.sleep(0.5)


def server_env(hub, user: str) -> dict[str, str]:
    """The environment of the user's default server's container."""
    found = docker("ps", "--quiet", "--filter", f"label=org.jhdeploy.stack={hub.project}",
                   "--filter", f"label=org.jhdeploy.user={user}").stdout.split()
    for config in json.loads(docker("inspect", *found).stdout):
        if config["Config"]["Labels"].get("org.jhdeploy.server") == "":
            return dict(item.split("=", 1) for item in config["Config"]["Env"])
    raise AssertionError(f"no default server of {user} runs")


def refused(client, user: str, server: str = "") -> str:
    """Ask for a start through the REST API; return the hub's message, failing if it started."""
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    response = client.api("POST", path)
    assert response.status_code >= 400, (response.status_code, response.text)
    return response.json()["message"]


def test_a_scan_measures_every_users_volumes_named_servers_too(hub):
    alice, bob, carol = (hub.logged_in(name) for name in ("alice", "bob", "carol"))
    alice.spawn("alice")
    write(alice, "alice", 25)
    alice.spawn("alice", server="extra")
    write(alice, "alice", 5, server="extra")
    bob.spawn("bob")
    write(bob, "bob", 5)
    carol.spawn("carol")
    write(carol, "carol", 25)

    rows = disk_rows(hub)
    assert [user for user, _ in rows[:3]] == ["alice", "carol", "bob"], rows
    sizes = dict(rows)
    assert 29.5 <= sizes["alice"] <= 31, rows  # her named server's volume counts
    assert 4.9 <= sizes["bob"] <= 6, rows
    named = [entry for entry in usage_json(hub)["servers"] if entry["user"] == "alice" and entry["server"] == "extra"]
    assert named and named[0]["name"] == f"{hub.project}-user-alice--extra" and named[0]["bytes"] >= 5 * MIB
    # With metrics off, the figures are still written for Prometheus (the add-on reads them when turned on).
    prom = (hub.root / "state/textfile/disk.prom").read_text()
    assert 'jhdeploy_user_disk_bytes{user="alice"}' in prom and "jhdeploy_disk_reserve_bytes" in prom
    # The scanner reads users' files and nothing else: no network, no socket, read-only, one capability.
    container = hub.project + "-diskscan-1"
    config = json.loads(docker("inspect", container).stdout)[0]
    assert config["HostConfig"]["NetworkMode"] == "none" and config["HostConfig"]["CapAdd"] == ["CAP_DAC_OVERRIDE"]
    assert config["HostConfig"]["ReadonlyRootfs"] and not any(
        "docker.sock" in mount["Source"] for mount in config["Mounts"])


def test_over_the_limit_a_new_start_is_refused_and_a_running_server_keeps_working(hub):
    hub.env.update(NOTEBOOK_DISK_LIMIT="20M")
    hub.write_env()
    hub.invoke("restart")
    alice, bob, carol = (hub.logged_in(name) for name in ("alice", "bob", "carol"))
    # Her servers keep running through the change; only a new start is checked.
    assert alice.contents("GET", "alice").status_code == 200
    assert "over your disk limit" in alice.get("/hub/home").text

    stop_default(alice, "alice")
    message = refused(alice, "alice")
    assert "30.0 MiB" in message and "20.0 MiB" in message and "admin" in message, message
    assert not alice.api("GET", "/users/alice").json()["servers"].get("")
    assert alice.contents("GET", "alice", server="extra").status_code == 200  # her other server still answers

    # bob (5 MiB of 20) starts again; carol's group allows 100M, so her 25 MiB are fine.
    for client, name in ((bob, "bob"), (carol, "carol")):
        stop_default(client, name)
        client.spawn(name)

    # bob near his limit: the hub page, the spawn and JupyterLab (the server's environment) tell him.
    write(bob, "bob", 13, name="more.bin")
    hub.invoke("usage", "--disk", "--scan")
    assert re.search(r"of your 20.0 MiB disk limit \(9[0-9]%\)", bob.get("/hub/home").text)
    stop_default(bob, "bob")
    bob.spawn("bob")
    notice = json.loads(server_env(hub, "bob")["JHDEPLOY_NOTICE"])
    assert notice["type"] == "warning" and re.search(r"disk limit \(9[0-9]%\)", notice["message"]), notice


def test_an_admin_grants_one_start_to_clean_up(hub):
    bad = hub.invoke("allow-start", "mallory", check=False)
    assert bad.returncode == 2 and "'mallory' is not in userlist" in bad.stderr, bad.stderr
    hub.invoke("allow-start", "alice")
    alice = hub.logged_in("alice")
    alice.spawn("alice")
    assert not list((hub.root / "state/disk/allow").iterdir()), "the grant is used up by the start"
    assert alice.contents("DELETE", "alice", "data.bin").status_code == 204
    hub.invoke("usage", "--disk", "--scan")
    stop_default(alice, "alice")
    alice.spawn("alice")  # 5 MiB left: a start like any other


def test_below_the_reserve_no_server_starts_and_running_ones_keep_answering(hub):
    free = usage_json(hub)["free"]
    # Just above what is free now: the scanner's next check finds the disk below its reserve.
    hub.env.update(DISK_RESERVE=f"{math.ceil((free + 2 * 1024**3) / MIB)}M")
    hub.write_env()
    hub.invoke("restart")
    deadline = time.monotonic() + 90
    while usage_json(hub).get("reserve", 0) <= free and time.monotonic() < deadline:
        time.sleep(1)
    carol, bob = hub.logged_in("carol"), hub.logged_in("bob")
    stop_default(carol, "carol")
    message = refused(carol, "carol")
    assert "nearly full" in message and "Running servers keep working" in message, message
    assert bob.contents("GET", "bob").status_code == 200
    assert hub.client().get("/hub/health").status_code == 200
    doctor = hub.invoke("doctor", check=False).stdout
    assert re.search(r"Disk reserve: .* free where Docker keeps volumes, .* kept", doctor), doctor
    backup = hub.invoke("backup", check=False)
    assert backup.returncode != 0 and "below DISK_RESERVE" in backup.stderr, backup.stderr

    del hub.env["DISK_RESERVE"]
    hub.write_env()
    hub.invoke("restart")
    deadline = time.monotonic() + 90
    while usage_json(hub)["reserve"] > free and time.monotonic() < deadline:
        time.sleep(1)
    carol.spawn("carol")


def test_the_usage_report_has_a_row_per_user_and_charts(hub):
    html, table = hub.root / "out.html", hub.root / "usage.csv"
    result = hub.invoke("usage", "--since", "1d", "--html", str(html), "--csv", str(table))
    assert "Drawing the charts" in result.stdout and "Done in" in result.stdout
    assert re.search(r"^thesis +1 +1 ", result.stdout, re.M), result.stdout  # the group totals
    with table.open() as handle:
        lines = list(csv.DictReader(handle))
    from jhdeploy.usagereport import CSV_COLUMNS

    assert tuple(lines[0].keys()) == CSV_COLUMNS
    by_user = {line["user"]: line for line in lines}
    assert set(by_user) == {"admin", "alice", "bob", "carol"}
    assert int(by_user["alice"]["starts"]) >= 3 and float(by_user["alice"]["median_start_seconds"]) > 0
    assert by_user["carol"]["groups"] == "thesis" and by_user["carol"]["disk_limit_bytes"] == str(100 * MIB)
    assert by_user["admin"]["starts"] == "0" and by_user["admin"]["days_active"] == "0"
    page = html.read_text()
    assert page.count('src="data:image/png;base64,') == 4 and "http://" not in page and "https://" not in page
    bad = hub.invoke("usage", "--since", "forever", check=False)
    assert bad.returncode == 2 and "--since 'forever' is not allowed" in bad.stderr
