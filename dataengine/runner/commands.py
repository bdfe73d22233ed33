"""``dataengine run``: execute a pipeline YAML into an output corpus."""

from __future__ import annotations

import argparse

from dataengine.errors import ConfigError, UsageError
from dataengine.runner.config import load_pipeline


def format_result(result, output: str) -> str:
    """A short human summary of a run."""
    lines = [f"run {result.run_id}: {result.partitions_done} partitions written, "
             f"{result.partitions_skipped} skipped (already committed), {result.documents} documents, "
             f"{result.images} images",
             f"output: {output}"]
    if result.rejected:
        lines.append("rejected (stage, level, reason):")
        for (stage, level, reason), n in sorted(result.rejected.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:6d}  {stage} {level} {reason}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_pipeline(args.pipeline, args.set)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from dataengine.runner.pipeline import run_pipeline  # imports Ray: only when running

    try:
        result = run_pipeline(config, args.output, address=args.address, progress=not args.quiet,
                              overwrite=args.overwrite)
    except ConfigError as exc:  # sources check their inputs when listing partitions
        raise UsageError(str(exc)) from None
    print(format_result(result, args.output))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``run`` to the CLI."""
    p = sub.add_parser(
        "run", help="run a pipeline YAML into a corpus",
        description="Run a pipeline (source, stages, sink) on Ray and write WebDataset shards, Parquet "
                    "manifests, rejected rows and a run record into OUTPUT. Input is split into partitions; "
                    "a committed partition is skipped when the same command runs again, so a killed run "
                    "resumes where it stopped.")
    p.add_argument("pipeline", help="pipeline YAML file, e.g. pipelines/warc.yaml")
    p.add_argument("--output", "-o", required=True, help="output corpus directory (local path or s3://...)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting: source.PARAM=V, stages.NAME.PARAM=V, sink.maxcount=N (repeatable)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to use: 'auto' or ray://HOST:PORT; default starts a local Ray")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a corpus of another pipeline in OUTPUT (without it such an output is refused; "
                        "the same pipeline resumes into it)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (partitions done of those to do, documents and images per second)")
    p.set_defaults(func=_run)
