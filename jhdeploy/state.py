"""What `invoke start` started, saved under state/ for every later task.

state/stack.json   what a later task needs to rebuild the running stack (resolve.from_saved):
                   the mode, the task flags and the resolved non-secret settings, and
                   when it started (for `invoke status`); everything else derives from them
state/hub/         settings.json, the decisions the hub reads (mounted read-only)
state/metrics/     with METRICS=yes: Prometheus', Alertmanager's and the probe's configuration
state/textfile/    what the fence and backup services report to Prometheus, and what it should hear
state/lock         held by a task that changes the stack, so that two never overlap

The folder is owner-only and git-ignored; it holds no secret, only their paths. metrics/ and
textfile/ inside it are readable by all: the containers that read them run as nobody.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from jhdeploy_hub import contract

from jhdeploy import changes, metricsconf, options
from jhdeploy.errors import DeployError
from jhdeploy.layout import METRICS_STATE, STATE_FOLDER, TEXTFILE_STATE
from jhdeploy.stack import Stack

FOLDER = STATE_FOLDER
FORMAT = 1


def folder(root: Path) -> Path:
    path = root / FOLDER
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def write_json(path: Path, data: dict) -> None:
    """Replace `path` atomically with owner-only JSON, so that no reader sees half a file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(temporary, path)


def hub_settings_file(root: Path) -> Path:
    return root / FOLDER / "hub" / "settings.json"


def write_hub_settings(c, stack: Stack) -> Path:
    """The settings the hub maps to traitlets; written before any hub container starts."""
    path = hub_settings_file(stack.root)
    changes.apply(c, f"write {FOLDER}/hub/settings.json", write_json, path, stack.hub_settings())
    return path


def image_digests_file(root: Path) -> Path:
    """`invoke push` records here what each pushed tag is (contract.DIGESTS_FILE, in the hub)."""
    return root / FOLDER / "hub" / Path(contract.DIGESTS_FILE).name


def hub_settings_digest(root: Path) -> str:
    """Changes whenever the hub's settings do: Compose and Swarm then recreate the hub."""
    path = hub_settings_file(root)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "none"


def write_metrics(c, stack: Stack) -> None:
    """The metrics add-on's configuration in state/metrics/, and what this stack expects to hear from in
    state/textfile/ (jhdeploy/metricsconf.py). Readable by the containers' user (nobody): none is a
    secret. The textfile folder is there for the fence and backup services to write to, metrics on or off."""
    textfile = stack.root / TEXTFILE_STATE
    changes.apply(c, f"write {TEXTFILE_STATE}/stack.prom", _write_shared, textfile,
                  {"stack.prom": metricsconf.expected(stack)})
    if metricsconf.on(stack):
        changes.apply(c, f"write the metrics configuration in {METRICS_STATE}/", _write_shared,
                      stack.root / METRICS_STATE, metricsconf.files(stack))


def prepare_disk(c, stack: Stack) -> None:
    """state/disk/ and its allow/ folder, for the disk-scan service and the hub (options.DISK_SCAN); readable
    by all, since they hold sizes and a log of starts, never a secret."""
    if options.DISK_SCAN not in stack.addons:
        return
    for folder in (stack.disk_state, stack.disk_state / contract.ALLOW_DIR):
        if not folder.is_dir():
            changes.apply(c, f"create {folder.relative_to(stack.root)}/", folder.mkdir, mode=0o755, parents=True)


def _write_shared(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    directory.chmod(0o755)
    for name, content in files.items():
        temporary = directory / f".{name}.{os.getpid()}"
        temporary.write_text(content, encoding="utf-8")
        temporary.chmod(0o644)
        os.replace(temporary, directory / name)


def metrics_digest(root: Path) -> str:
    """Changes whenever the metrics configuration does: Compose then recreates the services that read it."""
    digest = hashlib.sha256()
    for path in sorted((root / METRICS_STATE).glob("*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def save(c, stack: Stack) -> None:
    changes.apply(c, f"record what runs in {FOLDER}/stack.json", _save, stack)


def _save(stack: Stack) -> None:
    write_json(folder(stack.root) / "stack.json", {
        "format": FORMAT,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": stack.mode,
        "flags": stack.settings.overrides,
        "settings": stack.settings.public,
    })


def load(root: Path) -> dict[str, Any] | None:
    """What the last `invoke start` (or swarm-deploy) recorded, or None when nothing runs."""
    path = root / FOLDER / "stack.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise DeployError(f"{path} is damaged ({error}). Remove it, check `docker ps`, and "
                          "stop leftover containers by hand.") from None
    return saved if saved.get("format") == FORMAT else None


def forget(c, root: Path) -> None:
    changes.apply(c, f"remove {FOLDER}/stack.json", (root / FOLDER / "stack.json").unlink, missing_ok=True)


@contextlib.contextmanager
def locked(c, root: Path, task: str):
    """Hold state/lock for one task that changes the stack; refuse at once if another holds it."""
    if changes.dry(c):  # a dry run changes nothing, state/lock included
        yield
        return
    path = folder(root) / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock.read().strip() or "another task"
            raise DeployError(f"{holder} is changing this stack right now; wait for it to finish, "
                              f"then run `invoke {task}` again.") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"`invoke {task}` (pid {os.getpid()})")
        lock.flush()
        try:
            yield
        finally:
            lock.seek(0)
            lock.truncate()
