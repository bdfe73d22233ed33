"""``dataengine validate CORPUS``: check every shard against its manifest; exit 1 on any problem."""

from __future__ import annotations

import argparse
import sys

from dataengine.errors import CorpusError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` sub-command."""
    p = subparsers.add_parser(
        "validate", help="check every shard of a corpus against its manifest and image table",
        description="Check that every shard's tar, manifest and image table agree (members, order, offsets, "
                    "sizes, document schema, image hashes, ledger). Prints 'OK: N shards, M documents' or "
                    "one line per problem (SHARD: KEY: problem) and exits 1.")
    p.add_argument("corpus", help="corpus path or URL (s3://bucket/corpus)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``dataengine validate``."""
    from dataengine.catalog.validate import Summary, validate_corpus

    summary = Summary()
    try:
        problems = validate_corpus(args.corpus, summary)
    except CorpusError as exc:
        print(f"dataengine: error: {exc}", file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(problem)
        print(f"FAILED: {len(problems)} problem{'s' if len(problems) != 1 else ''} in {summary.shards} shards, "
              f"{summary.documents} documents", file=sys.stderr)
        return 1
    print(f"OK: {summary.shards} shards, {summary.documents} documents")
    return 0
