"""``dataengine report CORPUS --html OUT.html``: the funnel report of a corpus."""

from __future__ import annotations

import argparse

from dataengine.errors import CorpusError, UsageError


def _report(args: argparse.Namespace) -> int:
    from dataengine.report import write_report

    if args.kept < 0 or args.per_reason < 0:
        raise UsageError("--kept and --per-reason must be >= 0")
    try:
        path = write_report(args.corpus, args.html, args.kept, args.per_reason, args.fetch_rejected)
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    print(f"report written to {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` to the CLI."""
    p = sub.add_parser("report", help="write an HTML report: the funnel, removals by reason, scores, pictures",
                       description="Counts per stage and reason, a funnel plot, histograms of the scores, and "
                                   "pictures of kept images and of what each rule removed, in one HTML file.")
    p.add_argument("corpus", help="corpus folder or URL (s3://...)")
    p.add_argument("--html", required=True, help="where to write the report")
    p.add_argument("--kept", type=int, default=24, help="kept images to show (default 24)")
    p.add_argument("--per-reason", type=int, default=8, help="removed images to show per reason (default 8)")
    p.add_argument("--fetch-rejected", action="store_true",
                   help="fetch removed images again from their URLs when no thumbnail was kept (makes HTTP requests)")
    p.set_defaults(func=_report)
