"""`invoke groups`: the groups, their members and what each sets; with --user, what one user gets and which
group (or .env) each value comes from."""

from __future__ import annotations

from pathlib import Path

from jhdeploy import groups, resolve
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack


def defaults(stack: Stack) -> dict:
    """What a user in no group gets: the .env settings the group keys stand for."""
    return {"images": stack.settings["NOTEBOOK_IMAGES"],
            **{limit.setting: stack.settings.raw.get(limit.setting, "") for limit in groups.LIMITS}}


def source(stack: Stack) -> str:
    if stack.authenticator.groups_from_provider:
        return "the identity provider, at each login (the hub's admin page shows them)"
    return "userlist" if stack.users.groups else "nowhere yet: name them in userlist (`alice bio101`)"


def settings_of(spec: dict) -> str:
    parts = [f"images {', '.join(spec['images'])}"] if spec.get("images") else []
    parts += [f"{limit.key} {spec[limit.key]}" for limit in groups.LIMITS if limit.key in spec]
    parts += [f"folder {name} {mode}" for name, mode in spec.get("folders", {}).items()]
    return "; ".join(parts) or ".env's settings"


def run(c, root: Path, user: str) -> None:
    stack = resolve.from_env(root)
    members = stack.users.members()
    if user:
        return show_user(stack, user)
    print(f"Groups from {source(stack)}; settings from {groups.FILE}"
          + ("" if (root / groups.FILE).is_file() else " (none yet)") + ".")
    for name in sorted(set(stack.groups.groups) | set(members)):
        who = ", ".join(members.get(name, [])) or ("-" if not stack.authenticator.groups_from_provider else "?")
        print(f"  {name}: {who}\n      {settings_of(stack.groups.groups.get(name, {}))}")
    print("Users in no group get .env's: " + ", ".join(f"{key}={value or '(none)'}" for key, value in
                                                   defaults(stack).items() if key != "images"))


def show_user(stack: Stack, user: str) -> None:
    if stack.authenticator.groups_from_provider:
        raise DeployError(f"{user}'s groups come from the identity provider at each login: see them in the hub's "
                          "admin page. `invoke groups` lists what each group sets.", code=2)
    if user not in stack.users.allowed:
        raise DeployError(f"{user} is not in userlist.", code=2)
    member_of = list(stack.users.groups.get(user, ()))
    print(f"{user} is in {', '.join(member_of) or 'no group'} (userlist). What a new server of theirs gets:")
    for key, (value, origin) in stack.groups.effective(member_of, defaults(stack)).items():
        shown = ", ".join(value) if key == "images" else (f"{value[0]} ({value[1]})" if isinstance(value, tuple)
                                                          else value or "(no limit)")
        print(f"  {key:20} {shown or '(the default image)':40} from {origin}")
