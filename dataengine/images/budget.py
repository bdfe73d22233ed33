"""``PixelBudget``: how many decoded pixels one image fetcher holds at once, across its threads.

Decoding is what takes an image fetcher's memory: a 7900 x 7900 image is 62 million pixels,
190 MB as 8-bit RGB and a few times that while it is converted and resized, and a page may hold
any number of them. The download threads share one budget, so a page of huge images is decoded
a few at a time, while small images (and JPEGs, decoded at a reduced scale) hardly wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PixelBudget:
    """A counting semaphore of pixels: ``hold(n)`` waits until ``n`` more fit under ``limit``."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"pixel_budget must be at least 1, got {limit!r}")
        self.limit = limit
        self.held = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` for the block, once they fit; more than ``limit`` never fits (``ValueError``)."""
        if pixels > self.limit:
            raise ValueError(f"{pixels} pixels can never fit in a budget of {self.limit}")
        with self._changed:
            self._changed.wait_for(lambda: self.held + pixels <= self.limit)
            self.held += pixels
        try:
            yield
        finally:
            with self._changed:
                self.held -= pixels
                self._changed.notify_all()
