"""The library's own error: tasks.py turns it into invoke's Exit, and nothing else does."""

from __future__ import annotations


class DeployError(Exception):
    """Something the admin must act on: the message says what failed and what to run next."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code
