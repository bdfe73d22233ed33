"""``dataengine demo``: the engine, or the whole loop, on the embedded sample web, on this machine.

By default: generate the sample web, serve it on loopback, run ``pipelines/demo.yaml`` over
it on a local Ray, and print a summary from the catalog (a minute or two). With ``--full``:
the whole loop of ``dataengine.publish.loop`` (filters, dedup, tokenizers, tokenization,
publish, training a tiny model, captions scored against the ground truth; ``make demo``).
Each demo starts from an empty output folder: the server's port changes between runs, and
with it every URL and document id.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from dataengine.errors import UsageError

DEFAULT_PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "demo.yaml"


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


def _demo(args: argparse.Namespace) -> int:
    if not args.pipeline.is_file():
        raise UsageError(f"{args.pipeline}: pipeline file not found (pass --pipeline)")
    if args.full:
        from dataengine.publish.loop import LoopConfig, format_loop, run_full_loop

        config = LoopConfig(pages=args.pages, seed=args.seed, vq_steps=args.vq_steps, train_steps=args.train_steps)
        result = run_full_loop(Path(args.out), config, address=args.address)
        print(summarize(result.corpus))
        print(format_loop(result))
        return 0
    corpus = run_demo(Path(args.out), args.pages, args.seed, args.pipeline, args.address)
    print(summarize(corpus))
    print(f"\nshards, manifests and rejected rows are in {corpus}")
    print(f'try: dataengine sql {corpus} "select reason, count(*) from rejected group by 1"')
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the CLI."""
    p = sub.add_parser("demo", help="run the whole loop on the embedded sample web",
                       description="Generate the sample web, serve it on loopback, run the demo pipeline "
                                   "on a local Ray and print a summary from the catalog.")
    p.add_argument("--out", default="demo-out", help="output folder (site/ and corpus/ inside; default demo-out)")
    p.add_argument("--pages", type=int, default=60, help="pages of the sample web (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample web (default 0)")
    p.add_argument("--pipeline", type=Path, default=DEFAULT_PIPELINE, help="pipeline YAML (default pipelines/demo.yaml)")
    p.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    p.add_argument("--full", action="store_true",
                   help="the whole loop: also filter, dedup, tokenize, publish, train a tiny model and score it")
    p.add_argument("--vq-steps", type=int, default=400, help="with --full: VQ training steps (default 400)")
    p.add_argument("--train-steps", type=int, default=300, help="with --full: unified model steps (default 300)")
    p.set_defaults(func=_demo)
