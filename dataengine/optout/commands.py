"""``dataengine optout CORPUS LIST``: remove listed URLs and domains from a written corpus."""

from __future__ import annotations

import argparse

from dataengine.errors import CorpusError, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``optout`` sub-command."""
    p = subparsers.add_parser(
        "optout", help="remove the documents and images of an opt-out list from a corpus",
        description="Re-apply an opt-out list (one URL or domain per line, '#' comments) to a corpus: the "
                    "shards of every partition holding a listed document or image are rewritten without "
                    "the documents, with the images' slots marked failed, and each removal is recorded "
                    "in rejected/ with stage 'optout' and reason 'optout_list'.")
    p.add_argument("corpus", help="corpus path or URL (s3://bucket/corpus)")
    p.add_argument("list", help="opt-out list file (local path or URL)")
    p.add_argument("--local", action="store_true", help="rewrite every partition in this process instead of on Ray")
    p.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``dataengine optout``."""
    from dataengine.optout.lists import OptOutList
    from dataengine.optout.rewrite import apply_optout

    try:
        optout = OptOutList.load(args.list)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not len(optout):
        raise UsageError(f"opt-out list {args.list} has no entries")
    try:
        report = apply_optout(args.corpus, optout, args.list, executor="local" if args.local else "ray",
                              address=args.address, progress=not args.quiet)
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    print(report.line())
    return 0
