"""Parse `userlist`: one user a line, `name` or `name admin`.

Blank lines and `#` comments are allowed anywhere. A malformed line is an
error that names its line number, never a crash inside the hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# JupyterHub normalises names to lowercase; we ask for them that way.
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")


class UserlistError(ValueError):
    pass


@dataclass(frozen=True)
class Userlist:
    allowed: frozenset[str] = field(default_factory=frozenset)
    admins: frozenset[str] = field(default_factory=frozenset)


def parse(text: str, source: str = "userlist") -> Userlist:
    allowed: set[str] = set()
    admins: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        name, *flags = words
        if not _USERNAME.match(name):
            raise UserlistError(
                f"{source}, line {number}: {name!r} is not a valid user name "
                "(lowercase letters, digits and . _ @ + -)."
            )
        if flags not in ([], ["admin"]):
            raise UserlistError(
                f"{source}, line {number}: expected 'name' or 'name admin', got {line.strip()!r}."
            )
        allowed.add(name)
        if flags:
            admins.add(name)
    return Userlist(frozenset(allowed), frozenset(admins))


def load(path: Path) -> Userlist:
    """The users of `path`; a missing file lets nobody in, like an empty one."""
    return parse(path.read_text(encoding="utf-8"), source=str(path)) if path.exists() else Userlist()
