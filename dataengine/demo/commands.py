"""``dataengine demo``: the engine, or the whole loop, on the embedded sample web, on this machine.

By default: generate the sample web, serve it on loopback, run ``pipelines/demo.yaml`` over
it on a local Ray, write ``OUT/report.html`` and print a summary from the catalog (a minute or
two; ``demo.engine``).
With ``--full``: the whole loop of ``demo.loop`` (filters, dedup, a small scene world,
tokenizers, tokenization, publish, the scene-world recipe on a tiny model, captions and
text-to-image on held-out compositions scored against the ground truth; ``make demo``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataengine.demo.engine import run_demo, summarize
from dataengine.errors import UsageError

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
DEFAULT_PIPELINE, FULL_PIPELINE = PIPELINES / "demo.yaml", PIPELINES / "sampleweb_filtered.yaml"


def _demo(args: argparse.Namespace) -> int:
    from dataengine.report import write_report

    pipeline = args.pipeline or (FULL_PIPELINE if args.full else DEFAULT_PIPELINE)
    if not pipeline.is_file():
        raise UsageError(f"{pipeline}: pipeline file not found (pass --pipeline)")
    out = Path(args.out)
    if args.full:
        from dataengine.demo.loop import LoopConfig, format_loop, run_full_loop, where_and_next

        config = LoopConfig(pages=args.pages, seed=args.seed, pipeline=str(pipeline), vq_steps=args.vq_steps,
                            train_steps=args.train_steps)
        result = run_full_loop(out, config, address=args.address)
        figures = [("What the model drew", "Held-out prompts (compositions it never trained on), each under "
                    "the image the trained model drew for it.", path.read_bytes()) for path in result.samples]
        report = write_report(result.corpus, out / "report.html", figures=figures)
        print(summarize(result.corpus))
        print(format_loop(result))
        print(where_and_next(result, report))
        return 0
    corpus = run_demo(out, args.pages, args.seed, pipeline, args.address)
    report = write_report(corpus, out / "report.html")
    print(summarize(corpus))
    print(f"""
done. The corpus (shards, manifests, rejected rows) is in {corpus}
  report: {report} (open it in a browser)
next:
  dataengine sql {corpus} "select stage, reason, count(*) from rejected group by all order by 3 desc"
  dataengine validate {corpus}
  dataengine demo --full --out {out}-full    # the whole loop to a trained model, about 8 minutes on 2 cores""")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the CLI."""
    p = sub.add_parser("demo", help="run the engine, or the whole loop, on the embedded sample web",
                       description="Generate the sample web, serve it on loopback, run a pipeline over it on a "
                                   "local Ray, write OUT/report.html and print a summary (about a minute). With "
                                   "--full, the whole loop: filters, dedup, tokenizers, tokenization, publish, "
                                   "a tiny unified model trained on the sample web's scene world and scored on "
                                   "compositions it never saw (about 8 minutes on 2 cores; `make demo`). A rerun "
                                   "into the same OUT resumes the corpus (--full starts its steps afresh); the demo "
                                   "removes only what it wrote (OUT/demo.json lists it) and refuses an OUT that "
                                   "holds anything else.")
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--pages", type=int, default=60, help="pages of the sample web (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample web (default 0)")
    p.add_argument("--pipeline", type=Path, default=None,
                   help="pipeline YAML of the crawl (default pipelines/demo.yaml; with --full "
                        "pipelines/sampleweb_filtered.yaml, which also filters)")
    p.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    p.add_argument("--full", action="store_true",
                   help="the whole loop: also filter, dedup, tokenize, publish, train a tiny model and score it")
    p.add_argument("--vq-steps", type=int, default=None,
                   help="with --full: VQ training steps (default: the VQ config's, 1200; fewer blur the scenes)")
    p.add_argument("--train-steps", type=int, default=500,
                   help="with --full: unified model steps, the scene-world recipe's stages shortened to them "
                        "(default 500)")
    p.set_defaults(func=_demo)
