"""BACKUP_*: the schedule's times, bad values refused with what is allowed, the backup service's plan (no
secret in it), and the status lines that warn of a stale or failed snapshot."""

import datetime
import json
from pathlib import Path

import pytest
from jhdeploy_hub import schedule

from jhdeploy import options, settings, snapshots, validation
from jhdeploy.settings import SettingsError
from jhdeploy.stack import Stack
from jhdeploy.userlist import parse

D = datetime.datetime


def at(text: str) -> D:
    return D.fromisoformat(text)


@pytest.mark.parametrize("value, after, expected", [
    ("02:30", "2026-12-06 02:30", "2026-12-07 02:30"),
    ("2:05", "2026-12-06 01:00", "2026-12-06 02:05"),
    ("0 */6 * * *", "2026-12-06 06:00", "2026-12-06 12:00"),
    ("15 3 * * 0", "2026-12-06 04:00", "2026-12-13 03:15"),  # Sundays; 2026-12-06 is one
    ("15 3 * * 7", "2026-12-06 04:00", "2026-12-13 03:15"),  # 7 is Sunday too
    ("0 1 1-7 * 1", "2026-12-06 02:00", "2026-12-07 01:00"),  # cron: day 1-7 OR a Monday
    ("0 0 1 1 *", "2026-06-01 00:00", "2027-01-01 00:00"),
])
def test_the_next_scheduled_time(value, after, expected):
    assert schedule.next_time(value, at(after)) == at(expected)


def test_times_missed_are_counted_up_to_the_limit():
    assert schedule.times_between("02:30", at("2026-12-01 02:30"), at("2026-12-02 02:29")) == 0
    assert schedule.times_between("02:30", at("2026-12-01 02:30"), at("2026-12-02 02:30")) == 1
    assert schedule.times_between("02:30", at("2026-12-01 02:30"), at("2026-12-30 00:00")) == 2


@pytest.mark.parametrize("key, value", [
    ("BACKUP_SCHEDULE", "25:00"), ("BACKUP_SCHEDULE", "daily"), ("BACKUP_SCHEDULE", "* * *"),
    ("BACKUP_SCHEDULE", "61 * * * *"), ("BACKUP_SCHEDULE", "0 0 31 2 *"), ("BACKUP_SCHEDULE", "*/0 * * * *"),
    ("BACKUP_RETENTION", "--keep-daily"), ("BACKUP_RETENTION", "--keep-daily 0"),
    ("BACKUP_RETENTION", "--prune 7"), ("BACKUP_RETENTION", "--keep-within forever"),
    ("BACKUP_RETENTION", "--keep-daily 7; rm -rf /"),
    ("BACKUP_REPOSITORY", "ftp://host/x"), ("BACKUP_REPOSITORY", "../elsewhere"),
    ("BACKUP_REPOSITORY", "sftp:host:/x"), ("BACKUP_REPOSITORY", "backups/my repo"),
])
def test_a_bad_value_is_refused_naming_the_key_the_value_and_what_is_allowed(key, value):
    with pytest.raises(SettingsError) as refused:
        settings.from_mapping({key: value})
    (problem,) = refused.value.problems
    assert problem.startswith(f"{key}={value!r}") and "allowed" in problem.lower(), problem


@pytest.mark.parametrize("key, value", [
    ("BACKUP_SCHEDULE", "manual"), ("BACKUP_SCHEDULE", "0 */6 * * 1-5"), ("BACKUP_SCHEDULE", "30 2 1,15 * *"),
    ("BACKUP_RETENTION", "--keep-last 3 --keep-within 30d"), ("BACKUP_REPOSITORY", "/mnt/backups/restic"),
    ("BACKUP_REPOSITORY", "sftp:restic@backup.example.org:/srv/restic"), ("BACKUP_REPOSITORY", "s3:s3.example.org/b/p"),
    ("BACKUP_REPOSITORY", "rest:https://backup.example.org/hub"),
])
def test_good_values_are_taken(key, value):
    settings.from_mapping({key: value})


def stack(tmp_path: Path, **values) -> Stack:
    return Stack(tmp_path, settings.from_mapping(values), parse(""), "compose")


def test_snapshots_are_an_add_on_that_is_off_by_default(tmp_path):
    assert options.SNAPSHOTS not in stack(tmp_path).addons
    assert options.SNAPSHOTS in stack(tmp_path, BACKUP_SCHEDULE="manual").addons


def test_the_plan_holds_paths_and_rules_but_no_secret(tmp_path):
    (tmp_path / "secrets").mkdir()
    password = "pw-" + "x" * 30
    (tmp_path / "secrets/restic_password").write_text(password)
    (tmp_path / "secrets/backup_ssh_key").write_text("PRIVATE KEY")
    (tmp_path / "secrets/backup_known_hosts").write_text("host ssh-ed25519 AAAA")
    plan = stack(tmp_path, BACKUP_SCHEDULE="02:30", BACKUP_REPOSITORY="sftp:r@host:/srv/r").snapshot_plan()
    text = json.dumps(plan)
    assert password not in text and "PRIVATE KEY" not in text
    assert plan["schedule"] == "30 2 * * *" and plan["retention"] == ["--keep-daily", "7", "--keep-weekly", "8",
                                                                       "--keep-monthly", "6"]
    assert set(plan["credentials"].values()) == {"/run/secrets/restic_password", "/root/.ssh/id_ed25519",
                                                 "/root/.ssh/known_hosts"}
    assert not any("restic_password" in inside for inside in plan["stack_files"].values())


def test_a_rest_urls_password_is_never_shown(tmp_path):
    plan = stack(tmp_path, BACKUP_SCHEDULE="manual",
                 BACKUP_REPOSITORY="rest:https://hub:s3cret@backup.example.org/hub").snapshot_plan()
    assert "s3cret" not in plan["repository_shown"]


def test_a_remote_repository_needs_its_secret_files(tmp_path):
    found = list(validation.snapshot_problems(stack(tmp_path, BACKUP_SCHEDULE="manual",
                                                    BACKUP_REPOSITORY="s3:s3.example.org/b/p")))
    assert found == ["BACKUP_REPOSITORY='s3:s3.example.org/b/p' needs the file secrets/backup_s3_credentials "
                     "(see docs/backups.md)."]


def test_swarm_refuses_a_schedule(tmp_path):
    swarm = Stack(tmp_path, settings.from_mapping({"BACKUP_SCHEDULE": "02:30"}), parse(""), "swarm")
    assert any(p.startswith("BACKUP_SCHEDULE is not supported on Docker Swarm") for p in
               validation.snapshot_problems(swarm))


def status(tmp_path: Path, record: dict, now: str, **values) -> list[tuple[bool, str]]:
    hub = stack(tmp_path, **{"BACKUP_SCHEDULE": "02:30", **values})
    hub.snapshot_state.mkdir(parents=True, exist_ok=True)
    (hub.snapshot_state / "status.json").write_text(json.dumps(record))
    return snapshots.status_lines(hub, at(now).replace(tzinfo=datetime.timezone.utc))


def test_status_warns_after_two_missed_times_and_after_a_failure(tmp_path):
    good = {"last_success": "2026-12-05T02:31:00+00:00", "last_snapshot": "0123456789ab", "last_failure": None}
    assert status(tmp_path, good, "2026-12-06T10:00") == [
        (True, "Snapshots: the last one is 01234567, taken 2026-12-05T02:31:00+00:00")]
    (stale,) = status(tmp_path, good, "2026-12-07T03:00")
    assert not stale[0] and "older than two scheduled times" in stale[1]
    failed = {**good, "last_failure": {"at": "2026-12-06T02:30:05+00:00", "error": "restic backup failed: x"}}
    assert status(tmp_path, failed, "2026-12-06T10:00")[1] == (
        False, "Snapshots: the last run failed at 2026-12-06T02:30:05+00:00: restic backup failed: x")
    assert status(tmp_path, {}, "2026-12-06T10:00") == [
        (False, "Snapshots: none taken yet; `invoke backup-now` takes one")]
    # manual: no schedule to miss
    assert status(tmp_path, good, "2027-06-01T00:00", BACKUP_SCHEDULE="manual")[0][0]
    assert snapshots.status_lines(stack(tmp_path)) == []


@pytest.mark.parametrize("text", ["{", "[]", '{"last_success": 5}', '{"last_failure": "x"}', "\x00\xff"])
def test_a_damaged_status_file_is_said_not_raised(tmp_path, text):
    hub = stack(tmp_path, BACKUP_SCHEDULE="02:30")
    hub.snapshot_state.mkdir(parents=True)
    (hub.snapshot_state / "status.json").write_text(text)
    (line,) = snapshots.status_lines(hub)
    assert not line[0] and "cannot be read" in line[1]
