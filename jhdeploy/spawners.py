"""Spawner classes of our own, each a small fix over an upstream one. Runs inside the hub."""

from __future__ import annotations

from docker.types import Mount
from dockerspawner import SwarmSpawner


def swarm_mounts(volume_binds: dict, driver=None) -> list[Mount]:
    """Named volumes as volumes, host paths as bind mounts."""
    return [
        Mount(
            target=options["bind"],
            source=source,
            type="bind" if source.startswith("/") else "volume",
            read_only=options["mode"] == "ro",
            driver_config=driver,
        )
        for source, options in volume_binds.items()
    ]


class VolumeSwarmSpawner(SwarmSpawner):
    """SwarmSpawner that mounts named volumes as volumes.

    dockerspawner 14's SwarmSpawner mounts every entry of `volumes` as a bind
    mount, which swarm rejects for a volume name ("invalid bind mount source,
    must be an absolute path"). Host paths stay bind mounts.
    """

    @property
    def mounts(self):
        return swarm_mounts(self.volume_binds, self.mount_driver_config)
