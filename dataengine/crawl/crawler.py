"""``Crawler``: the driver of a crawl. Keeps the frontier; fetch workers (Ray actors) do the requests.

Origins are hashed onto a fixed pool of ``FetchWorker`` actors, so one worker makes every
request to a given origin. The driver hands an origin's queued URLs to its worker in small
batches, one batch per origin in flight, and admits the links and redirect targets that come
back. On start it replays the state folder (admissions, fetch logs, batches a kill left
unfinished), so a killed crawl resumes where it stopped and no URL is fetched twice.
"""

from __future__ import annotations

import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

from dataengine.crawl.archive import Outcome
from dataengine.crawl.frontier import Admission, Frontier
from dataengine.crawl.state import CrawlState
from dataengine.crawl.urls import origin
from dataengine.crawl.worker import LOCK_WAIT, FetchWorker, WorkerSettings, read_page


@dataclass
class CrawlSummary:
    """What the crawl has done so far (all runs together) and what this run added."""

    pages: int = 0
    redirects: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> URLs
    out_of_scope: Counter = field(default_factory=Counter)  # refusal -> links not admitted
    fetched_now: int = 0  # URLs this run took from the frontier
    pending: int = 0  # admitted URLs left (page budget reached, or none)
    seconds: float = 0.0

    def line(self) -> str:
        """One line for the log."""
        rejected = ", ".join(f"{r} {n}" for r, n in self.rejected.most_common())
        return (f"crawl: {self.pages} pages, {sum(self.rejected.values())} rejected"
                f"{f' ({rejected})' if rejected else ''}, {self.redirects} redirects; {self.fetched_now} URLs "
                f"this run in {self.seconds:.1f} s; {self.pending} left in the frontier")


class Crawler:
    """Crawl from ``seeds`` (and ``sitemap``) into the state folder of ``settings``."""

    def __init__(self, seeds: list[str], sitemap: str | None, settings: WorkerSettings, max_pages: int | None,
                 workers: int = 2, worker_cpus: float = 0.5, batch_size: int = 8):
        self.seeds = seeds
        self.sitemap = sitemap
        self.settings = settings
        self.max_pages = max_pages
        self.workers = workers
        self.worker_cpus = worker_cpus
        self.batch_size = batch_size
        self.token = settings.politeness.robots_token
        self.summary = CrawlSummary()

    def run(self) -> CrawlSummary:
        """Crawl until the frontier is empty or the page budget is spent; return the summary."""
        start = time.perf_counter()
        state = CrawlState(self.settings.state_dir)
        state.acquire()
        try:
            state.check_origin(self.seeds, self.sitemap)
            state.wait_for_workers(LOCK_WAIT)
            frontier = self._restore(state)
            need_sitemap = self.sitemap is not None and not any(a.via == "sitemap" for a in frontier.admitted.values())
            if need_sitemap or (frontier.pending and frontier.budget != 0):
                self._crawl(state, frontier, need_sitemap)
            self.summary.out_of_scope = frontier.out_of_scope
            self.summary.pending = frontier.pending
        finally:
            state.release()
        self.summary.seconds = time.perf_counter() - start
        return self.summary

    # --- state ----------------------------------------------------------------------------
    def _restore(self, state: CrawlState) -> Frontier:
        frontier = Frontier(self.settings.scope, self.max_pages)
        admissions = state.admissions()
        depths = {a.url: a.depth for a in admissions}

        def describe(url: str, body: bytes, headers: list[tuple[str, str]]) -> Outcome:
            links, signals = read_page(url, headers, body, self.token)
            return Outcome(url, "page", depths.get(url, 0), status=200, links=links, noimageai=signals.noimageai)

        outcomes = state.outcomes(describe)
        for outcome in outcomes:
            frontier.mark_done(outcome.url)
        for item in admissions:
            frontier.restore(item)
        new = [a for a in (frontier.admit(url, 0, "seed", check_scope=False) for url in self.seeds) if a]
        new += self._absorb(frontier, outcomes)  # links a kill kept from reaching frontier.jsonl
        state.record_admissions(new)
        return frontier

    def _absorb(self, frontier: Frontier, outcomes: list[Outcome]) -> list[Admission]:
        """Count outcomes and admit what they point to; return the new admissions."""
        new: list[Admission] = []
        for outcome in outcomes:
            frontier.mark_done(outcome.url)
            if outcome.kind == "page":
                self.summary.pages += 1
            elif outcome.kind == "redirect":
                self.summary.redirects += 1
                if outcome.target:  # in scope: the worker checked
                    new.append(frontier.admit(outcome.target, outcome.depth, "redirect", tuple(outcome.chain),
                                              check_scope=False))
            else:
                self.summary.rejected[outcome.reason] += 1
            new += [frontier.admit(link, outcome.depth + 1, "link") for link in outcome.links]
        return [a for a in new if a is not None]

    # --- fetching -------------------------------------------------------------------------
    def _crawl(self, state: CrawlState, frontier: Frontier, need_sitemap: bool) -> None:
        from tqdm import tqdm

        from dataengine.runner.ray_session import init_ray

        init_ray(None)  # joins RAY_ADDRESS when set, else starts a local Ray (before ray is imported)
        import ray

        actor = ray.remote(FetchWorker).options(num_cpus=self.worker_cpus, max_concurrency=64)
        pool = [actor.remote(self.settings, k) for k in range(self.workers)]

        def worker_of(origin_url: str):
            return pool[zlib.crc32(origin_url.encode()) % len(pool)]

        try:
            if need_sitemap:
                urls, error = ray.get(worker_of(origin(self.sitemap)).sitemap.remote(self.sitemap))
                if error:
                    raise ValueError(f"crawl: {error}")
                state.record_admissions([a for a in (frontier.admit(u, 0, "sitemap") for u in urls) if a])
            inflight: dict = {}
            busy: set[str] = set()
            progress = tqdm(desc="crawl", unit="url", total=frontier.budget, disable=None, file=sys.stderr)
            while True:
                for origin_url in frontier.origins_ready():
                    if origin_url in busy:
                        continue
                    tasks = frontier.take(origin_url, self.batch_size)
                    if tasks:
                        inflight[worker_of(origin_url).fetch.remote(origin_url, tasks)] = (origin_url, len(tasks))
                        busy.add(origin_url)
                if not inflight:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    origin_url, n = inflight.pop(ref)
                    busy.discard(origin_url)
                    outcomes = ray.get(ref)
                    frontier.returned(n)
                    self.summary.fetched_now += n
                    state.record_admissions(self._absorb(frontier, outcomes))
                    progress.update(n)
            progress.close()
            ray.get([w.close.remote() for w in pool])
        finally:
            for w in pool:
                ray.kill(w)
