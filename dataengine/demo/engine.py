"""The engine alone on the sample web: generate it, serve it on loopback, run a pipeline over it.

Each demo starts from an empty output folder: the server's port changes between runs, and
with it every URL and document id.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def summarize(corpus: str) -> str:
    """Documents, images and rejections by reason, from the catalog of ``corpus``."""
    from dataengine.catalog.catalog import Catalog

    with Catalog(corpus) as cat:
        docs = cat.arrow("select count(*) n, sum(n_images_ok) imgs, sum(text_chars) chars, "
                         "count(distinct shard) shards from docs").to_pylist()[0]
        rejected = cat.arrow("select stage, level, reason, count(*) n from rejected "
                             "group by all order by n desc, reason").to_pylist()
    lines = [f"documents: {docs['n']}  images kept: {docs['imgs'] or 0}  text characters: {docs['chars'] or 0}  "
             f"shards: {docs['shards']}", "rejected by reason:"]
    lines += [f"  {r['n']:5d}  {r['stage']:<16} {r['level']:<9} {r['reason']}" for r in rejected] or ["  none"]
    return "\n".join(lines)


def run_demo(out: Path, pages: int, seed: int, pipeline: Path, address: str | None) -> str:
    """Generate, serve, run and summarise; return the corpus path."""
    from dataengine.runner.config import load_pipeline
    from dataengine.runner.pipeline import run_pipeline
    from dataengine.sampleweb.generate import SampleWebConfig, generate_site
    from dataengine.sampleweb.server import SampleWebServer

    site, corpus = out / "site", out / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    print(f"generating the sample web ({pages} pages, seed {seed}) in {site}", file=sys.stderr)
    generate_site(site, SampleWebConfig(pages=pages, seed=seed))
    with SampleWebServer(site) as server:
        print(f"serving it at {server.url}", file=sys.stderr)
        config = load_pipeline(pipeline, [f"source.url={server.url}sitemap.xml"])
        run_pipeline(config, str(corpus), address=address)
    return str(corpus)
