"""``dataengine sample-web generate DIR``, ``sample-web serve DIR`` and ``sample-web world DIR``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from dataengine.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sample-web`` command with its ``generate`` and ``serve`` sub-commands."""
    parser = subparsers.add_parser(
        "sample-web", help="generate or serve the embedded sample website (with ground truth)",
        description="A deterministic small website of articles with drawn scenes and photos, plus the "
                    "noise of the real web, and the ground truth of every page and image.")
    sub = parser.add_subparsers(dest="sample_web_command", metavar="ACTION", required=True)

    gen = sub.add_parser("generate", help="write the sample web and DIR/ground_truth.jsonl")
    gen.add_argument("dir", type=Path, help="output directory (new, empty, or an earlier sample web)")
    gen.add_argument("--pages", type=int, default=60, help="number of HTML pages (default 60)")
    gen.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    gen.set_defaults(func=_generate)

    world = sub.add_parser(
        "world", help="write the scene world: pair and interleaved corpora split by composition",
        description="Scenes of the sample web as training corpora of any size: DIR/pairs, DIR/interleaved and "
                    "DIR/heldout (one pair per held-out composition and pairing), with DIR/split.json, the "
                    "held-out compositions no training document uses. trainer eval scores on DIR/heldout.")
    world.add_argument("dir", type=Path, help="output directory (new, or one without a scene world)")
    world.add_argument("--pairs", type=int, default=20000, help="caption-image pair documents (default 20000)")
    world.add_argument("--interleaved", type=int, default=4000,
                       help="documents of 2-4 scenes with their sentences (default 4000)")
    world.add_argument("--seed", type=int, default=0, help="seed of the training documents (default 0)")
    world.add_argument("--split-seed", type=int, default=0,
                       help="seed of the held-out compositions; keep it to score on the same split (default 0)")
    world.set_defaults(func=_world)

    serve = sub.add_parser("serve", help="serve DIR over HTTP until Ctrl-C or SIGTERM")
    serve.add_argument("dir", type=Path, help="a directory written by `sample-web generate`")
    serve.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    serve.add_argument("--host", default=None,
                       help="address to bind (default 127.0.0.1); naming a non-loopback host exposes the site")
    serve.set_defaults(func=_serve)


def _generate(args: argparse.Namespace) -> int:
    from dataengine.sampleweb.generate import SampleWebConfig, generate_site

    try:
        summary = generate_site(args.dir, SampleWebConfig(pages=args.pages, seed=args.seed))
    except (ValueError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    pages = ", ".join(f"{n} {label}" for label, n in sorted(summary.page_labels.items()))
    images = ", ".join(f"{n} {label}" for label, n in sorted(summary.image_labels.items()))
    print(f"wrote {sum(summary.page_labels.values())} pages ({pages}) and {summary.files} files to {args.dir}")
    print(f"image occurrences: {images}")
    return 0


def _world(args: argparse.Namespace) -> int:
    from dataengine.sampleweb.world import WorldConfig, write_world

    try:
        counts = write_world(args.dir, WorldConfig(pairs=args.pairs, interleaved=args.interleaved, seed=args.seed,
                                                   split_seed=args.split_seed))
    except (ValueError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {counts['pairs']} pairs, {counts['interleaved']} interleaved documents and {counts['heldout']} "
          f"held-out pairs to {args.dir} (split: {args.dir / 'split.json'})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from dataengine.sampleweb.server import SampleWebServer

    try:
        server = SampleWebServer(args.dir, host=args.host or "127.0.0.1", port=args.port,
                                 allow_remote=args.host is not None)
        server.start()
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(f"serving {args.dir} at {server.url}", flush=True)
    stop = threading.Event()
    # SIGTERM (kill, a supervisor, a test) ends it as Ctrl-C does, also where SIGINT is ignored,
    # as it is for a shell's background jobs.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.stop()
    print("stopped", file=sys.stderr)
    return 0
