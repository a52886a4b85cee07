"""The kinds of `.env` values: how each is checked, and what Python value it becomes.

settings.py gives every setting one of these kinds; the choices of an option
(SSL modes, authenticators, databases) come from its records in options.py.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jhdeploy_hub import schedule

from jhdeploy import options


@dataclass(frozen=True)
class Kind:
    """How a value of one kind is checked, and what Python value it becomes."""

    check: Callable[[str], str | None]  # None when allowed, else what is allowed
    parse: Callable[[str], Any] = str
    empty: Any = ""  # the value of an optional setting left empty


KNOWN_PASSWORDS = ("change-me-now",)  # published by earlier templates: refused, never used

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*([a-z0-9.+-]*)$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


def _check_port(value: str) -> str | None:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        return "a port number from 1 to 65535"
    return None


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_hostname(value: str) -> str | None:
    allowed = "a host name such as hub.example.org (letters, digits, dots, hyphens), or an IP address"
    if is_ip(value):
        return None
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        return allowed
    return None


def _check_pattern(pattern: re.Pattern, allowed: str):
    return lambda value: None if pattern.match(value) else allowed


def _check_db_url(value: str) -> str | None:
    named = [name for name in options.DATABASES if name != options.EXTERNAL_DATABASE]
    if value in named or "://" in value:
        return None
    return f"{', '.join(repr(name) for name in named)}, or a full SQLAlchemy URL such as postgresql://user@host/db"


def _check_count(value: str) -> str | None:
    return None if value.isdigit() and int(value) >= 1 else "a whole number of at least 1"


def _check_seconds(value: str) -> str | None:
    return None if value.isdigit() else "a whole number of seconds (0 or more)"


def _check_duration(value: str) -> str | None:
    return None if re.match(r"^[1-9][0-9]*[hdwy]$", value) else "a duration such as 90d, 26w or 1y (h, d, w or y)"


def _check_percent(value: str) -> str | None:
    return None if value.isdigit() and 1 <= int(value) <= 100 else "a whole percentage from 1 to 100"


def _check_emails(value: str) -> str | None:
    addresses = [a.strip() for a in value.split(",")]
    return None if all(re.match(r"^[^@\s,]+@[^@\s,]+$", a) for a in addresses) else \
        "email addresses separated by commas, such as admin@example.org"


def _check_host_port(value: str) -> str | None:
    host, _, port = value.rpartition(":")
    ok = bool(host) and _check_hostname(host) is None and port.isdigit() and 0 < int(port) < 65536
    return None if ok else "host:port, such as smtp.example.org:587"


def _check_relative_path(value: str) -> str | None:
    if value.startswith("/") or ".." in value.split("/"):
        return "a path inside this folder, such as conf/logo.png"
    return None


BOOLEAN = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def _check_bool(value: str) -> str | None:
    return None if value.lower() in BOOLEAN else "yes or no"


def _check_url(value: str) -> str | None:
    return None if re.match(r"^https?://[^\s/]+(/\S*)?$", value) else "a URL starting with http:// or https://"


def _check_names(value: str) -> str | None:
    names = [n.strip() for n in value.split(",")]
    return None if all(re.match(r"^[\w.@:/-]+$", n) for n in names) else "names separated by commas"


def _check_log_size(value: str) -> str | None:
    return None if re.match(r"^[1-9][0-9]*[kmg]$", value) else "a size such as 10m or 1g (k, m or g)"


def _check_memory(value: str) -> str | None:
    return None if re.match(r"^[0-9]+[kKmMgG]?$", value) else "a size such as 512M or 2G"


def _check_reserve(value: str) -> str | None:
    parts = [part.strip() for part in value.split(",")]
    if all(re.match(r"^(100|[1-9]?[0-9])(\.[0-9]+)?%$", part) or re.match(r"^[0-9]+[kKmMgGtT]?$", part)
           for part in parts):
        return None
    return "percentages of the disk and sizes separated by commas, such as 10%,5G"


def _check_cpus(value: str) -> str | None:
    try:
        return None if float(value) > 0 else "a positive number of cores such as 0.5"
    except ValueError:
        return "a positive number of cores such as 0.5"


def _check_nonneg(value: str) -> str | None:
    try:
        return None if float(value) >= 0 else "a number of seconds, 0 or more, such as 0.25"
    except ValueError:
        return "a number of seconds, 0 or more, such as 0.25"


def _check_auto_count(value: str) -> str | None:
    return None if value == "auto" or value.isdigit() else "auto, or a whole number 0 or more"


def _check_gpus(value: str) -> str | None:
    return None if value == "all" or re.match(r"^[0-9]+(,[0-9]+)*$", value) else "all, or device ids such as 0,1"


def _check_registry(value: str) -> str | None:
    ok = re.match(r"^[a-z0-9][a-z0-9.:-]*(/[a-z0-9][a-z0-9._-]*)*$", value)
    return None if ok else "a registry and path such as registry.example.org/team (no scheme, no trailing /)"


def _check_schedule(value: str) -> str | None:
    return schedule.problem(value)


# restic's `forget` rules that BACKUP_RETENTION may give, each followed by a count (or a duration for within).
RETENTION_FLAGS = ("--keep-last", "--keep-hourly", "--keep-daily", "--keep-weekly", "--keep-monthly",
                   "--keep-yearly", "--keep-within")


def _check_retention(value: str) -> str | None:
    allowed = (f"restic forget rules, each a flag and a count, from {', '.join(RETENTION_FLAGS)} (--keep-within takes "
               "a duration such as 30d), such as '--keep-daily 7 --keep-weekly 8 --keep-monthly 6'")
    words = value.split()
    pairs = list(zip(words[::2], words[1::2], strict=False))
    if not words or len(words) % 2 or any(flag not in RETENTION_FLAGS for flag, _ in pairs):
        return allowed
    for flag, count in pairs:
        if not (re.match(r"^(\d+[ymdh])+$", count) if flag == "--keep-within" else count.isdigit() and int(count)):
            return allowed
    return None


def _check_repository(value: str) -> str | None:
    allowed = ("a folder (relative to this checkout, or absolute), or a restic repository URL: "
               "sftp:user@host:/path, s3:host/bucket/path or rest:https://host/path")
    if re.match(r"^(sftp:[\w.-]+@[\w.-]+:\S+|s3:\S+|rest:https?://\S+)$", value):
        return None
    if ":" in value or any(ch.isspace() for ch in value) or ".." in value.split("/"):
        return allowed
    return None


# Host paths a shared folder must never expose: the host's root, its configuration, Docker itself.
FORBIDDEN_SHARES = ("/etc", "/root", "/boot", "/proc", "/sys", "/dev", "/var/run/docker.sock", "/run/docker.sock",
                    "/var/lib/docker", "/run", "/var/run")


def _check_shared(value: str) -> str | None:
    allowed = "a Docker volume name, or an absolute host path that is not /, a system folder or Docker's socket"
    if not value.startswith("/"):
        return None if _DOCKER_NAME.match(value) else allowed
    path = "/" + "/".join(part for part in value.split("/") if part and part != ".")
    if path == "/" or ".." in path.split("/") or any(
            path == forbidden or path.startswith(forbidden + "/") for forbidden in FORBIDDEN_SHARES):
        return allowed
    return None


def parse_profiles(value: str) -> dict[str, str]:
    """'Name=image;Other=image2' -> {name: image}; empty -> {}."""
    profiles = {}
    for item in (part.strip() for part in value.split(";")):
        if item:
            name, _, image = item.partition("=")
            profiles[name.strip()] = image.strip()
    return profiles


def _check_profiles(value: str) -> str | None:
    allowed = "'Name=image:tag' pairs separated by ';'"
    profiles = parse_profiles(value)
    if not profiles or any(not n or not _IMAGE.match(i) for n, i in profiles.items()):
        return allowed
    return None


def _check_path(value: str) -> str | None:
    ok = re.match(r"^/[A-Za-z0-9._/-]*$", value) and ".." not in value.split("/")
    return None if ok else "an absolute path inside the container (letters, digits, . _ - /)"


def _check_password(value: str) -> str | None:
    if value in KNOWN_PASSWORDS:
        return "a password of your own: this one was published in an earlier .env-template. Remove the line, " \
            "and `invoke setup` generates one"
    return None if len(value) >= 8 else "at least 8 characters"


def _check_hex_length(value: str) -> str | None:
    return None if value.isdigit() and 1 <= int(value) <= 64 else "a number of hex digits from 1 to 64"


def _check_ip(value: str) -> str | None:
    return None if is_ip(value) else "an IP address of this host, such as 127.0.0.1 or 0.0.0.0"


def _check_conf_file(value: str) -> str | None:
    if not value.startswith("conf/") or ".." in value.split("/"):
        return "a file under conf/, such as conf/logo.png"
    return None


def _check_file(value: str) -> str | None:
    if value.startswith("/") or ".." not in value.split("/"):
        return None
    return "an absolute path, or a path here without '..'"


def _check_command(value: str) -> str | None:
    try:
        return None if shlex.split(value) else "a command such as start-singleuser.py"
    except ValueError:
        return "a command with balanced quotes, such as start-singleuser.py --debug"


def names(value: str) -> list[str]:
    """A comma-separated list, sorted; empty means none."""
    return sorted({n.strip() for n in value.split(",") if n.strip()})


def _items(separator: str) -> Callable[[str], list[str]]:
    return lambda value: [item.strip() for item in value.split(separator) if item.strip()]


# The interface a server opens on; the original project's values keep working.
UI_PATHS = {"/lab": "/lab", "lab": "/lab", "/tree": "/tree", "tree": "/tree", "notebook": "/tree"}


def _no_check(value: str) -> None:
    return None


KINDS: dict[str, Kind] = {
    "text": Kind(_no_check),
    "port": Kind(_check_port, int),
    "hostname": Kind(_check_hostname),
    "project": Kind(_check_pattern(_NAME, "lowercase letters, digits, '-' and '_', starting with a letter or digit")),
    "docker_name": Kind(_check_pattern(_DOCKER_NAME, "letters, digits, '_', '.' and '-', starting with a letter "
                                                     "or digit")),
    "image": Kind(_check_pattern(_IMAGE, "an image reference such as quay.io/org/name:tag (lowercase, no spaces)")),
    "version": Kind(_check_pattern(_VERSION, "a version number such as 6.1.1")),
    "db_url": Kind(_check_db_url),
    "path": Kind(_check_path),
    "relative_path": Kind(_check_relative_path),
    "count": Kind(_check_count, int),
    "seconds": Kind(_check_seconds, int),
    "duration": Kind(_check_duration),
    "percent": Kind(_check_percent, int),
    "emails": Kind(_check_emails),
    "host_port": Kind(_check_host_port),
    "bool": Kind(_check_bool, lambda value: BOOLEAN[value.lower()]),
    "url": Kind(_check_url),
    "names": Kind(_check_names, names, []),
    "words": Kind(_no_check, str.split, []),
    "constraints": Kind(_no_check, _items(";"), []),
    "command": Kind(_check_command, shlex.split, []),
    "password": Kind(_check_password),
    "hex_length": Kind(_check_hex_length, int),
    "ip": Kind(_check_ip),
    "conf_file": Kind(_check_conf_file),
    "file": Kind(_check_file),
    "memory": Kind(_check_memory),
    "reserve": Kind(_check_reserve, _items(","), []),
    "log_size": Kind(_check_log_size),
    "cpus": Kind(_check_cpus, float, None),
    "nonneg": Kind(_check_nonneg, float),
    "auto_count": Kind(_check_auto_count, lambda value: value if value == "auto" else int(value)),
    "gpus": Kind(_check_gpus, lambda value: value if value == "all" else value.split(","), None),
    "shared": Kind(_check_shared),
    "schedule": Kind(_check_schedule, lambda value: "" if value == schedule.OFF else value),
    "retention": Kind(_check_retention, str.split, []),
    "repository": Kind(_check_repository),
    "registry": Kind(_check_registry),
    "profiles": Kind(_check_profiles, parse_profiles, {}),
    "ui": Kind(_no_check, UI_PATHS.__getitem__),
}
