"""The sources' command: ``dataengine obelics export CORPUS OUT.parquet`` and ``dataengine obelics import
IN.parquet... -o CORPUS``."""

from __future__ import annotations

import argparse
import sys

import fsspec

from dataengine.errors import ConfigError, CorpusError, UsageError
from dataengine.runner.config import parse_pipeline
from dataengine.shards import iter_corpus, list_shards
from dataengine.sources.obelics_export import export_obelics


def _export(args: argparse.Namespace) -> int:
    try:
        list_shards(args.corpus)  # a missing corpus fails here, before the output is created
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    if args.image_bytes and args.keep_failed_images:
        raise UsageError("--keep-failed-images needs image URLs: --image-bytes writes stored images only")
    with fsspec.open(args.out, "wb") as out:
        summary = export_obelics(iter_corpus(args.corpus), out, image_bytes=args.image_bytes,
                                 keep_failed=args.keep_failed_images)
    what = "images with their bytes" if args.image_bytes else "image URLs"
    print(f"{args.out}: {summary.documents} documents, {summary.segments} segments, {summary.images} {what}")
    if summary.left_out:
        reasons = ", ".join(f"{n} {_LEFT_OUT[reason]}" for reason, n in sorted(summary.left_out.items()))
        print(f"left out: {reasons}", file=sys.stderr)
    return 0


_LEFT_OUT = {"failed": "failed or opted-out images (--keep-failed-images keeps their URLs)",
             "not_fetched": "images never fetched (no bytes to write)",
             "no_url": "images without a URL (the URL layout cannot hold them)"}


def _import(args: argparse.Namespace) -> int:
    raw = {"name": "obelics-import", "source": {"kind": "obelics", "paths": args.inputs,
                                                 "rows_per_partition": args.rows_per_partition}}
    if args.fetch_images:
        raw["stages"] = [{"name": "fetch_images"}]
    try:
        config = parse_pipeline(raw)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from dataengine.runner.commands import format_result
    from dataengine.runner.pipeline import run_pipeline  # imports Ray: only when running

    try:
        result = run_pipeline(config, args.output, address=args.address)
    except ConfigError as exc:  # the files named do not exist or lack the OBELICS columns
        raise UsageError(str(exc)) from None
    print(format_result(result, args.output))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``obelics export`` and ``obelics import`` to the CLI."""
    p = sub.add_parser("obelics", help="export a corpus to, or import one from, the OBELICS parquet layout",
                       description="The OBELICS layout: one document per row, parallel 'images' (URLs) and "
                                   "'texts' lists with one of the two set at each position, plus JSON metadata.")
    commands = p.add_subparsers(dest="obelics_command", metavar="ACTION", required=True)
    e = commands.add_parser("export", help="write a corpus's documents to one OBELICS parquet file",
                            description="Write every document of CORPUS, shard by shard, as one row of OUT. Images "
                                        "that failed or were opted out are left out unless --keep-failed-images; "
                                        "images without a URL cannot be written. What is left out is counted on "
                                        "stderr.")
    e.add_argument("corpus", help="corpus directory or URL")
    e.add_argument("out", help="output parquet file (local path or s3://...)")
    e.add_argument("--image-bytes", action="store_true",
                   help="write the stored images themselves as Hugging Face Image values (datasets' "
                        "load_dataset('parquet') decodes them) instead of their URLs")
    e.add_argument("--keep-failed-images", action="store_true",
                   help="keep the URLs of failed and opted-out images, with their status and error in the metadata")
    e.set_defaults(func=_export)
    i = commands.add_parser("import", help="read OBELICS parquet files into a corpus (a pipeline run)",
                            description="Run a pipeline whose source is the OBELICS files: each row becomes a "
                                        "document with its images pending; --fetch-images downloads them.")
    i.add_argument("inputs", nargs="+", help="parquet files or globs, local or s3://...")
    i.add_argument("--output", "-o", required=True, help="output corpus directory (local path or s3://...)")
    i.add_argument("--rows-per-partition", type=int, default=1000, help="rows per partition (default 1000)")
    i.add_argument("--fetch-images", action="store_true", help="download the images (fetch_images stage)")
    i.add_argument("--address", default=None, help="Ray cluster to use; default starts a local Ray")
    i.set_defaults(func=_import)
