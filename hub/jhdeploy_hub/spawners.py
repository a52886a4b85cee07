"""Spawner classes of our own, each a small change over an upstream one. Runs inside the hub."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docker.errors import NotFound
from docker.types import Mount
from dockerspawner import DockerSpawner, SwarmSpawner
from jupyterhub.utils import maybe_future
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Float, Integer, List, Tuple, Unicode

from jhdeploy_hub import compat, diskuse
from jhdeploy_hub.contract import DIGESTS_FILE, GROUP_FOLDERS, GROUPS_LABEL, user_volume_prefix
from jhdeploy_hub.startqueue import StartQueue


class ReadyDockerSpawner(DockerSpawner):
    """DockerSpawner that returns from start() only once the server answers, polling quickly.

    JupyterHub then checks the server with an exponential backoff that grows to
    5 s between checks (0.2, 0.4, 0.8, 1.6, 3.2 s...), so a server that answers
    after 2 s is often noticed after 3 s. We poll from 50 ms, growing to
    `ready_poll_max` seconds, so JupyterHub's first check already succeeds.
    0 turns this off. See docs/performance.md for what it buys.

    With `start_concurrency`, at most that many servers start at once: the others wait their turn
    before start() (so the wait does not count against start_timeout), told their place on the spawn
    page. Docker calls go through `docker_threads` threads rather than DockerSpawner's one.

    It also fails a start at once when the container dies, and logs the last lines
    of a server that stopped by itself before its container is removed. With `disk_state`, it
    refuses a start over the user's disk limit or past the disk's reserve (jhdeploy_hub.diskuse),
    tells a user near their limit, and logs each start and stop for `invoke usage`.
    """

    ready_poll_max = Float(0.25, config=True, help="Longest pause between readiness checks; 0: off.")
    start_concurrency = Integer(0, config=True, help="Servers that start at once; others queue. 0: no queue.")
    docker_threads = Integer(8, config=True, help="Threads for Docker API calls, shared by all spawners.")
    last_lines = Integer(40, config=True, help="Lines of a crashed server's log that reach the hub's log.")
    temporary_volume = Unicode("", config=True,
                               help="A volume name template whose volume is deleted when the server stops "
                                    "(temporary users); empty: volumes are always kept.")
    user_storage = Unicode("", config=True,
                           help="USER_STORAGE_PATH: a folder, seen here at the path every node mounts it at, "
                                "under which each server's own folder is made before it starts.")
    user_storage_owner = Tuple((1000, 100), config=True, help="uid and gid of a new user folder (the notebook user).")
    disk_state = Unicode("", config=True, help="Where the disk-scan service's figures are (contract.DISK_STATE); "
                                               "empty: no disk checks and no usage log.")
    disk_limit = Unicode("", config=True, help="NOTEBOOK_DISK_LIMIT, such as 10G; empty: none.")
    disk_group_limits = List(config=True, help="conf/groups.toml's disk_limit: [group, value] pairs.")
    _reported = ""  # the container whose last lines were logged
    _notice = ""  # what the user is told about their disk, decided at start
    _started_at = None  # when start() returned, kept in the spawner's state: only a started server's stop is logged
    _configured: dict | None = None  # the values group_overrides may change, as configured
    _queue: StartQueue | None = None  # one for the hub: set on ReadyDockerSpawner itself
    _threads: ThreadPoolExecutor | None = None  # the same

    @property
    def executor(self):
        """DockerSpawner's calls all wait on one thread: with a class starting at once, the hub's readiness
        checks and every start queue behind each other (docs/performance.md)."""
        if ReadyDockerSpawner._threads is None:
            ReadyDockerSpawner._threads = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="docker")
        return ReadyDockerSpawner._threads

    @property
    def start_queue(self) -> StartQueue | None:
        if self.start_concurrency <= 0:
            return None
        if ReadyDockerSpawner._queue is None:
            ReadyDockerSpawner._queue = StartQueue(self.start_concurrency)
        return ReadyDockerSpawner._queue

    async def run_pre_spawn_hook(self):
        """Wait for a turn in the start queue, last before start(): JupyterHub times start() alone."""
        if self.start_queue:
            await self.start_queue.join(self)
        try:
            return await maybe_future(super().run_pre_spawn_hook())
        except BaseException:
            self._leave_queue()
            raise

    def _leave_queue(self) -> None:
        if self.start_queue:
            self.start_queue.release(self)

    async def apply_group_overrides(self):
        """Each start begins from the configured values: upstream applies the overrides over what the
        previous start left, so a group the user has since left would still count."""
        touched = {"image", *(key for override in (self.group_overrides if isinstance(self.group_overrides, dict)
                                                     else {}).values() for key in override["spawner_override"])}
        if self._configured is None:
            self._configured = {key: copy.deepcopy(getattr(self, key)) for key in touched}
        for key, value in self._configured.items():
            setattr(self, key, copy.deepcopy(value))
        await super().apply_group_overrides()

    async def start(self):
        began = time.monotonic()
        try:
            self._check_disk()
            self._choose_image()
            self._label_groups()
            self._make_user_folders()
            await self._make_sized_volumes()
            ip, port = await super().start()
            if self.ready_poll_max > 0:
                await self._wait_answering(f"http://{ip}:{port}{self.server.base_url}api")
        finally:  # started, failed or timed out (JupyterHub cancels start()): the next in the queue goes
            self._leave_queue()
        self._started_at = time.time()
        self._record("start", time.monotonic() - began)
        return ip, port

    def _check_disk(self) -> None:
        """Refuse the start over the disk limit or past the reserve, saying why to the user."""
        if not self.disk_state:
            return
        state = Path(self.disk_state)
        try:
            self._notice = diskuse.check_start(self.user.name, self._limit(), diskuse.read_usage(state), state)
        except diskuse.DiskRefusal as refusal:
            self._record("refused")
            # 507 Insufficient Storage; JupyterHub logs it once, without a traceback.
            raise compat.spawn_refusal(str(refusal), refusal.reason, 507) from None

    def _limit(self) -> int | None:
        groups = [group.name for group in self.user.groups]
        return diskuse.limit_of({"limits": {"disk_limit": self.disk_group_limits}}, self.disk_limit, groups)

    async def _make_sized_volumes(self) -> None:
        """Where the filesystem enforces it (XFS with project quotas), a new volume is made with Docker's size
        option at the user's limit. Untested here: no machine of ours has a kernel with XFS quotas."""
        limit = self._limit() if self.disk_state else None
        usage = diskuse.read_usage(Path(self.disk_state)) if limit else {}
        if not usage.get("filesystem", {}).get("hard_limits"):
            return
        own = [source for source in self.volume_binds if source.startswith(user_volume_prefix(self.prefix))]
        for source in own:  # not a group's or the shared volume
            try:
                await self.docker("inspect_volume", source)
            except NotFound:
                await self.docker("create_volume", name=source, driver="local", driver_opts={"size": str(limit)})
                self.log.info("Created %s with a size of %s bytes", source, limit)

    def _record(self, event: str, seconds: float | None = None) -> None:
        if self.disk_state:
            diskuse.record(event, self.user.name, self.name, seconds, Path(self.disk_state))

    def get_env(self):
        """With a disk notice, JupyterLab shows it (conf/notebook/labextensions/jhdeploy-notice)."""
        env = super().get_env()
        if self._notice:
            env["JHDEPLOY_NOTICE"] = json.dumps({"message": self._notice, "type": "warning"})
        return env

    async def progress(self):
        """The user's place in the start queue while they wait, then the disk notice, on the spawn page."""
        queue = self.start_queue
        shown = None
        while queue and (place := queue.place(self)) is not None:
            change = queue.next_change()
            if place != shown:
                shown = place
                yield {"progress": 5, "message": f"Waiting to start: {place} of {len(queue.waiting)} in the queue, "
                                                 f"{len(queue.starting)} server(s) starting now"}
            await change.wait()
        if shown is not None:
            yield {"progress": 10, "message": "Your turn: starting your server"}
        if self._notice:
            yield {"progress": 10, "message": self._notice}
        async for event in super().progress():
            yield event

    def _choose_image(self) -> None:
        """With no image asked for, the first the user's groups allow, when .env's is not among them."""
        choices = self._get_allowed_images()
        if choices and choices != "*" and not self.user_options.get("image") and self.image not in choices.values():
            self.image = next(iter(choices.values()))

    def _label_groups(self) -> None:
        """The groups label: the conf/groups.toml digest, and the groups this server starts with, so that
        `invoke status` can tell a server started under older group settings."""
        labels = self.extra_create_kwargs.get("labels", {})
        if GROUPS_LABEL in labels:
            digest = labels[GROUPS_LABEL].split(":")[0]
            names = ",".join(sorted(group.name for group in self.user.groups))
            self.extra_create_kwargs = {**self.extra_create_kwargs,
                                        "labels": {**labels, GROUPS_LABEL: f"{digest}:{names}"}}

    def _make_user_folders(self) -> None:
        """The server's folder under user_storage, owner-only for the notebook user, and a group's folder
        under user_storage/_groups, for the notebook user and setgid, if they are new. A bind mount of a
        missing folder would fail the start (swarm) or make it root's (Docker)."""
        if not self.user_storage:
            return
        for source in self.volume_binds:
            folder = Path(source)
            group = folder.parent == Path(self.user_storage) / GROUP_FOLDERS
            if (folder.parent == Path(self.user_storage) or group) and not folder.exists():
                folder.mkdir(mode=0o700, parents=True)
                os.chown(folder, *self.user_storage_owner)
                if group:
                    folder.chmod(0o2775)
                self.log.info("Created %s for %s", folder, self._log_name)

    async def _wait_answering(self, url: str) -> None:
        client, pause = AsyncHTTPClient(), 0.05
        deadline = time.monotonic() + self.http_timeout
        next_poll = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                await client.fetch(url, request_timeout=5)
                return
            except (HTTPClientError, OSError):
                pass  # not listening yet; JupyterHub's own check reports a real failure
            # Whether it died, once a second: asked at every check, a crowd of starts made dozens of Docker
            # calls each, all on the hub's Docker threads.
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + 1
                status = await self.poll()
                if status is not None:  # it died: say why, and fail now rather than after http_timeout
                    await self._log_last_lines()
                    raise RuntimeError(f"The server's container stopped while starting ({status}).")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, self.ready_poll_max)

    async def get_url(self):
        """Where the server really listens. A hub restarted in the middle of a spawn has only the
        placeholder address in its database; without this it would wait http_timeout, then kill
        a server that runs fine."""
        if self.object_type != "container" or not await self.get_object():
            return await super().get_url()
        ip, port = await self.get_ip_and_port()
        return f"{self.server.proto}://{ip}:{port}{self.server.base_url}"

    async def stop(self, now=False):
        self._leave_queue()  # a spawn that failed between its turn and start()
        await self._log_last_lines()
        await super().stop(now=now)
        if self._started_at:  # not after a start that was refused or failed
            self._record("stop")
            self._started_at = None
        if self.temporary_volume:
            name = self.format_volume_name(self.temporary_volume, self)
            self.log.info("Removing the temporary volume %s", name)
            await self.docker("remove_volume", name=name)

    def get_state(self):
        state = super().get_state()
        if self._started_at:
            state["started_at"] = self._started_at
        return state

    def load_state(self, state):
        super().load_state(state)
        self._started_at = state.get("started_at")

    def clear_state(self):
        super().clear_state()
        self._started_at = None

    async def _log_last_lines(self) -> None:
        """Say what a server that stopped by itself printed last, before its container goes (once)."""
        container = await self.get_object() if self.object_type == "container" else None
        if not container or container["State"]["Running"] or container["Id"] == self._reported:
            return
        self._reported = container["Id"]
        output = await self.docker("logs", self.object_id, tail=self.last_lines)
        self.log.error("The server %s stopped by itself (exit code %s). Its last lines:\n%s",
                       self.object_name, container["State"]["ExitCode"], output.decode(errors="replace").rstrip())


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


class VolumeSwarmSpawner(ReadyDockerSpawner, SwarmSpawner):
    """SwarmSpawner that mounts named volumes as volumes, and returns once the server answers.

    dockerspawner 14's SwarmSpawner mounts every entry of `volumes` as a bind
    mount, which swarm rejects for a volume name ("invalid bind mount source,
    must be an absolute path"). Host paths stay bind mounts.
    """

    digests_file = Unicode(DIGESTS_FILE, config=True,
                           help="`invoke push`'s record of each pushed tag's digest: a spawn names the digest.")

    @property
    def mounts(self):
        return swarm_mounts(self.volume_binds, self.mount_driver_config)

    def pinned_image(self, image: str) -> str:
        """IMAGE by its pushed digest, when `invoke push` recorded one: the node that runs it then
        asks no registry what the tag means (moby#31427), and every node runs the same image."""
        try:
            digests = json.loads(Path(self.digests_file).read_text())
        except (OSError, ValueError):
            return image
        pinned = digests.get(image) if isinstance(digests, dict) else None
        return pinned if isinstance(pinned, str) and "@sha256:" in pinned else image

    async def start_object(self):
        """Wait until the service's task runs, checking every 0.1 s growing to 1 s: SwarmSpawner's own
        wait grows to 11 s between checks, which made a one-at-a-time spawn on a worker take 21 s
        (docs/scaling.md). A task that failed or was rejected (say, a mount its node lacks) fails the
        spawn at once, with swarm's reason, instead of leaving it pending until start_timeout."""
        pause = 0.1
        while True:
            task = await self.get_task()
            if not task:
                raise RuntimeError(f"Service {self.service_name} not found")
            state = task["Status"]["State"].lower()
            if state == "running":
                return
            if state in ("failed", "rejected", "shutdown", "complete", "orphaned", "remove"):
                raise RuntimeError(f"Service {self.service_name} {state}: {task['Status'].get('Err', '')}")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)

    async def get_ip_and_port(self):
        """The task's own address on the stack's network, not the service's name: just after a server
        starts again, that name may still resolve to its previous task, gone with its node."""
        task = await self.get_task()
        for attachment in (task or {}).get("NetworksAttachments", []):
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0], self.port
        return await super().get_ip_and_port()

    async def create_object(self):
        if not self.extra_placement_spec.get("constraints"):
            self.extra_placement_spec = {**self.extra_placement_spec, "constraints": await self._on_workers()}
        # Through the container spec: a new self.image would rename the service (DockerSpawner re-renders it).
        configured = self.extra_container_spec
        self.extra_container_spec = {**configured, "image": self.pinned_image(self.image)}
        try:
            return await super().create_object()
        finally:
            self.extra_container_spec = configured

    async def _on_workers(self) -> list[str]:
        """With no SWARM_USER_CONSTRAINTS, users' servers go to the workers when any is at work, and
        leave the manager to the hub; a swarm of managers only runs them there."""
        workers = await self.docker("nodes", filters={"role": "worker"})
        ready = [n for n in workers if n["Spec"].get("Availability") == "active"
                 and n["Status"].get("State") == "ready"]
        return ["node.role == worker"] if ready else []
