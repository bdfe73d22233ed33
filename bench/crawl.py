"""Crawl: our polite crawler against a plain ``requests`` loop, on the loopback sample web.

Several copies of the sample web are served on loopback, each on its own port (so each is
its own host, as a crawl of many sites is), from a separate process so the server does not
compete with the measured code for the GIL. Then, in the same run:

- crawler: ``CrawlSource.partitions()`` from the home pages, politeness on (robots.txt fetched,
  cached and obeyed, one connection per host, the crawl delay the site asks; the sample web asks
  none, so ``delay: 0``), link extraction, WARC batches and fetch logs written; Ray started
  before the clock (the fetch actors' start is inside it);
- baseline: the same page URLs the crawler stored, fetched one after the other with one
  ``requests.Session``: no robots.txt, no politeness, no parsing, no writing.

Pages per second per core: pages / wall seconds / cores in use, the crawler counted at
1 (driver) + its fetch workers, the baseline at 1. Best of ``--rounds`` for each. Ratios are
printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

from dataengine.runner.ray_session import init_ray
from dataengine.sampleweb import SampleWebConfig, SampleWebServer, generate_site


def _serve(roots: list[str], conn) -> None:
    servers = [SampleWebServer(root).start() for root in roots]
    conn.send([s.url for s in servers])
    conn.recv()  # until the bench says stop
    for s in servers:
        s.stop()


def crawl_once(urls: list[str], state: Path, workers: int) -> tuple[float, list[str]]:
    """Crawl from ``urls`` into a fresh ``state``; return (seconds, URLs of the stored pages)."""
    from dataengine.crawl.source import CrawlSource

    shutil.rmtree(state, ignore_errors=True)
    source = CrawlSource(str(state), seeds=urls, allow_private=["127.0.0.0/8"], politeness={"delay": 0},
                         workers=workers, worker_cpus=0.01, batch_size=16)
    start = time.perf_counter()
    source.partitions()
    seconds = time.perf_counter() - start
    pages = []
    for log in sorted((state / "warc").glob("*.log.jsonl")):
        pages += [o["url"] for o in map(json.loads, log.read_text().splitlines()) if o["kind"] == "page"]
    return seconds, pages


def baseline_once(pages: list[str]) -> float:
    """Fetch ``pages`` one by one with one session; return the seconds."""
    session = requests.Session()
    start = time.perf_counter()
    for url in pages:
        resp = session.get(url, timeout=10)
        resp.content  # noqa: B018 - read the body, as the crawler does
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4, help="sample webs (hosts) served (default 4)")
    parser.add_argument("--pages", type=int, default=120, help="pages per sample web (default 120)")
    parser.add_argument("--workers", type=int, default=2, help="crawler fetch workers (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs each (default 3)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    roots = [tmp / f"site{i}" for i in range(args.sites)]
    for i, root in enumerate(roots):
        generate_site(root, SampleWebConfig(pages=args.pages, seed=i))
    parent, child = mp.Pipe()
    server = mp.get_context("fork").Process(target=_serve, args=([str(r) for r in roots], child), daemon=True)
    server.start()
    urls = parent.recv()
    init_ray(num_cpus=max(2, args.workers))
    import ray

    try:
        crawl_best, pages = min(crawl_once(urls, tmp / "state", args.workers) for _ in range(args.rounds))
        base_best = min(baseline_once(pages) for _ in range(args.rounds))
    finally:
        ray.shutdown()
        parent.send("stop")
        server.join(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(pages)
    crawl_cores = min(os.cpu_count() or 1, 1 + args.workers)
    crawl_rate, base_rate = n / crawl_best, n / base_best
    print(f"sample web: {args.sites} hosts x {args.pages} pages on loopback; {n} pages stored by the crawl; "
          f"{os.cpu_count()} CPUs; best of {args.rounds}")
    print(f"crawler  (politeness on, {args.workers} workers): {crawl_best:6.2f} s  {crawl_rate:7.1f} pages/s  "
          f"{crawl_rate / crawl_cores:7.1f} pages/s/core ({crawl_cores} cores)")
    print(f"baseline (sequential requests, no politeness): {base_best:6.2f} s  {base_rate:7.1f} pages/s  "
          f"{base_rate:7.1f} pages/s/core (1 core)")
    print(f"ratio crawler/baseline: {crawl_rate / base_rate:.2f}x pages/s, "
          f"{crawl_rate / crawl_cores / base_rate:.2f}x pages/s/core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
