"""``Generator``: text, text-to-image with classifier-free guidance, captioning, interleaved generation.

All modes run one batched, KV-cached decoding loop under a ``LayoutConstraint`` per row.
Prompts of different lengths are left-padded; padding is masked out of attention and
positions start at each row's first real token. With guidance, each conditional row has
an unconditional twin (the prompt without its text, as condition dropout trained it); the
sampled token is fed to both and the logits are ``u + scale * (c - u)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from schemas.token_layout import ImageCodes
from trainer.assets import Vocabulary
from trainer.generate.constraints import HEIGHT, LayoutConstraint
from trainer.generate.sampling import SamplingOptions, sample
from trainer.model import Transformer


@dataclass
class Interleaved:
    """A generated document: text strings and images (uint8 arrays) in order, plus its tokens."""

    parts: list[str | np.ndarray]
    tokens: list[int]


class Generator:
    """A trained model with its vocabulary, ready to generate."""

    def __init__(self, model: Transformer, vocab: Vocabulary, device: str | torch.device = "cpu"):
        self.model, self.vocab, self.layout = model.eval(), vocab, vocab.layout
        self.device = torch.device(device)
        self.grid = (vocab.images.grid, vocab.images.grid) if vocab.images else None

    @torch.no_grad()
    def decode(self, prompts: list[list[int]], constraints: list[LayoutConstraint], max_new_tokens: int,
               opts: SamplingOptions, seed: int = 0, cfg_scale: float = 1.0,
               uncond_prompts: list[list[int]] | None = None) -> list[list[int]]:
        """New tokens for each prompt, stopping when every row's constraint is done."""
        guided = uncond_prompts is not None and cfg_scale != 1.0
        rows = prompts + (uncond_prompts if guided else [])
        n, lay = len(prompts), self.layout
        longest = max(len(p) for p in rows)
        tokens = torch.full((len(rows), longest), lay.pad, dtype=torch.long)
        valid = torch.zeros(len(rows), longest, dtype=torch.bool)
        for i, p in enumerate(rows):
            tokens[i, longest - len(p):] = torch.tensor(p)
            valid[i, longest - len(p):] = True
        tokens, valid = tokens.to(self.device), valid.to(self.device)
        lengths = valid.sum(1)
        positions = (valid.long().cumsum(1) - 1).clamp(min=0)
        causal = torch.ones(longest, longest, dtype=torch.bool, device=self.device).tril()
        # Pad queries attend to themselves only, which keeps softmax finite; their outputs are unused.
        mask = (causal & valid[:, None, :]) | torch.eye(longest, dtype=torch.bool, device=self.device)
        cache = self.model.new_cache()
        logits = self.model(tokens, positions, mask[:, None], cache)[:, -1]
        gen = torch.Generator(device=self.device).manual_seed(seed)
        out: list[list[int]] = [[] for _ in range(n)]
        for _ in range(max_new_tokens):
            if all(c.done for c in constraints):
                break
            step_logits = logits[:n]
            if guided:
                step_logits = logits[n:] + cfg_scale * (logits[:n] - logits[n:])
            allowed = torch.stack([c.allowed(self.device) for c in constraints])
            next_ids = sample(step_logits.masked_fill(~allowed, float("-inf")), opts, gen)
            for i, c in enumerate(constraints):
                if not c.done:
                    out[i].append(int(next_ids[i]))
                    c.advance(int(next_ids[i]))
            feed = torch.cat([next_ids, next_ids]) if guided else next_ids
            valid = torch.cat([valid, torch.ones(len(rows), 1, dtype=torch.bool, device=self.device)], dim=1)
            logits = self.model(feed[:, None], lengths[:, None], valid[:, None, None, :], cache)[:, -1]
            lengths = lengths + 1
        return out

    def _text_ids(self, text: str) -> list[int]:
        return self.vocab.text.encode(text)

    def text(self, prompts: list[str], max_new_tokens: int = 128, opts: SamplingOptions | None = None,
             seed: int = 0) -> list[str]:
        """Continue each prompt with text only."""
        lay = self.layout
        cons = [LayoutConstraint(lay, allow_images=False) for _ in prompts]
        new = self.decode([[lay.bos, *self._text_ids(p)] for p in prompts], cons, max_new_tokens,
                          opts or SamplingOptions(), seed)
        return [self.vocab.text.decode([t for t in ids if t < lay.text_vocab_size]) for ids in new]

    def image_codes(self, prompts: list[str], cfg_scale: float = 3.0, opts: SamplingOptions | None = None,
                    seed: int = 0) -> np.ndarray:
        """Code grids (N, h, w) for text prompts: ``bos prompt boi`` then a constrained image block."""
        if self.grid is None:
            raise ValueError("this checkpoint has no VQ tokenizer, so it cannot generate images")
        lay = self.layout
        cons = [LayoutConstraint(lay, self.grid, stop_after_image=True, state=HEIGHT) for _ in prompts]
        cond = [[lay.bos, *self._text_ids(p), lay.boi] for p in prompts]
        uncond = [[lay.bos, lay.boi] for _ in prompts]
        h, w = self.grid
        new = self.decode(cond, cons, h * w + 3, opts or SamplingOptions(), seed, cfg_scale, uncond)
        grids = [ImageCodes(np.asarray(ids[2:2 + h * w]) - lay.image_offset) for ids in new]
        return np.stack([g.codes.reshape(h, w) for g in grids])

    def images(self, prompts: list[str], cfg_scale: float = 3.0, opts: SamplingOptions | None = None,
               seed: int = 0) -> np.ndarray:
        """uint8 images (N, R, R, 3) for text prompts."""
        codes = self.image_codes(prompts, cfg_scale, opts, seed)  # first: it says so when there is no VQ
        return self.vocab.images.decode(codes)

    def captions(self, images: list, max_new_tokens: int = 96, opts: SamplingOptions | None = None,
                 seed: int = 0) -> list[str]:
        """Text for each image (PIL images, bytes or uint8 arrays): ``bos <image>`` then text until eos."""
        if self.vocab.images is None:
            raise ValueError("this checkpoint has no VQ tokenizer, so it cannot read images")
        lay = self.layout
        codes = self.vocab.images.encode(images)
        prompts = [[lay.bos, *lay.image_tokens(c).tolist()] for c in codes]
        cons = [LayoutConstraint(lay, allow_images=False) for _ in prompts]
        new = self.decode(prompts, cons, max_new_tokens, opts or SamplingOptions(temperature=0), seed)
        return [self.vocab.text.decode([t for t in ids if t < lay.text_vocab_size]) for ids in new]

    def interleaved(self, prompts: list[str], max_new_tokens: int = 512, opts: SamplingOptions | None = None,
                    seed: int = 0) -> list[Interleaved]:
        """Free-form documents: the model writes text and opens images (``<|boi|>``) when it chooses."""
        lay = self.layout
        cons = [LayoutConstraint(lay, self.grid, allow_images=self.grid is not None) for _ in prompts]
        new = self.decode([[lay.bos, *self._text_ids(p)] for p in prompts], cons, max_new_tokens,
                          opts or SamplingOptions(), seed)
        docs = []
        for prompt, ids in zip(prompts, new):
            complete = ids
            if lay.boi in ids:
                # A document cut off by max_new_tokens inside an image keeps only its complete part.
                last_boi = len(ids) - 1 - ids[::-1].index(lay.boi)
                if lay.eoi not in ids[last_boi:]:
                    complete = ids[:last_boi]
            parts: list[str | np.ndarray] = [prompt]
            for part in lay.decode(np.asarray(complete, dtype=np.int64)):
                if isinstance(part, ImageCodes):
                    parts.append(self.vocab.images.decode(part.codes)[0])
                else:
                    parts.append(self.vocab.text.decode(part.tolist()))
            docs.append(Interleaved(parts, ids))
        return docs
