"""The frontier: every URL admitted to the crawl once, queued per origin until it is taken.

Admission is where dedup and scope happen: a canonical URL is admitted at most once over the
whole crawl (resumes included, since admissions are replayed from ``frontier.jsonl`` and
outcomes from the fetch logs). Queues are per origin so the driver can hand one origin's URLs
to the one worker that owns it; within an origin, URLs are taken in admission order, which
is breadth-first.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from dataengine.crawl.scope import Scope
from dataengine.crawl.urls import origin


@dataclass
class Task:
    """One URL to fetch: its depth from a seed and the redirect chain that led to it."""

    url: str
    depth: int = 0
    chain: tuple[str, ...] = ()


@dataclass
class Admission:
    """One admitted URL, as a line of ``frontier.jsonl``."""

    url: str
    depth: int
    via: str  # "seed", "sitemap", "link" or "redirect"
    chain: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The JSON line's object."""
        out = {"url": self.url, "depth": self.depth, "via": self.via}
        if self.chain:
            out["chain"] = list(self.chain)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> Admission:
        """Build from a JSON line's object."""
        return cls(obj["url"], int(obj["depth"]), obj.get("via", "link"), tuple(obj.get("chain") or ()))


class Frontier:
    """Admitted URLs, which of them are done, and per-origin queues of the rest."""

    def __init__(self, scope: Scope, max_pages: int | None):
        self.scope = scope
        self.max_pages = max_pages
        self.admitted: dict[str, Admission] = {}
        self.done: set[str] = set()
        self.queues: dict[str, deque[Admission]] = {}
        self.out_of_scope: Counter = Counter()  # refusal reason -> links not admitted
        self.taken = 0  # URLs handed to workers and not yet done

    def admit(self, url: str, depth: int, via: str, chain: tuple[str, ...] = (), check_scope: bool = True
              ) -> Admission | None:
        """Admit ``url`` unless seen before or out of scope; return the new admission."""
        if url in self.admitted:
            return None
        if check_scope:
            refusal = self.scope.refusal(url, depth)
            if refusal:
                self.out_of_scope[refusal] += 1
                return None
        return self.restore(Admission(url, depth, via, chain))

    def restore(self, item: Admission) -> Admission:
        """Take back an admission recorded earlier (queued unless already done)."""
        self.admitted[item.url] = item
        if item.url not in self.done:
            self.queues.setdefault(origin(item.url), deque()).append(item)
        return item

    def mark_done(self, url: str) -> None:
        """Record that ``url`` has an outcome (it is never queued again)."""
        self.done.add(url)

    @property
    def budget(self) -> int | None:
        """How many more URLs may be taken (``None``: no limit)."""
        if self.max_pages is None:
            return None
        return max(0, self.max_pages - len(self.done) - self.taken)

    def origins_ready(self) -> list[str]:
        """Origins with queued URLs."""
        return [o for o, q in self.queues.items() if q]

    def take(self, origin_url: str, n: int) -> list[Task]:
        """Up to ``n`` queued URLs of ``origin_url`` (fewer when the page budget is short)."""
        budget = self.budget
        n = n if budget is None else min(n, budget)
        queue = self.queues.get(origin_url, deque())
        tasks = []
        while queue and len(tasks) < n:
            item = queue.popleft()
            if item.url not in self.done:
                tasks.append(Task(item.url, item.depth, item.chain))
        self.taken += len(tasks)
        return tasks

    def returned(self, n: int) -> None:
        """``n`` taken URLs came back done."""
        self.taken -= n

    @property
    def pending(self) -> int:
        """Queued URLs not yet done."""
        return sum(len(q) for q in self.queues.values())
