"""What the host's tasks and the hub agree on: paths, labels, names and the settings' format.

The one place for each of these facts. The hub reads them here; the host side
(jhdeploy/layout.py) imports this module from the checkout's hub/ folder. It
imports nothing, so that both sides can.
"""

from __future__ import annotations

# The version of state/hub/settings.json: the tasks write it, the hub refuses any other. The hub
# image carries it as a label, so that a start refuses a hub image that reads another.
SETTINGS_FORMAT = 2
FORMAT_LABEL = "org.jhdeploy.settings-format"

HUB_ROOT = "/srv/jupyterhub"
CONF = f"{HUB_ROOT}/conf"  # where compose/base.yml mounts conf/, read-only
CONFIG_FILE = f"{CONF}/jupyterhub_config.py"
SETTINGS_FILE = f"{HUB_ROOT}/state/settings.json"  # where compose/base.yml mounts state/hub/, read-only
# Written by `invoke push` into state/hub/ (beside SETTINGS_FILE): {pushed ref: its REPO@sha256:DIGEST}. Swarm
# spawns name the digest, so that no node asks the registry what a tag means (read at each spawn).
DIGESTS_FILE = f"{HUB_ROOT}/state/image-digests.json"
ANNOUNCEMENT_FILE = "announcement.html"  # under conf/, written by `invoke announce`
SECRETS = "/run/secrets"  # where Compose and Swarm mount secrets
SNAPSHOT_STATE = f"{HUB_ROOT}/backup"  # where compose/backup.yml mounts state/backup/, read-write
# Where the backup and fence services write what they report to Prometheus (state/textfile/, which
# node-exporter's textfile collector reads; compose/metrics.yml).
TEXTFILE = "/textfile"

# Labels on every container (or swarm service) that the hub spawns.
STACK_LABEL = "org.jhdeploy.stack"
USER_LABEL = "org.jhdeploy.user"
SERVER_LABEL = "org.jhdeploy.server"
GROUPS_LABEL = "org.jhdeploy.groups"  # the conf/groups.toml digest a server started under

# A server's own Docker volume; DockerSpawner fills in the names, `server_suffix` is '' or '--NAME'.
USER_VOLUME = "{prefix}-user-{username}{server_suffix}"
USER_FOLDER = "{username}{server_suffix}"  # under USER_STORAGE_PATH instead
# A folder of conf/groups.toml: a Docker volume, or under USER_STORAGE_PATH (where no user name starts with _).
GROUP_VOLUME = "{prefix}-group-{folder}"
GROUP_FOLDERS = "_groups"


def user_volume_prefix(project: str) -> str:
    """What every user volume of a stack starts with."""
    return USER_VOLUME.split("{username}")[0].format(prefix=project)


def data_volume_prefixes(project: str) -> tuple[str, str]:
    """What every user volume, and every group folder's volume, of a stack starts with."""
    return user_volume_prefix(project), GROUP_VOLUME.split("{folder}")[0].format(prefix=project)

# Disk use (compose/diskscan.yml): the disk-scan service writes USAGE_FILE into state/disk/, which the hub
# mounts here (read-write: it takes `invoke allow-start` grants out of ALLOW_DIR, and appends to EVENTS_FILE).
DISK_STATE = f"{HUB_ROOT}/disk"
USAGE_FILE = "usage.json"
ALLOW_DIR = "allow"  # one file per one-time start granted, named by quote(user name)
EVENTS_FILE = "events.jsonl"  # one line per server start and stop, for `invoke usage`
DISK_WARN_FRACTION = 0.9  # users are told from here on
UNITS = " KMGT"  # sizes count in powers of 1024, as Docker's do: 10G is 10 GiB


def parse_size(value: str) -> int:
    """'20M' -> bytes (K, M, G and T are powers of 1024, as in NOTEBOOK_MEM_LIMIT)."""
    text = value.strip().upper()
    unit = text[-1] if text and text[-1] in UNITS.strip() else ""
    return int(text[:len(text) - len(unit)]) * 1024 ** UNITS.index(unit or " ")


def human_size(size: float) -> str:
    """Bytes as people read them: 512 B, 30.0 MiB, 1.5 GiB."""
    for power in range(len(UNITS) - 1, 0, -1):
        if size >= 1024 ** power:
            return f"{size / 1024 ** power:.1f} {UNITS[power]}iB"
    return f"{size:.0f} B"
