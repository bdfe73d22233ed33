"""The ``trainer`` command: ``vq train``, ``train``, ``generate`` and ``eval``.

Errors about what the user asked for (a missing corpus, a bad config key, a checkpoint
that is not one) print one line, ``trainer: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from schemas.config import parse_overrides
from trainer.config import ConfigError, CorpusSpec
from trainer.data.shards import CorpusError


def cmd_vq_train(args: argparse.Namespace) -> int:
    """``trainer vq train CONFIG --data CORPUS --out DIR``."""
    from trainer.vq.train import load_vq_train_config, train_vq

    cfg = load_vq_train_config(args.config, parse_overrides(args.set or []))
    report = train_vq(cfg, args.data, args.out, max_steps=args.max_steps, progress=not args.quiet)
    print(json.dumps(report))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``trainer train CONFIG --data CORPUS --out DIR [--max-steps N] [--resume]``."""
    from trainer.config import load_run_config
    from trainer.train.loop import train

    if args.ray_workers:
        from trainer.train.ray_launcher import train_on_ray

        if args.align or args.init:
            raise ConfigError("--align and --init run on one process for now; drop --ray-workers")
        train_on_ray(args.config, args.data or [], args.out, args.ray_workers, args.ray_gpu, vq=args.vq,
                     max_steps=args.max_steps, resume=args.resume, overrides=parse_overrides(args.set or []))
        return 0
    cfg = load_run_config(args.config, parse_overrides(args.set or []))
    corpora = [CorpusSpec(path) for path in args.data] if args.data else cfg.data.mixture
    if args.align:
        cfg = cfg.for_alignment(args.align, corpora)
    rows = train(cfg, corpora, args.out, vq=args.vq, max_steps=args.max_steps, resume=args.resume,
                 device=args.device, progress=not args.quiet, init=args.init)
    if rows:
        print(json.dumps(rows[-1]))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """``trainer generate CKPT --prompt TEXT [--mode ...] --out PAGE.html``."""
    from trainer.generate.page import generate_page

    try:
        path = generate_page(args.checkpoint, args.prompt, args.mode, args.out, images=args.image,
                             cfg_scale=args.cfg_scale, temperature=args.temperature, top_k=args.top_k,
                             top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed,
                             samples=args.samples)
    except ValueError as exc:  # what the checkpoint cannot do (images without a VQ), or a bad option value
        raise ConfigError(f"trainer generate: {exc}") from None
    print(path)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """``trainer eval CKPT --data CORPUS [--judge sample-web]``: one JSON object of metrics."""
    from trainer.eval.evaluate import evaluate
    from trainer.generate.sampling import SamplingOptions

    result = evaluate(args.checkpoint, args.data, judge=args.judge, ground_truth=args.ground_truth,
                      max_batches=args.max_batches, n_prompts=args.prompts, cfg_scale=args.cfg_scale,
                      seed=args.seed, image_sampling=SamplingOptions(args.temperature, args.top_k))
    print(json.dumps(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``trainer``."""
    parser = argparse.ArgumentParser(
        prog="trainer",
        description="Train a unified text+image-token model on dataengine shards.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    vq = sub.add_parser("vq", help="the VQ image tokenizer").add_subparsers(dest="vq_command", metavar="ACTION")
    p = vq.add_parser("train", help="train a VQ tokenizer on the images of a corpus")
    p.add_argument("config", help="VQ config YAML (e.g. trainer/configs/vq_tiny.yaml)")
    p.add_argument("--data", required=True, action="append", help="corpus folder or shard (repeatable)")
    p.add_argument("--out", required=True, help="output folder (vq.pt, vq_metrics.jsonl)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_vq_train)

    p = sub.add_parser("train", help="train the unified transformer")
    p.add_argument("config", help="run config YAML (e.g. trainer/configs/tiny.yaml)")
    p.add_argument("--data", action="append", help="corpus folder, shard or s3:// URL (repeatable)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl)")
    p.add_argument("--vq", help="VQ checkpoint (overrides tokenizer.vq)")
    p.add_argument("--max-steps", type=int, help="stop at this step (the schedule still follows the config)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--init", help="start from this run's (or checkpoint's) weights, model shape and tokenizers")
    p.add_argument("--align", action="append", metavar="DIR",
                   help="fine-tune on a self-generation round's output (repeatable): one stage of the config's "
                        "align section, replaying --data at align.replay; use with --init")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--ray-workers", type=int, help="run as this many Ray Train workers (TorchTrainer)")
    p.add_argument("--ray-gpu", action="store_true", help="one GPU per Ray Train worker")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate text, images or both and write an HTML page")
    p.add_argument("checkpoint", help="run folder or checkpoint folder")
    p.add_argument("--prompt", action="append", default=[], help="prompt (repeatable)")
    p.add_argument("--mode", choices=("text", "image", "caption", "interleaved"), default="image",
                   help="text: continue the prompt; image: draw it; caption: describe --image files; "
                        "interleaved: text and images as the model chooses (default image)")
    p.add_argument("--image", action="append", default=[], help="input image for --mode caption (repeatable)")
    p.add_argument("--out", default="generated.html", help="HTML page to write")
    p.add_argument("--cfg-scale", type=float, default=3.0, help="classifier-free guidance scale for images")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    p.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest tokens (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1.0: off)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="longest text or interleaved output")
    p.add_argument("--samples", type=int, default=1, help="samples per prompt")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampling")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("eval", help="held-out loss per modality and, with a judge, generation accuracy")
    p.add_argument("checkpoint", help="run folder or checkpoint folder")
    p.add_argument("--data", required=True, help="held-out corpus")
    p.add_argument("--judge", choices=("sample-web",), help="score generations against the sample web's truth")
    p.add_argument("--ground-truth", help="ground_truth.jsonl (default: searched beside the corpus)")
    p.add_argument("--max-batches", type=int, default=20, help="held-out batches for the loss")
    p.add_argument("--prompts", type=int, default=24, help="scenes to generate and to caption")
    p.add_argument("--cfg-scale", type=float, default=3.0, help="classifier-free guidance scale for images")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of image codes (0: greedy)")
    p.add_argument("--top-k", type=int, default=0, help="sample image codes among the k likeliest (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt choice and the sampling")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``trainer``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ConfigError, CorpusError, FileNotFoundError) as exc:
        print(f"trainer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
