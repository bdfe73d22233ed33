"""``dataengine publish CORPUS --out FINAL --world-size W (--tokens-per-shard T | --docs-per-shard N)``."""

from __future__ import annotations

import argparse

from dataengine.errors import CorpusError, UsageError


def _publish(args: argparse.Namespace) -> int:
    from dataengine.publish.plan import PlanConfig
    from dataengine.publish.publish import PublishError, publish

    try:
        config = PlanConfig(args.world_size, args.docs_per_shard, args.tokens_per_shard, args.seed)
        result = publish(args.corpus, args.out, config, name=args.name, workers=args.workers,
                         progress=not args.quiet, executor="local" if args.local else "ray", address=args.address)
    except (PublishError, CorpusError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    docs = [s.n_docs for s in result.shards]
    tokens = [s.n_tokens for s in result.shards if s.n_tokens is not None]
    print(f"published {sum(docs)} documents into {len(docs)} shards ({len(docs) // args.world_size} per rank "
          f"for world size {args.world_size}): {result.written} written, {result.skipped} already there")
    print(f"documents per shard: {min(docs)}..{max(docs)}")
    if tokens:
        print(f"tokens per shard: {min(tokens)}..{max(tokens)} (total {sum(tokens)})")
    if result.rejected:
        print(f"left out: {len(result.rejected)} documents (see {args.out}/rejected/)")
    print(f"plan {result.fingerprint}; check it with: dataengine validate {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``publish`` to the CLI."""
    p = sub.add_parser("publish", help="reshard a corpus into balanced final shards for training",
                       description="Reshard CORPUS into final shards balanced for training: a shard count "
                                   "divisible by the world size, equal documents or tokens per shard (within "
                                   "one document), documents mixed across partitions by a seeded shuffle, "
                                   "manifests with token counts per modality.")
    p.add_argument("corpus", help="source corpus (path or fsspec URL)")
    p.add_argument("--out", required=True, help="output folder of the final corpus")
    p.add_argument("--world-size", type=int, required=True, help="number of training ranks")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--tokens-per-shard", type=int, help="about this many tokens per shard (needs tokens)")
    size.add_argument("--docs-per-shard", type=int, help="about this many documents per shard")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffle (default 0)")
    p.add_argument("--name", default="train", help="shard name prefix (default train)")
    p.add_argument("--workers", type=int, default=4, help="final shards written at once (default 4)")
    p.add_argument("--local", action="store_true", help="write every shard in this process instead of on Ray")
    p.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_publish)
