"""conf/groups.toml: what each group's members get (images, limits, GPUs, named servers, folders).

Checked here on the host, every problem naming the file, the line, the key, the value and what is
allowed; decided for the hub in `Groups.for_hub` (which the hub's configuration maps to DockerSpawner's
callables and JupyterHub's `Spawner.group_overrides`). Users in no group get the .env settings.

When a user is in several groups: images and folders are the union, a folder any of them mounts `rw`
is `rw`, and the most generous limit wins. The same plan serves the spawn form, the REST API and Swarm.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jhdeploy_hub import contract

from jhdeploy import kinds

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FILE = "conf/groups.toml"
GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
GROUP_NAME_ALLOWED = "lowercase letters, digits, - and _, starting with a letter or digit (at most 64)"
MODES = ("ro", "rw")
UNLIMITED = float("inf")


@dataclass(frozen=True)
class Limit:
    """A group key that sets, for the group's members, what an .env setting sets for everyone."""

    key: str
    setting: str
    kind: str
    generosity: Any  # the parsed value -> a number; the largest wins


def _bytes(value: str) -> float:
    number, unit = re.match(r"^([0-9]+)([kKmMgG]?)$", value).groups()
    return int(number) * 1024 ** " KMG".index(unit.upper() or " ")


LIMITS = (
    Limit("mem_limit", "NOTEBOOK_MEM_LIMIT", "memory", _bytes),
    Limit("cpu_limit", "NOTEBOOK_CPU_LIMIT", "cpus", float),
    Limit("mem_reservation", "NOTEBOOK_MEM_RESERVATION", "memory", _bytes),
    Limit("cpu_reservation", "NOTEBOOK_CPU_RESERVATION", "cpus", float),
    Limit("gpus", "NOTEBOOK_GPUS", "gpus", lambda value: UNLIMITED if value == "all" else len(value.split(","))),
    Limit("named_servers", "NAMED_SERVERS_MAX", "count", int),
    # Measured, not enforced by Docker (hub/jhdeploy_hub/diskuse.py): a new start is refused over it.
    Limit("disk_limit", "NOTEBOOK_DISK_LIMIT", "memory", _bytes),
)
BY_KEY = {limit.key: limit for limit in LIMITS}
TABLES = {
    "images": {"image": "an image reference such as jupyterhub-user:latest (required)",
               "display_name": "a name shown in the spawn form", "description": "a sentence shown under it"},
    "folders": {"mount": "an absolute path in the container, such as /home/jovyan/materials (required)",
                "host_path": "an absolute host path to share instead of a Docker volume (optional)"},
    "groups": {"images": "a list of names from [images]", "folders": "a table of [folders] names, each 'ro' or 'rw'",
               **{limit.key: f"what {limit.setting} allows" for limit in LIMITS}},
}


class GroupsError(ValueError):
    """Every problem of the file, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Groups:
    images: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> image, display_name, description
    folders: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> mount, host_path
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> images, folders, limits (as text)

    def folder_source(self, name: str, project: str, storage: str) -> str:
        """A folder's host path, else its folder under USER_STORAGE_PATH (Swarm), else a Docker volume."""
        host_path = self.folders[name].get("host_path")
        if host_path:
            return host_path
        if storage:
            return f"{storage}/{contract.GROUP_FOLDERS}/{name}"
        return contract.GROUP_VOLUME.format(prefix=project, folder=name)

    def for_hub(self, project: str, storage: str) -> dict[str, Any]:
        """What the hub applies: per group its images and folders, and each limit's values from the least to
        the most generous (applied in that order, the last one wins)."""
        limits = {}
        for limit in LIMITS:
            values = [(group, spec[limit.key]) for group, spec in self.groups.items() if limit.key in spec]
            limits[limit.key] = sorted(values, key=lambda item: (limit.generosity(item[1]), item[0]))
        return {
            "images": {name: {"image": spec["image"], "display_name": spec.get("display_name", name),
                              "description": spec.get("description", "")} for name, spec in self.images.items()},
            "groups": {group: {"images": spec.get("images", []),
                               "folders": {self.folder_source(folder, project, storage):
                                           {"bind": self.folders[folder]["mount"], "mode": mode}
                                           for folder, mode in spec.get("folders", {}).items()}}
                       for group, spec in self.groups.items()},
            "limits": {key: values for key, values in limits.items() if values},
            "digest": self.digest(),
        }

    def digest(self) -> str:
        """Changes with what the file decides: a server started under another one is marked in `invoke status`."""
        text = json.dumps([self.images, self.folders, self.groups], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def effective(self, member_of: list[str], defaults: dict[str, Any]) -> dict[str, tuple[Any, str]]:
        """A user's images, folders and limits, each with where it came from (a group, or .env)."""
        found: dict[str, tuple[Any, str]] = {}
        giving = [group for group in member_of if self.groups.get(group, {}).get("images")]
        images = sorted({name for group in giving for name in self.groups[group]["images"]})
        found["images"] = (images, ", ".join(giving)) if images else (
            sorted(defaults["images"]), ".env NOTEBOOK_IMAGES" if defaults["images"] else ".env LOCAL_NOTEBOOK_IMAGE")
        for limit in LIMITS:
            offers = [(spec[limit.key], group) for group in member_of
                      if limit.key in (spec := self.groups.get(group, {}))]
            found[limit.key] = max(offers, key=lambda offer: limit.generosity(offer[0])) if offers else (
                defaults[limit.setting], f".env {limit.setting}")
        for group in member_of:
            for folder, mode in self.groups.get(group, {}).get("folders", {}).items():
                key = f"folder {folder}"
                if key not in found or (mode == "rw" and found[key][0][1] == "ro"):
                    found[key] = ((self.folders[folder]["mount"], mode), group)
        return found


def _line_of(lines: list[str], table: str, key: str = "") -> int:
    """The line of `[table]`, or of `key = ...` inside it (1 when it cannot be found)."""
    current, header = "", 1
    for number, line in enumerate(lines, start=1):
        heading = re.match(r"^\s*\[([^\[\]]+)\]", line)
        if heading:
            current = ".".join(part.strip().strip('"\'') for part in heading.group(1).split("."))
            if current == table and not key:
                return number
            if current == table:
                header = number
        elif current == table and key and re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return header


def parse(text: str, notebook_dir: str, other_mounts: tuple[str, ...] = (), source: str = FILE) -> Groups:
    """Check the whole file; raise GroupsError with every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise GroupsError([f"{source}: not valid TOML: {error}"]) from None
    lines, problems = text.splitlines(), []

    def problem(table: str, key: str, value: Any, allowed: str) -> None:
        where = _line_of(lines, table, key)
        problems.append(f"{source}, line {where}: [{table}] {key} = {value!r}: allowed: {allowed}."
                        if key else f"{source}, line {where}: [{table}]: {allowed}.")

    for top in data:
        if top not in TABLES:
            problems.append(f"{source}, line {_line_of(lines, top) if isinstance(data[top], dict) else 1}: "
                            f"unknown key {top!r}: allowed: {', '.join(TABLES)}.")
    for table, keys in TABLES.items():
        entries = data.get(table, {})
        if not isinstance(entries, dict):
            problems.append(f"{source}: {table} must be tables such as [{table}.NAME].")
            continue
        for name, spec in entries.items():
            where = f"{table}.{name}"
            if not isinstance(spec, dict):
                problem(table, name, spec, f"a table [{where}]")
                continue
            if not GROUP_NAME.match(name):
                problem(where, "", name, f"the name {name!r} is not allowed: {GROUP_NAME_ALLOWED}")
            for key, value in spec.items():
                if key not in keys:
                    problem(where, key, value, "one of the keys " + ", ".join(keys))
    if problems:
        raise GroupsError(problems)
    groups = Groups(data.get("images", {}), data.get("folders", {}), {
        name: {key: (str(value).lower() if isinstance(value, bool) else str(value)) if key in BY_KEY else value
               for key, value in spec.items()} for name, spec in data.get("groups", {}).items()})
    _check_images(groups, problem)
    _check_folders(groups, notebook_dir, other_mounts, problem)
    _check_groups(groups, problem)
    if problems:
        raise GroupsError(problems)
    return groups


def _check_images(groups: Groups, problem) -> None:
    for name, spec in groups.images.items():
        if "image" not in spec:
            problem(f"images.{name}", "", name, "it needs image = 'REFERENCE'")
        elif not isinstance(spec["image"], str) or kinds.KINDS["image"].check(spec["image"]):
            problem(f"images.{name}", "image", spec["image"], "an image reference such as jupyterhub-user:latest")
        for key in ("display_name", "description"):
            if key in spec and not isinstance(spec[key], str):
                problem(f"images.{name}", key, spec[key], "text in quotes")


def _check_folders(groups: Groups, notebook_dir: str, other_mounts: tuple[str, ...], problem) -> None:
    seen: dict[str, str] = {}
    home = PurePosixPath(notebook_dir)
    for name, spec in groups.folders.items():
        where, mount = f"folders.{name}", spec.get("mount")
        if not isinstance(mount, str) or kinds.KINDS["path"].check(mount):
            problem(where, "mount", mount, "an absolute path in the container, such as /home/jovyan/materials")
            continue
        path = PurePosixPath(mount)
        if path == home or path in home.parents:
            problem(where, "mount", mount, f"a path that does not cover the notebook directory {notebook_dir} "
                                           "(a folder inside it, or beside it)")
        elif mount in seen:
            problem(where, "mount", mount, f"a path of its own: [folders.{seen[mount]}] is mounted there")
        elif mount in other_mounts:
            problem(where, "mount", mount, "a path of its own: SHARED_MOUNT in .env is mounted there")
        seen[mount] = name
        host_path = spec.get("host_path")
        if host_path is not None and (not isinstance(host_path, str) or not host_path.startswith("/")
                                      or kinds.KINDS["shared"].check(host_path)):
            problem(where, "host_path", host_path,
                    "an absolute host path that is not /, a system folder or Docker's socket")


def _check_groups(groups: Groups, problem) -> None:
    for name, spec in groups.groups.items():
        where = f"groups.{name}"
        images = spec.get("images", [])
        if not isinstance(images, list) or not all(isinstance(image, str) for image in images):
            problem(where, "images", images, "a list of names from [images], such as ['python']")
        else:
            for image in images:
                if image not in groups.images:
                    problem(where, "images", image, f"an image of this file: {', '.join(groups.images) or 'none yet'}"
                                                    " (add it as [images." + image + "])")
        folders = spec.get("folders", {})
        if not isinstance(folders, dict):
            problem(where, "folders", folders, "a table such as { materials = 'ro' }")
            folders = {}
        for folder, mode in folders.items():
            if folder not in groups.folders:
                problem(where, "folders", folder, f"a folder of this file: {', '.join(groups.folders) or 'none yet'}")
            elif mode not in MODES:
                problem(where, "folders", {folder: mode}, "ro (read-only) or rw (read-write)")
        for key in BY_KEY.keys() & spec.keys():
            allowed = kinds.KINDS[BY_KEY[key].kind].check(spec[key])
            if allowed:
                problem(where, key, spec[key], allowed)


def load(root: Path, notebook_dir: str, other_mounts: tuple[str, ...] = ()) -> Groups:
    """conf/groups.toml of this checkout; no file: no group settings."""
    path = root / FILE
    if not path.is_file():
        return Groups()
    return parse(path.read_text(encoding="utf-8"), notebook_dir, other_mounts, source=FILE)
