"""The one funnel for everything that changes something: Docker and Compose commands,
files of the checkout (state/, secrets/, conf/, .build/) and backup archives.

`invoke --dry TASK` then changes nothing: a command is printed instead of run, and
any other change is reported as one "[dry] would ..." line. Read-only questions
(engine.probe) still run, so that a dry run shows what a real one would do here.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import TypeVar

from jhdeploy.errors import DeployError

T = TypeVar("T")


def dry(c) -> bool:
    return bool(c.config.run.dry)


def command(c, argv: list[str], **kwargs):
    """Run a command that changes something; --dry prints it. `echo=True` shows it (it never holds a secret)."""
    kwargs.setdefault("echo", True)
    return c.run(shlex.join(argv), **kwargs)


def confirm(c, question: str, yes: bool) -> None:
    """Ask before a step that replaces or deletes data; --yes answers for scripts, and --dry asks nothing."""
    if yes or dry(c):
        return
    if not sys.stdin.isatty():
        raise DeployError(f"{question}\nNothing was changed: run again with --yes to confirm.")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise DeployError("Nothing was changed.")


def apply(c, what: str, action: Callable[..., T], *args, **kwargs) -> T | None:
    """Make a change that is not a command (`what` says which, as in "write state/stack.json")."""
    if dry(c):
        print(f"[dry] would {what}", flush=True)
        return None
    return action(*args, **kwargs)
