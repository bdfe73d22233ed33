"""The engine alone on the sample web: generate it, serve it on loopback, run a pipeline over it.

The demo owns what it writes in its output folder and nothing else: ``OUT/demo.json`` lists the
folders it wrote, a folder holding anything else is refused (``claim_out``), and a rerun
resumes the corpus (shard names do not depend on the server's port).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dataengine.errors import UsageError

MARKER = "demo.json"


def claim_out(out: Path, writes: list[str], fresh: list[str] = ()) -> None:
    """Make ``out`` the demo's: refuse it when it holds what no demo wrote; remove ``fresh`` folders a demo wrote.

    ``writes`` are the entries this demo will write in ``out``; they are added to the marker
    before anything is written, so an interrupted demo is still recognised as one.
    """
    marker = out / MARKER
    earlier: list[str] = json.loads(marker.read_text())["written"] if marker.is_file() else []
    if out.is_dir():
        strangers = sorted(p.name for p in out.iterdir() if p.name != MARKER and p.name not in earlier)
        if strangers:
            raise UsageError(f"{out} holds {', '.join(strangers[:5])}, which dataengine demo did not write; "
                             "give the demo another --out")
    for name in fresh:
        if name in earlier:
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"written": sorted(set(earlier) | set(writes))}, indent=1))


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
    try:
        web = SampleWebConfig(pages=pages, seed=seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    claim_out(out, ["site", "corpus", "report.html"])
    print(f"generating the sample web ({pages} pages, seed {seed}) in {site}", file=sys.stderr)
    generate_site(site, web)
    with SampleWebServer(site) as server:
        print(f"serving it at {server.url}", file=sys.stderr)
        config = load_pipeline(pipeline, [f"source.url={server.url}sitemap.xml"])
        run_pipeline(config, str(corpus), address=address)
    return str(corpus)
