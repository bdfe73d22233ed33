"""``dataengine align loop``: rounds of self-generation alignment on the sample web, with a control arm.

One round by hand is ``dataengine run pipelines/align.yaml`` then ``trainer train --align``;
``align loop`` runs them round after round (``dataengine.align.loop``) and writes
``OUT/loop.json`` and ``OUT/report.html``. Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataengine.errors import UsageError


def _loop(args: argparse.Namespace) -> int:
    from dataengine.align.loop import AlignLoopConfig, format_loop, run_align_loop

    if args.init and not Path(args.init).exists():
        raise UsageError(f"--init {args.init}: no such run or checkpoint folder")
    if args.world and not (Path(args.world) / "split.json").is_file():
        raise UsageError(f"--world {args.world}: not a scene world (no split.json); write one with "
                         "`dataengine sample-web world DIR`")
    if args.rounds < 1 or args.prompts < 1 or args.n < 2:
        raise UsageError("--rounds and --prompts must be at least 1, --n at least 2")
    config = AlignLoopConfig(rounds=args.rounds, prompts=args.prompts, n=args.n, k=args.k,
                             temperature=args.temperature, align_steps=args.steps, replay=args.replay,
                             control=not args.no_control, base_steps=args.base_steps, seed=args.seed,
                             world_pairs=args.world_pairs, world_interleaved=args.world_interleaved,
                             device=args.device)
    result = run_align_loop(Path(args.out), config, init=args.init, world=args.world, address=args.address)
    print(format_loop(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``align`` to the CLI."""
    p = sub.add_parser("align", help="self-generation alignment rounds (generate, judge, select, train)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="align_command", metavar="ACTION")
    loop = commands.add_parser("loop", help="run rounds on the sample web end to end and write a report",
                               description="Round 0 is --init (or the scene-world recipe trained here); each "
                                           "round generates N candidates per training-composition prompt, judges "
                                           "them (ground truth and the model's own assessment), fine-tunes on the "
                                           "best, and scores held-out compositions; a control arm trains on "
                                           "candidates picked blind.")
    loop.add_argument("--out", required=True, help="output folder (world/, roundN/, loop.json, report.html)")
    loop.add_argument("--rounds", type=int, default=3, help="rounds after round 0 (default 3)")
    loop.add_argument("--init", help="round 0: a trained run or checkpoint (default: train the recipe here)")
    loop.add_argument("--world", help="an existing scene world (default: write one into OUT/world)")
    loop.add_argument("--world-pairs", type=int, default=20000, help="pairs of a new world (default 20000)")
    loop.add_argument("--world-interleaved", type=int, default=4000, help="interleaved documents (default 4000)")
    loop.add_argument("--base-steps", type=int, help="round 0's training steps (default: the recipe's)")
    loop.add_argument("--prompts", type=int, default=192, help="prompts per round (default 192)")
    loop.add_argument("--n", type=int, default=8, help="candidates per prompt (default 8)")
    loop.add_argument("--k", type=int, default=1, help="chosen candidates per prompt (default 1)")
    loop.add_argument("--temperature", type=float, default=0.5, help="sampling temperature (default 0.5)")
    loop.add_argument("--steps", type=int, default=150, help="training steps per round (default 150)")
    loop.add_argument("--replay", type=float, default=0.5, help="share of pretraining pairs replayed (default 0.5)")
    loop.add_argument("--no-control", action="store_true", help="skip the control arm (halves the time)")
    loop.add_argument("--seed", type=int, default=0, help="seed of prompts and sampling (default 0)")
    loop.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    loop.add_argument("--address", default=None, help="Ray address; default starts a local Ray")
    loop.set_defaults(func=_loop)
    p.set_defaults(func=lambda args: p.print_help() or 2)
