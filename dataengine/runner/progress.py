"""``Progress``: units of work done out of a total on stderr, with the rate of what they carried.

``run partitions: 3/8 [00:04<00:06, 12.0 docs/s, 31.5 images/s]``: a run counts partitions and
the documents and images they wrote; dedup and publish count shards and documents. Rates are
taken over the wall time since the bar started, so they read as throughput, not as the
speed of the last unit.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from types import TracebackType

from tqdm import tqdm


class Progress:
    """A tqdm bar of ``total`` units with the per-second rate of each count given to ``update``."""

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True):
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled,
                        dynamic_ncols=True)
        self.counts: Counter[str] = Counter()
        self.start = time.monotonic()

    def update(self, n: int = 1, **counts: int) -> None:
        """``n`` more units done, carrying ``counts`` (``docs=12, images=30``)."""
        self.counts.update(counts)
        if self.counts:
            elapsed = max(time.monotonic() - self.start, 1e-6)
            self.bar.set_postfix_str(", ".join(f"{v / elapsed:.1f} {k}/s" for k, v in self.counts.items()),
                                     refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        """End the bar (its last line stays on the terminal)."""
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
