"""The one resolution of the settings: `.env`, `userlist`, the task flags and the environment
become a checked `Stack`; and what `invoke start` saved becomes the stack that runs.

Tasks that change the stack resolve `.env` (`for_change`) and refuse an invalid one.
Tasks that only look or take down (`stop`, `status`, `logs`) act on what runs
(`for_looking`): an invalid `.env`, or one that names another project, is then
said in one line and not used.
"""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jhdeploy import engine, envfile, groups, setup, state, userlist, validation
from jhdeploy import settings as settings_module
from jhdeploy.errors import DeployError
from jhdeploy.settings import SettingsError
from jhdeploy.stack import Stack

INVALID = (SettingsError, userlist.UserlistError)


def from_text(root: Path, env_text: str, userlist_text: str, flags: Mapping[str, str] | None = None,
              environ: Mapping[str, str] | None = None, mode: str = "compose",
              sources: tuple[str, str] = (".env", "userlist"), provided: frozenset[str] = frozenset()) -> Stack:
    """Resolve the text of a `.env` and a `userlist` (with task flags and the environment) into a checked
    stack in `root`; `provided` names files that a restore brings into secrets/. Raises SettingsError or
    userlist.UserlistError, naming every problem."""
    try:
        entries = envfile.parse(env_text, source=sources[0])
    except envfile.EnvFileError as error:
        raise SettingsError([str(error)]) from None
    s = settings_module.resolve(entries, os.environ if environ is None else environ, flags)
    try:
        group_settings = groups.load(root, s["DOCKER_NOTEBOOK_DIR"], (s["SHARED_MOUNT"],) if s["SHARED_VOLUME"] else ())
    except groups.GroupsError as error:
        raise SettingsError(error.problems) from None
    stack = Stack(root, s, userlist.parse(userlist_text, source=sources[1]), mode, group_settings)
    found = validation.problems(stack, provided)
    if found:
        raise SettingsError(found)
    return stack


def read_text(path: Path) -> str:
    """A file's text; a missing file reads as empty (every key its default, nobody in userlist)."""
    return path.read_text(encoding="utf-8") if path.exists() else ""


def from_env(root: Path, flags: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None,
             mode: str = "compose") -> Stack:
    """The stack that `.env` and `userlist` in `root` describe now."""
    return from_text(root, read_text(root / ".env"), read_text(root / "userlist"), flags, environ, mode,
                     (".env", str(root / "userlist")))


def from_saved(root: Path, saved: Mapping[str, Any]) -> Stack:
    """The stack `invoke start` recorded (state.py), whatever `.env` says now."""
    try:
        return Stack(root, settings_module.from_mapping(saved["settings"], saved["flags"]), mode=saved["mode"])
    except (SettingsError, KeyError, TypeError, AttributeError) as error:
        raise DeployError(f"{root / state.FOLDER / 'stack.json'} no longer describes a stack ({error}). Check "
                          "`docker ps`, stop leftover containers by hand, then remove that file.") from None


def running(root: Path) -> Stack | None:
    """The stack that `invoke start` (or swarm-deploy) recorded, or None when nothing runs."""
    saved = state.load(root)
    return from_saved(root, saved) if saved else None


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def create_templates(c, root: Path) -> None:
    """.env and userlist from their templates when missing (not on a dry run), said on standard error."""
    for name in setup.copy_templates(c, root):
        warn(f"Created {name} from its template.")


def for_change(c, root: Path, flags: Mapping[str, str] | None = None, mode: str = "compose",
               needs_engine: bool = True) -> Stack:
    """For a task that changes something: create missing files (not on a dry run), resolve `.env` and
    `userlist` (refusing an invalid one), say its warnings once, create missing secrets; then, unless
    the task needs no Docker Engine, check that Docker and Compose v2 answer."""
    create_templates(c, root)
    stack = from_env(root, flags, mode=mode)
    for warning in stack.settings.warnings() + stack.warnings():
        warn(warning)
    for name in setup.ensure_runtime_files(c, stack):
        warn(f"Created {name}.")
        notice = setup.NOTICES.get(name)
        if notice:
            warn(f"{'!' * 72}\n{textwrap.fill('IMPORTANT: ' + notice, 72)}\n{'!' * 72}")
    if needs_engine:
        engine.ready(c)
    return stack


@contextlib.contextmanager
def changing(c, root: Path, task: str, flags: Mapping[str, str] | None = None, mode: str = "compose"):
    """`for_change` while holding state/lock, so that two tasks never change the stack at once."""
    with state.locked(c, root, task):
        yield for_change(c, root, flags, mode)


def with_flags(stack: Stack, flags: Mapping[str, str]) -> Stack:
    """The same `.env` with more task flags (`migrate-db`'s target), resolved again without a word."""
    return from_env(stack.root, {**stack.settings.overrides, **flags}, mode=stack.mode)


@dataclass(frozen=True)
class Looked:
    stack: Stack  # what runs, or else what .env describes
    saved: dict | None  # what `invoke start` recorded, if anything runs
    note: str  # one line when .env was not used or says otherwise, else ""
    env_stack: Stack | None  # what .env describes now, if it is valid


def for_looking(c, root: Path, doing: str, mode: str = "compose") -> Looked:
    """For a task that only looks or takes down: what runs, from state/, whatever `.env` says; says in one
    line when `.env` was not used (the same line for every task) or names another project ("...; `doing`
    the running 'PROJECT'"), then checks that Docker and Compose v2 answer.

    With nothing recorded there is nothing else to go by, so an invalid `.env` is refused as usual."""
    saved = state.load(root)
    if not saved:
        return Looked(for_change(c, root, mode=mode), None, "", None)
    stack, env_stack, note = from_saved(root, saved), None, ""
    try:
        env_stack = from_env(root)
    except INVALID as error:
        first = (error.problems if isinstance(error, SettingsError) else [str(error)])[0]
        note = (f"note: .env is invalid and was not used ({first}); this acts on {stack.project!r} as "
                "`invoke start` recorded it.")
    if env_stack and env_stack.project != stack.project:
        note = f"note: .env now names the project {env_stack.project!r}; {doing} the running {stack.project!r}."
    if note:
        warn(note)
    engine.ready(c)
    return Looked(stack, saved, note, env_stack)
