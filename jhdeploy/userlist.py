"""Parse `userlist`: one user a line, `name`, `name admin`, then the user's groups if any:
`alice bio101`, `tom admin bio101-staff`.

Blank lines and `#` comments are allowed anywhere. A malformed line is an
error that names its line number, never a crash inside the hub. Groups are
JupyterHub groups (conf/groups.toml says what each one gets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from jhdeploy.groups import GROUP_NAME, GROUP_NAME_ALLOWED

# JupyterHub normalises names to lowercase; we ask for them that way.
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")


class UserlistError(ValueError):
    pass


@dataclass(frozen=True)
class Userlist:
    allowed: frozenset[str] = field(default_factory=frozenset)
    admins: frozenset[str] = field(default_factory=frozenset)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user -> their groups, as listed

    def members(self) -> dict[str, list[str]]:
        """Each group named here, with its users."""
        found: dict[str, list[str]] = {}
        for user, groups in sorted(self.groups.items()):
            for group in groups:
                found.setdefault(group, []).append(user)
        return dict(sorted(found.items()))


def parse(text: str, source: str = "userlist") -> Userlist:
    allowed: set[str] = set()
    admins: set[str] = set()
    groups: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        name, *rest = words
        if not _USERNAME.match(name):
            raise UserlistError(
                f"{source}, line {number}: {name!r} is not a valid user name "
                "(lowercase letters, digits and . _ @ + -)."
            )
        if rest[:1] == ["admin"]:
            admins.add(name)
            rest = rest[1:]
        for group in rest:
            if group == "admin" or not GROUP_NAME.match(group):
                raise UserlistError(
                    f"{source}, line {number}: expected 'name [admin] [group ...]', and {group!r} is not a "
                    f"group name ({GROUP_NAME_ALLOWED}; 'admin' only right after the name)."
                )
        allowed.add(name)
        if rest:  # a user on several lines is in each line's groups
            groups[name] = tuple(dict.fromkeys([*groups.get(name, ()), *rest]))
    return Userlist(frozenset(allowed), frozenset(admins), groups)


def load(path: Path) -> Userlist:
    """The users of `path`; a missing file lets nobody in, like an empty one."""
    return parse(path.read_text(encoding="utf-8"), source=str(path)) if path.exists() else Userlist()
