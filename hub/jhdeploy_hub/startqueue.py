"""A start queue: at most `size` servers start at once, the rest wait their turn, first come first served.

A class that opens its laptops at the same minute asks for a hundred servers at once. Started
together, they share the host's cores and every one of them is slow; started a few at a time,
most users get theirs long before the last one would have (docs/performance.md). Runs inside the
hub, on its event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable


class StartQueue:
    def __init__(self, size: int):
        self.size = size
        self.starting: set[Hashable] = set()
        self.waiting: OrderedDict[Hashable, asyncio.Future] = OrderedDict()
        self._changed = asyncio.Event()

    async def join(self, key: Hashable) -> None:
        """Return when `key` may start: at once while fewer than `size` start and nobody waits."""
        if key in self.starting:
            return
        if len(self.starting) < self.size and not self.waiting:
            self.starting.add(key)
            return
        turn = asyncio.get_running_loop().create_future()
        self.waiting[key] = turn
        self._notify()
        try:
            await turn
        except asyncio.CancelledError:
            if self.waiting.pop(key, None) is None:  # the turn came as it was cancelled: pass it on
                self.release(key)
            self._notify()
            raise

    def release(self, key: Hashable) -> None:
        """`key` has started, failed or stopped: the first who waits takes its place. Safe to call twice."""
        if key not in self.starting:
            return
        self.starting.discard(key)
        while self.waiting and len(self.starting) < self.size:
            following, turn = self.waiting.popitem(last=False)
            if turn.done():  # cancelled: whoever waited on it is leaving
                continue
            self.starting.add(following)
            turn.set_result(None)
        self._notify()

    def place(self, key: Hashable) -> int | None:
        """1 for the next to start; None when `key` is not waiting."""
        for number, waiting in enumerate(self.waiting, 1):
            if waiting == key:
                return number
        return None

    def next_change(self) -> asyncio.Event:
        """Set at the next change of the queue. Take it before a pause (a yield), so no change is missed."""
        return self._changed

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
