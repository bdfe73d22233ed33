"""``dataengine demo``: the engine, or the whole loop, on the embedded sample web, on this machine.

By default: generate the sample web, serve it on loopback, run ``pipelines/demo.yaml`` over
it on a local Ray, and print a summary from the catalog (a minute or two; ``demo.engine``).
With ``--full``: the whole loop of ``demo.loop`` (filters, dedup, a small scene world,
tokenizers, tokenization, publish, the scene-world recipe on a tiny model, captions and
text-to-image on held-out compositions scored against the ground truth; ``make demo``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataengine.demo.engine import run_demo, summarize
from dataengine.errors import UsageError

DEFAULT_PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "demo.yaml"


def _demo(args: argparse.Namespace) -> int:
    if not args.pipeline.is_file():
        raise UsageError(f"{args.pipeline}: pipeline file not found (pass --pipeline)")
    if args.full:
        from dataengine.demo.loop import LoopConfig, format_loop, run_full_loop

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
    p.add_argument("--pipeline", type=Path, default=DEFAULT_PIPELINE,
                   help="pipeline YAML (default pipelines/demo.yaml)")
    p.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    p.add_argument("--full", action="store_true",
                   help="the whole loop: also filter, dedup, tokenize, publish, train a tiny model and score it")
    p.add_argument("--vq-steps", type=int, default=None,
                   help="with --full: VQ training steps (default: the VQ config's, 1200; fewer blur the scenes)")
    p.add_argument("--train-steps", type=int, default=500,
                   help="with --full: unified model steps, the scene-world recipe's stages shortened to them "
                        "(default 500)")
    p.set_defaults(func=_demo)
