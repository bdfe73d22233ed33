"""``trainer eval``: held-out loss per modality and, with the sample-web judge, generation accuracy.

Held-out loss runs one pass over the corpus (pairs in stored order, no condition dropout)
packed exactly as in training. With ``judge="sample-web"`` the ground truth
(``ground_truth.jsonl``: image lines with a ``scene``) supplies prompts for text-to-image
(each scene's canonical caption, judged on the generated pixels) and, for images of the
corpus whose URL path matches a ground-truth ``path``, captioning (judged on the words).
The same images, put through the VQ and back, are judged as generated images would be
(``vq_ceiling_*``): no text-to-image accuracy can exceed what the VQ keeps. Interleaved
generation from short prompts is reported ILScore-style. A corpus with a composition split
beside it (``split.json``, the scene world's) reports which share of its prompts is held out.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch

from schemas.scene_split import find_split, load_split
from schemas.scenes import Scene
from trainer.config import ConfigError
from trainer.data.packing import Packer
from trainer.data.shards import CorpusError, corpus_layout, list_shards, read_samples, sample_document
from trainer.data.tokenize import BadSample, DocumentTokenizer
from trainer.eval.ilscore import SceneJudge, ilscore
from trainer.eval.judge import judge_caption, judge_image, summarise
from trainer.generate.generator import Generator
from trainer.generate.sampling import SamplingOptions
from trainer.train.checkpoint import load_trained
from trainer.train.loss import batch_loss


def heldout_loss(model, vocab, corpus: str, seq_len: int, batch_size: int, max_batches: int) -> dict[str, float]:
    """Mean cross-entropy over text and image-code targets of one pass (at most ``max_batches``).

    Samples that cannot be tokenized are counted (``eval_bad_samples``); a corpus with none
    that can is an error, never a loss of 0 over no tokens.
    """
    layout = corpus_layout(corpus)
    if layout is not None and layout != vocab.layout:
        raise ConfigError(f"corpus {corpus} is tokenized in another token layout ({layout}) than the checkpoint "
                          f"({vocab.layout}); evaluate on a corpus tokenized with the run's tokenizers, or untokenized")
    tokenizer = DocumentTokenizer(vocab.layout, vocab.text, vocab.images)
    bad = {"count": 0, "first": ""}  # a count and one message: a caught exception would keep its frames alive

    def documents():
        for url in list_shards(corpus):
            for sample in read_samples(url):
                try:
                    yield tokenizer(sample)
                except BadSample as exc:
                    bad["count"] += 1
                    bad["first"] = bad["first"] or str(exc)

    docs = documents()
    packer = Packer(vocab.layout, seq_len + 1)
    sums = {"text_ce": 0.0, "text_n": 0.0, "image_ce": 0.0, "image_n": 0.0}
    for _ in range(max_batches):
        rows = [packer.next_sequence(lambda: next(docs, None)) for _ in range(batch_size)]
        rows = [r for r in rows if r is not None]
        if not rows:
            break
        batch = {k: torch.from_numpy(np.stack([getattr(r, k) for r in rows])) for k in ("tokens", "segments",
                                                                                       "positions")}
        with torch.no_grad():
            parts = batch_loss(model, batch, vocab.layout)
        for k in sums:
            sums[k] += float(parts[k])
    n = sums["text_n"] + sums["image_n"]
    if n == 0:
        reason = f"; the first bad one: {bad['first']}" if bad["count"] else ""
        raise CorpusError(f"corpus {corpus} gave no tokens to evaluate ({bad['count']} samples could not be "
                          f"tokenized{reason})")
    return {"eval_bad_samples": bad["count"], "loss": (sums["text_ce"] + sums["image_ce"]) / n,
            "loss_text": sums["text_ce"] / max(sums["text_n"], 1),
            "loss_image": sums["image_ce"] / max(sums["image_n"], 1), "eval_tokens": n}


def find_ground_truth(corpus: str, given: str | None) -> Path:
    """``ground_truth.jsonl``: the given path, else beside the corpus or up to two folders above it."""
    if given:
        if not Path(given).exists():
            raise FileNotFoundError(f"ground truth {given} does not exist")
        return Path(given)
    base = Path(corpus)
    for folder in (base, base.parent, base.parent.parent):
        for candidate in [folder / "ground_truth.jsonl", *sorted(folder.glob("*/ground_truth.jsonl"))]:
            if candidate.exists():
                return candidate
    raise FileNotFoundError(f"no ground_truth.jsonl beside {corpus}; pass --ground-truth")


def load_scenes(path: Path) -> dict[str, Scene]:
    """Ground-truth scenes keyed by image path."""
    scenes = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("kind") == "image" and row.get("scene"):
            scenes[row.get("path") or str(len(scenes))] = Scene.from_json(row["scene"])
    if not scenes:
        raise ConfigError(f"{path} holds no image lines with a scene")
    return scenes


def corpus_scene_images(corpus: str, scenes: dict[str, Scene], limit: int) -> list[tuple[bytes, Scene]]:
    """Images of the corpus whose URL path is a ground-truth path, with their scenes."""
    found = []
    for url in list_shards(corpus):
        for sample in read_samples(url):
            try:
                doc = sample_document(sample)
            except ValueError:
                continue
            for record in doc.images:
                path = urlsplit(record.url or "").path
                member = (record.member or "")[len(sample["__key__"]) + 1:]
                if record.status == "ok" and path in scenes and member in sample:
                    found.append((sample[member], scenes[path]))
                    if len(found) >= limit:
                        return found
    return found


def evaluate(checkpoint: str, corpus: str, judge: str | None = None, ground_truth: str | None = None,
             max_batches: int = 20, n_prompts: int = 24, cfg_scale: float = 3.0, seed: int = 0,
             device: str = "cpu", image_sampling: SamplingOptions | None = None) -> dict[str, Any]:
    """All metrics as one flat dict; images are sampled with ``image_sampling`` (default: temperature 1)."""
    model, vocab, cfg = load_trained(checkpoint, device)
    result: dict[str, Any] = heldout_loss(model, vocab, corpus, cfg.data.seq_len, cfg.data.batch_size, max_batches)
    if judge is None:
        return result
    if judge != "sample-web":
        raise ConfigError(f"unknown judge {judge!r}; known: sample-web")
    scenes = load_scenes(find_ground_truth(corpus, ground_truth))
    gen = Generator(model, vocab, device)
    rng = random.Random(seed)
    by_caption = {s.caption(): s for s in scenes.values()}
    prompts = rng.sample(sorted(by_caption), min(n_prompts, len(by_caption)))
    split_path = find_split(corpus)
    if split_path is not None and prompts:
        split = load_split(split_path)
        result["t2i_heldout_share"] = sum(split.is_held_out(by_caption[p]) for p in prompts) / len(prompts)
    if vocab.images is not None and prompts:
        images = gen.images(prompts, cfg_scale, image_sampling or SamplingOptions(), seed)
        result.update(summarise([judge_image(im, by_caption[p]) for im, p in zip(images, prompts)], "t2i"))
        pairs = corpus_scene_images(corpus, scenes, n_prompts)
        if pairs:
            captions = gen.captions([b for b, _ in pairs])
            result.update(summarise([judge_caption(c, s) for c, (_, s) in zip(captions, pairs)], "caption"))
            # What the VQ alone keeps of the scenes: no generated image can be judged better than this.
            recon = vocab.images.decode(vocab.images.encode([b for b, _ in pairs]))
            result.update(summarise([judge_image(im, s) for im, (_, s) in zip(recon, pairs)], "vq_ceiling"))
        result["caption_images"] = len(pairs)
        docs = gen.interleaved(prompts[:4], max_new_tokens=3 * (vocab.images.grid ** 2 + 4) + 120,
                               opts=SamplingOptions(temperature=0.8), seed=seed)
        result.update(ilscore([d.parts for d in docs], SceneJudge()))
    result["judge"] = judge
    result["t2i_prompts"] = len(prompts)
    # A dimension with nothing to score (no image opened, say) is null, which JSON can carry; NaN is not JSON.
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in result.items()}
