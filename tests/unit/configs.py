"""Helpers for unit tests: a resolved stack, and the hub's configuration built from it."""

from __future__ import annotations

from pathlib import Path

from jhdeploy_hub import config
from traitlets.config import Config

from jhdeploy import settings
from jhdeploy.stack import Stack
from jhdeploy.userlist import parse

USERS = "alice admin\nbob\n"


def stack(root: Path = Path("/nonexistent"), users: str = USERS, mode: str = "compose", **values) -> Stack:
    return Stack(root, settings.from_mapping(values), parse(users), mode)


def hub_settings(**values) -> dict:
    """What the tasks write to state/hub/settings.json for these .env values."""
    return stack(**values).hub_settings()


def applied(users: str = USERS, mode: str = "compose", **values) -> Config:
    """The hub's configuration for these .env values, as the hub builds it, secrets read as fakes."""
    c = Config()
    config.apply_config(stack(users=users, mode=mode, **values).hub_settings(), c,
                        read_secret=lambda path: f"from {path}\n")
    return c
