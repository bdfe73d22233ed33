"""``dataengine dedup CORPUS``: the dedup phase from the command line."""

from __future__ import annotations

import argparse
import sys

from dataengine.errors import ConfigError, CorpusError, UsageError


def _dedup(args: argparse.Namespace) -> int:
    from dataengine.dedup.config import load_config
    from dataengine.dedup.phase import run_dedup

    try:
        config = load_config(args.config, args.set)
        result = run_dedup(args.corpus, config, out=args.out, executor="local" if args.local else "ray",
                           address=args.address)
    except (ConfigError, CorpusError) as exc:
        raise UsageError(str(exc)) from None
    print(f"dedup {result.run_id}: {result.documents_in} documents in, {result.documents_out} kept, "
          f"{result.partitions_rewritten} partitions rewritten, {result.seconds.get('total', 0):.1f} s")
    for (level, reason), n in sorted(result.removed.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:6d}  {level:<9} {reason}")
    if not result.removed:
        print("  no duplicates found")
    print(f"output: {result.output}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``dedup`` to the CLI."""
    p = sub.add_parser(
        "dedup", help="remove duplicate documents, images and boilerplate paragraphs across a corpus",
        description="The global dedup phase: duplicate URLs (newest capture stays), near-duplicate documents "
                    "(MinHash-LSH), repeated and duplicate images (sha256), near-duplicate images (pHash), and "
                    "paragraphs repeated across a host. Partitions that lose anything are rewritten (same shard "
                    "names), every removal a row in rejected/ with stage 'dedup'.")
    p.add_argument("corpus", help="corpus folder or URL (s3://...)")
    p.add_argument("--out", default=None,
                   help="write the deduplicated corpus here (new or empty folder) instead of rewriting in place")
    p.add_argument("--config", default=None, help="YAML of dedup settings (see dataengine.dedup.config)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set jaccard_threshold=0.85 (repeatable)")
    p.add_argument("--local", action="store_true", help="run every task in this process instead of on Ray")
    p.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    p.set_defaults(func=_dedup)
