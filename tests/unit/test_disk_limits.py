"""Issue 28 without Docker: what the disk-scan service measures and reports, what the hub decides from it, and
the settings that drive both."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from configs import applied, stack
from jhdeploy_hub import contract, diskscan, diskuse, textfile

from jhdeploy import settings, usage
from jhdeploy.errors import DeployError
from jhdeploy.groups import parse

MIB = 2**20


def test_sizes_read_and_say_in_powers_of_1024_as_docker_does():
    assert contract.parse_size("20M") == 20 * MIB and contract.parse_size("10g") == 10 * 2**30
    assert contract.parse_size("512") == 512
    assert [contract.human_size(n) for n in (12, 30 * MIB, 1.5 * 2**30)] == ["12 B", "30.0 MiB", "1.5 GiB"]


def test_the_reserve_is_the_largest_of_its_parts():
    total = 100 * 2**30
    assert diskscan.reserve_of(total, ["10%", "5G"]) == 10 * 2**30
    assert diskscan.reserve_of(20 * 2**30, ["10%", "5G"]) == 5 * 2**30
    assert diskscan.reserve_of(total, []) == 0


@pytest.mark.parametrize("value", ["10%", "10%,5G", "2.5%, 1024M", "0", "100%"])
def test_reserve_values_that_are_allowed(value):
    assert settings.from_mapping({"DISK_RESERVE": value})["DISK_RESERVE"]


@pytest.mark.parametrize("value", ["ten percent", "101%", "5GB", "10%;5G", "-1G"])
def test_a_bad_reserve_is_refused_naming_the_key_and_what_is_allowed(value):
    with pytest.raises(settings.SettingsError, match=r"DISK_RESERVE.*percentages of the disk and sizes"):
        settings.from_mapping({"DISK_RESERVE": value})


def test_a_bad_limit_is_refused_naming_the_key():
    with pytest.raises(settings.SettingsError, match=r"NOTEBOOK_DISK_LIMIT.*a size such as 512M or 2G"):
        settings.from_mapping({"NOTEBOOK_DISK_LIMIT": "lots"})


def test_volume_and_folder_names_map_back_to_their_user_and_server():
    prefix = contract.user_volume_prefix("lab")
    assert diskscan.server_of("lab-user-alice", prefix) == ("alice", "")
    assert diskscan.server_of("lab-user-alice--thesis", prefix) == ("alice", "thesis")
    # DockerSpawner escapes what is not a lowercase letter or digit with '-': names come back whole.
    assert diskscan.server_of("lab-user-al-2eice-40uni", prefix) == ("al.ice@uni", "")
    assert diskscan.server_of("lab-group-materials", prefix) is None
    assert diskscan.server_of("other-user-alice", prefix) is None
    assert diskscan.server_of("_groups", "") is None and diskscan.server_of("bob", "") == ("bob", "")


class Walker:
    """prometheus-dirsize-exporter's walker's interface: the size under a path."""

    def get_dir_info(self, path):
        total = sum(entry.stat().st_size for entry in Path(path).rglob("*") if entry.is_file())
        return SimpleNamespace(size=total)


def test_a_scan_finds_each_users_volumes_and_skips_everything_else(tmp_path):
    for name, size in (("lab-user-alice", 3000), ("lab-user-alice--extra", 500), ("lab-user-bob", 100),
                       ("lab-group-materials", 9999), ("lab-data", 9999)):
        (tmp_path / name / "_data").mkdir(parents=True)
        (tmp_path / name / "_data" / "file").write_bytes(b"x" * size)
    found = diskscan.measure(tmp_path, "lab-user-", "volume", Walker())
    assert {(e["user"], e["server"], e["bytes"]) for e in found} == {("alice", "", 3000), ("alice", "extra", 500),
                                                                    ("bob", "", 100)}
    assert diskuse.used_by({"servers": found}, "alice") == 3500
    assert diskuse.used_by({}, "alice") is None  # not measured yet


def test_the_real_walker_keeps_to_its_budget_and_measures(tmp_path):
    from prometheus_dirsize_exporter.exporter import BudgetedDirInfoWalker

    (tmp_path / "lab-user-carol" / "_data" / "sub").mkdir(parents=True)
    (tmp_path / "lab-user-carol" / "_data" / "sub" / "f").write_bytes(b"y" * 12345)
    found = diskscan.measure(tmp_path, "lab-user-", "volume", BudgetedDirInfoWalker(5000))
    assert found[0]["bytes"] >= 12345


MOUNTINFO = """\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
90 22 253:2 / /scan/volumes ro,relatime - xfs /dev/vdb rw,attr2,inode64,{options}
"""


@pytest.mark.parametrize("options, hard", [("prjquota", True), ("pquota", True), ("noquota", False)])
def test_hard_limits_only_on_xfs_with_project_quotas(tmp_path, options, hard):
    (tmp_path / "mountinfo").write_text(MOUNTINFO.format(options=options))
    found = diskscan.filesystem("/scan/volumes", str(tmp_path / "mountinfo"))
    assert found["type"] == "xfs" and found["hard_limits"] is hard
    ext4 = diskscan.filesystem("/elsewhere", str(tmp_path / "mountinfo"))
    assert ext4 == {"type": "ext4", "hard_limits": False, "why": "ext4: Docker's size option needs XFS with "
                                                                   "project quotas"}


def test_the_textfile_escapes_label_values(tmp_path):
    textfile.write("disk", {"jhdeploy_user_disk_bytes": ({(("user", 'a"b\\c\nd'),): 5}, "help")}, str(tmp_path))
    text = (tmp_path / "disk.prom").read_text()
    assert 'jhdeploy_user_disk_bytes{user="a\\"b\\\\c\\nd"} 5' in text and text.count("# TYPE") == 1


def usage_with(free=100 * 2**30, reserve=10 * 2**30, **users):
    return {"free": free, "reserve": reserve,
            "servers": [{"user": name, "server": "", "bytes": size} for name, size in users.items()]}


def test_a_start_over_the_limit_is_refused_with_what_the_user_uses(tmp_path):
    with pytest.raises(diskuse.DiskRefusal) as refusal:
        diskuse.check_start("alice", 20 * MIB, usage_with(alice=30 * MIB), tmp_path)
    assert str(refusal.value).startswith("Your files use 30.0 MiB, over your disk limit of 20.0 MiB")
    assert refusal.value.reason == "disk-limit"
    assert diskuse.check_start("bob", 20 * MIB, usage_with(bob=5 * MIB), tmp_path) == ""
    assert diskuse.check_start("bob", None, usage_with(bob=50 * MIB), tmp_path) == ""  # no limit
    assert diskuse.check_start("new", 20 * MIB, {}, tmp_path) == ""  # nothing measured yet


def test_from_ninety_percent_the_user_is_told(tmp_path):
    said = diskuse.check_start("bob", 20 * MIB, usage_with(bob=19 * MIB), tmp_path)
    assert said == ("Your files use 19.0 MiB of your 20.0 MiB disk limit (95%). Delete files you no longer need: "
                    "over the limit, a new server will not start.")
    assert diskuse.notice(17 * MIB, 20 * MIB) == ""


def test_a_grant_allows_one_start_and_is_used_up(tmp_path):
    grant = diskuse.allowance("al/ice", tmp_path)
    grant.parent.mkdir()
    grant.write_text("now\n")
    assert grant.name == "al%2Fice"
    said = diskuse.check_start("al/ice", 20 * MIB, usage_with(**{"al/ice": 30 * MIB}), tmp_path)
    assert "An admin allowed this one start" in said and not grant.exists()
    with pytest.raises(diskuse.DiskRefusal):
        diskuse.check_start("al/ice", 20 * MIB, usage_with(**{"al/ice": 30 * MIB}), tmp_path)


def test_below_the_reserve_nobody_starts_not_even_with_a_grant(tmp_path):
    (tmp_path / contract.ALLOW_DIR).mkdir()
    diskuse.allowance("bob", tmp_path).write_text("now\n")
    with pytest.raises(diskuse.DiskRefusal, match="nearly full .4.0 GiB free, below the 5.0 GiB it keeps"):
        diskuse.check_start("bob", None, usage_with(free=4 * 2**30, reserve=5 * 2**30, bob=1), tmp_path)
    assert diskuse.allowance("bob", tmp_path).exists()


def test_the_most_generous_group_limit_wins_else_the_env_one():
    plan = {"limits": {"disk_limit": [("small", "1G"), ("big", "10G")]}}
    assert diskuse.limit_of(plan, "2G", ["small", "big"]) == 10 * 2**30
    assert diskuse.limit_of(plan, "2G", ["small"]) == 2**30  # a group's limit may be below .env's
    assert diskuse.limit_of(plan, "2G", []) == 2 * 2**30
    assert diskuse.limit_of(plan, "", []) is None


def test_the_groups_file_takes_a_disk_limit():
    groups = parse('[groups.thesis]\ndisk_limit = "100M"\n[groups.intro]\ndisk_limit = "2G"\n', "/home/jovyan/work")
    assert groups.for_hub("lab", "")["limits"]["disk_limit"] == [("thesis", "100M"), ("intro", "2G")]


def test_the_usage_log_is_appended_and_read_back_skipping_what_is_not_an_event(tmp_path):
    diskuse.record("start", "alice", "", 1.5, tmp_path)
    diskuse.record("stop", "alice", "", None, tmp_path)
    with open(tmp_path / contract.EVENTS_FILE, "a") as log:
        log.write('{"time": 1, "user": "x"}\n{"time": 2, "event": "start", "user": 5}\n[1]\n{"time": 3, "ev')
    fake = SimpleNamespace(disk_state=tmp_path)
    events = usage.read_events(fake, time.time() - 60)
    assert [(e["event"], e["user"]) for e in events] == [("start", "alice"), ("stop", "alice")]
    assert events[0]["seconds"] == 1.5 and oct(os.stat(tmp_path / contract.EVENTS_FILE).st_mode)[-3:] == "644"


@pytest.mark.parametrize("since, seconds", [("12h", 43200), ("30d", 2592000), ("4w", 2419200)])
def test_since_reads_hours_days_and_weeks(since, seconds):
    assert usage.window(since) == seconds


@pytest.mark.parametrize("since", ["forever", "0d", "-1d", "30", "1y"])
def test_a_bad_since_says_what_is_allowed(since):
    with pytest.raises(DeployError, match=f"--since '{since}' is not allowed: a number of hours, days or weeks"):
        usage.window(since)


def test_the_hub_checks_starts_in_compose_mode_and_not_on_swarm():
    c = applied(NOTEBOOK_DISK_LIMIT="10G")
    assert c.DockerSpawner.disk_state == contract.DISK_STATE and c.DockerSpawner.disk_limit == "10G"
    assert "disk_notice" in c.JupyterHub.template_vars
    assert "disk_state" not in applied(mode="swarm").DockerSpawner


def test_the_disk_scan_service_gets_its_plan_and_only_what_it_reads():
    env = stack(Path("/srv/hub"), COMPOSE_PROJECT_NAME="lab", DISK_SCAN_MINUTES="5",
                USER_STORAGE_PATH="/nfs/home").compose_env()
    plan = json.loads(env["DISK_PLAN"])
    assert plan == {"volumes": "/scan/volumes", "folders": "/scan/folders", "volume_prefix": "lab-user-",
                    "minutes": 5, "iops": 5000, "reserve": ["10%", "5G"]}
    assert env["DISK_FOLDERS"] == "/nfs/home" and env["DISK_STATE"] == "/srv/hub/state/disk"
    assert "DISK_PLAN" not in stack(mode="swarm").compose_env()


def test_only_a_started_servers_stop_is_logged_even_across_a_hub_restart(tmp_path):
    import asyncio

    from jhdeploy_hub.spawners import ReadyDockerSpawner

    spawner = ReadyDockerSpawner(disk_state=str(tmp_path))
    spawner.user = SimpleNamespace(name="alice")
    spawner._started_at = 1.0
    restarted = ReadyDockerSpawner(disk_state=str(tmp_path))  # the hub restarted: a new spawner, its saved state
    restarted.user = spawner.user
    restarted.load_state(spawner.get_state())
    assert restarted._started_at == 1.0

    async def stopped(_self, now=False):
        return None

    async def no_container(_self):
        return None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dockerspawner.DockerSpawner.stop", stopped)
        patch.setattr(ReadyDockerSpawner, "_log_last_lines", no_container)
        asyncio.run(restarted.stop())
        asyncio.run(restarted.stop())  # again, as JupyterHub does after a refused start: nothing more is logged
    lines = (tmp_path / contract.EVENTS_FILE).read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["stop"]


@pytest.mark.parametrize("content", ['{"free": 1, "reserve": 5, "servers": [{"user": "a", "bytes": 1}', "[1, 2]",
                                     '{"free": "lots", "reserve": 5}', '{"servers": [{"user": 5, "bytes": 1}]}',
                                     '{"servers": "alice"}', ""])
def test_a_truncated_or_hostile_usage_file_refuses_nobody(tmp_path, content):
    (tmp_path / contract.USAGE_FILE).write_text(content)
    usage = diskuse.read_usage(tmp_path)
    assert usage == {}
    assert diskuse.check_start("a", 1, usage, tmp_path) == ""


def test_the_scan_never_holds_the_lock_the_free_space_needs(tmp_path, monkeypatch):
    """A long scan runs before the lock is taken, so that the 30-second free-space check never waits for it."""
    monkeypatch.setattr(diskscan, "STATE", tmp_path)
    plan = {"volumes": str(tmp_path), "folders": "", "volume_prefix": "lab-user-", "minutes": 30,
            "reserve": ["10%"]}
    held = []
    monkeypatch.setattr(diskscan, "scan", lambda plan: held.append((tmp_path / ".usage.lock").exists()) or {
        "scanned_at": 1.0, "scan_seconds": 0.1, "servers": []})
    usage = diskscan.update(plan, sizes=True)
    assert usage["servers"] == [] and usage["free"] > 0 and held == [False]
    assert diskscan.update(plan, sizes=False)["scanned_at"] == 1.0  # the free-space check keeps the last scan


def test_a_scheduled_snapshot_does_not_begin_below_the_reserve(tmp_path, monkeypatch):
    from jhdeploy_hub import snapshots

    monkeypatch.setattr(snapshots, "STATUS", tmp_path / "status.json")
    (tmp_path / contract.USAGE_FILE).write_text(json.dumps({"free": 1, "reserve": 2}))
    with pytest.raises(snapshots.SnapshotError, match="below DISK_RESERVE"):
        snapshots.check_reserve(tmp_path)
    assert "below DISK_RESERVE" in json.loads((tmp_path / "status.json").read_text())["last_failure"]["error"]
    (tmp_path / contract.USAGE_FILE).write_text(json.dumps({"free": 3, "reserve": 2}))
    snapshots.check_reserve(tmp_path)


def test_the_spawner_refuses_the_way_jupyterhub_shows_to_the_user(tmp_path):
    """JupyterHub 6's SpawnException: its message on the spawn page and in the REST API, no traceback, and a
    `failure` in the spawn metrics (a policy, not a broken hub)."""
    from jhdeploy_hub.spawners import ReadyDockerSpawner
    from jupyterhub.spawner import SpawnException

    (tmp_path / contract.USAGE_FILE).write_text(json.dumps(usage_with(alice=30 * MIB)))
    spawner = ReadyDockerSpawner(disk_state=str(tmp_path), disk_limit="20M")
    spawner.user = SimpleNamespace(name="alice", groups=[])
    with pytest.raises(SpawnException) as refused:
        spawner._check_disk()
    assert refused.value.status_code == 507 and refused.value.reason == "disk-limit"
    assert refused.value.message.startswith("Your files use 30.0 MiB, over your disk limit of 20.0 MiB")
    assert json.loads((tmp_path / contract.EVENTS_FILE).read_text())["event"] == "refused"


def test_the_services_health_is_a_recent_free_space_check(tmp_path, monkeypatch):
    monkeypatch.setattr(diskscan, "STATE", tmp_path)
    assert not diskscan.healthy()  # nothing checked yet
    (tmp_path / contract.USAGE_FILE).write_text(json.dumps({"checked_at": time.time() - 5}))
    assert diskscan.healthy()
    (tmp_path / contract.USAGE_FILE).write_text(json.dumps({"checked_at": time.time() - 10 * diskscan.FREE_EVERY}))
    assert not diskscan.healthy()


def test_on_xfs_with_project_quotas_a_new_own_volume_gets_the_limit_as_its_size(tmp_path, monkeypatch):
    """The hard mode, as far as it can be checked here: what the spawner asks Docker for (untested on a kernel)."""
    import asyncio

    from docker.errors import NotFound
    from jhdeploy_hub.spawners import ReadyDockerSpawner

    (tmp_path / contract.USAGE_FILE).write_text(json.dumps({"filesystem": {"hard_limits": True}}))
    spawner = ReadyDockerSpawner(disk_state=str(tmp_path), disk_limit="20M", prefix="lab")
    spawner.user = SimpleNamespace(name="alice", groups=[])
    binds = {"lab-user-alice": {"bind": "/home/jovyan/work", "mode": "rw"},
             "lab-group-materials": {"bind": "/home/jovyan/materials", "mode": "ro"}}
    monkeypatch.setattr(ReadyDockerSpawner, "volume_binds", property(lambda self: binds))
    asked = []

    async def docker(method, *args, **kwargs):
        asked.append((method, args, kwargs))
        if method == "inspect_volume":
            raise NotFound("no such volume")

    monkeypatch.setattr(spawner, "docker", docker)
    asyncio.run(spawner._make_sized_volumes())
    assert asked == [("inspect_volume", ("lab-user-alice",), {}),
                     ("create_volume", (), {"name": "lab-user-alice", "driver": "local",
                                            "driver_opts": {"size": str(20 * MIB)}})]


def test_a_bad_disk_limit_in_the_groups_file_names_the_line_the_key_and_what_is_allowed():
    from jhdeploy.groups import GroupsError

    with pytest.raises(GroupsError, match=r"line 2.*disk_limit.*'lots'.*a size such as 512M or 2G"):
        parse('[groups.thesis]\ndisk_limit = "lots"\n', "/home/jovyan/work")


def test_backups_and_builds_refuse_to_begin_below_the_reserve(tmp_path, monkeypatch):
    from jhdeploy import diskspace, engine

    monkeypatch.setattr(engine, "docker_root", lambda c: str(tmp_path))
    disk = SimpleNamespace(f_blocks=100 * 2**18, f_frsize=4096, f_bavail=2 * 2**18)  # 100 GiB, 2 GiB free
    monkeypatch.setattr(os, "statvfs", lambda path: disk)
    with pytest.raises(DeployError, match=r"Not building: 2.0 GiB free in .*, below DISK_RESERVE=10%,5G \(10.0 GiB\)"
                                          r".*then run `invoke build` again"):
        diskspace.require_reserve(None, stack(), "building", "invoke build")
    diskspace.require_reserve(None, stack(DISK_RESERVE="1%"), "building", "invoke build")  # 1 GiB kept: fine


def test_on_jupyterhub_5_the_refusal_is_an_http_error_with_the_message_its_pages_show(monkeypatch):
    import sys

    from jhdeploy_hub import compat
    from tornado import web

    monkeypatch.setitem(sys.modules, "jupyterhub.spawner", None)  # JupyterHub 5: no SpawnException there
    refusal = compat.spawn_refusal("Your files use 100% of it", "disk-limit", 507)
    assert isinstance(refusal, web.HTTPError) and refusal.status_code == 507
    assert refusal.jupyterhub_message == "Your files use 100% of it"
    assert refusal.get_message() == "Your files use 100% of it"  # a % in it is no format
