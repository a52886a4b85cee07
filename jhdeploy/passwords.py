"""`invoke user-password NAME`: the password a user logs in with, where the tool knows it."""

from __future__ import annotations

from pathlib import Path

from jhdeploy import changes, engine, resolve
from jhdeploy.errors import DeployError
from jhdeploy.layout import HUB_SERVICE
from jhdeploy.stack import Stack


def shared(c, stack: Stack, name: str) -> str:
    """dummy_authenticator: the admins' own password for admins, the shared one for everyone else."""
    secret = "admin_password" if name in stack.users.admins else "shared_password"
    return stack.secret_path(secret).read_text(encoding="utf-8").strip()


def in_hub(c, stack: Stack, *command: str) -> str:
    """`python3 -m jhdeploy_hub.cli COMMAND` with the hub's own code and secrets: in the running hub, or in a
    one-off hub container when it is stopped."""
    argv = ["python3", "-m", "jhdeploy_hub.cli", *command]
    if changes.dry(c):
        return f"[dry] would ask the hub image: {' '.join(argv)}"
    if engine.hub_running(c, stack.project):
        result = engine.compose_probe(c, stack, ["exec", "-T", HUB_SERVICE, *argv])
    else:
        engine.ensure_stack_resources(c, stack)
        result = engine.compose_run(c, stack, ["--no-deps", "-T", "--entrypoint", argv[0], HUB_SERVICE, *argv[1:]],
                                    hide="both", echo=False)
    lines = result.stdout.strip().splitlines()
    if not result.ok or not lines:
        raise DeployError(f"✗ The hub image could not derive the password: {result.stderr.strip()[-500:]}")
    return lines[-1]


def hashed(c, stack: Stack, name: str) -> str:
    """hash_authenticator: derived from the generated key by the hub image's own hashauthenticator."""
    return in_hub(c, stack, "hash-password", name, str(stack.settings["HASH_PASSWORD_LENGTH"]))


def native_admin(c, stack: Stack, name: str) -> str:
    """native_authenticator: an admin's first password (users sign up with their own)."""
    if name not in stack.users.admins:
        raise DeployError(f"{name!r} is not an admin in userlist: with native_authenticator users choose their "
                          "own password when they sign up.", code=2)
    return in_hub(c, stack, "admin-password", name)


SOURCES = {"shared": shared, "hash": hashed, "native_admin": native_admin}  # options.Authenticator.password


def show(c, root: Path, name: str) -> None:
    """`invoke user-password NAME`: the password alone on standard output."""
    print(of(c, resolve.for_change(c, root), name))


def of(c, stack: Stack, name: str) -> str:
    show = SOURCES.get(stack.authenticator.password)
    if show is None:
        raise DeployError(f"JUPYTERHUB_AUTHENTICATOR is {stack.authenticator.name}: its users choose their own "
                          "passwords, or log in elsewhere.", code=2)
    if stack.authenticator.uses_userlist and name not in stack.users.allowed:
        raise DeployError(f"{name!r} is not in userlist, so it cannot log in.", code=2)
    return show(c, stack, name)
