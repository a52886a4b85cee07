"""The one funnel for everything that changes something: Docker and Compose commands,
files of the checkout (state/, secrets/, conf/, .build/) and backup archives.

`invoke --dry TASK` then changes nothing: a command is printed instead of run, and
any other change is reported as one "[dry] would ..." line. Read-only questions
(engine.probe) still run, so that a dry run shows what a real one would do here.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def dry(c) -> bool:
    return bool(c.config.run.dry)


def command(c, argv: list[str], **kwargs):
    """Run a command that changes something; --dry prints it. `echo=True` shows it (it never holds a secret)."""
    kwargs.setdefault("echo", True)
    return c.run(shlex.join(argv), **kwargs)


def apply(c, what: str, action: Callable[..., T], *args, **kwargs) -> T | None:
    """Make a change that is not a command (`what` says which, as in "write state/stack.json")."""
    if dry(c):
        print(f"[dry] would {what}", flush=True)
        return None
    return action(*args, **kwargs)
