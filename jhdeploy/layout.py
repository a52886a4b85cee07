"""Names shared by the host-side tasks and the Compose files.

What the hub must agree on too (paths, labels, user volumes, the settings' format)
is in hub/jhdeploy_hub/contract.py, which the host side imports as it is.
"""

from __future__ import annotations

HUB_SERVICE = "jupyterhub"  # the Compose service, and the host name users connect to
POSTGRES_SERVICE = "postgres"
PROXY_SERVICE = "proxy"  # configurable-http-proxy (compose/base.yml)
FENCE_SERVICE = "fence"  # compose/fence.yml
PROXY_API_PORT = 8001
STATE_FOLDER = "state"  # what the tasks record, in the checkout (jhdeploy/state.py)
SNAPSHOT_STATE = f"{STATE_FOLDER}/backup"  # the backup service's status.json and database dump
METRICS_STATE = f"{STATE_FOLDER}/metrics"  # the metrics add-on's configuration (jhdeploy/metricsconf.py)
TEXTFILE_STATE = f"{STATE_FOLDER}/textfile"  # what services report to node-exporter (contract.TEXTFILE)
DISK_STATE = f"{STATE_FOLDER}/disk"  # users' disk use, start grants and the usage log (contract.DISK_STATE)
DISK_SCAN_SERVICE = "diskscan"  # compose/diskscan.yml


def image_ref(s, key: str) -> str:
    """An image we build, as every node names it: prefixed with REGISTRY when one is set."""
    return f"{s['REGISTRY']}/{s[key]}" if s["REGISTRY"] else s[key]
