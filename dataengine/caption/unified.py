"""The bundled unified model as a captioner: a ``trainer train`` run folder (or one checkpoint of it).

The model reads ``<|bos|> <image>`` and writes text until ``<|eos|>`` under the layout
constraint (``trainer.generate.Generator.captions``), greedily, with the text tokenizer and
VQ the run was trained with. Trained on pages, it goes on from the description into the next
paragraph; the caption is what it writes before the first blank line. Its captions are recorded as written by
``unified:RUN/checkpoints/step_NNNNNN``, so a corpus says which checkpoint wrote what.
"""

from __future__ import annotations

from typing import Any


class UnifiedCaptioner:
    """A trained unified model captioning batches of images."""

    def __init__(self, checkpoint: str, device: str = "cpu", max_new_tokens: int = 40):
        from trainer.generate.generator import Generator
        from trainer.train.checkpoint import load_trained, resolve_checkpoint

        try:
            _, ckpt = resolve_checkpoint(checkpoint)
            model, vocab, _ = load_trained(checkpoint, device)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"caption: cannot load the unified model {checkpoint!r}: {exc}".splitlines()[0]) from None
        if vocab.images is None:
            raise ValueError(f"caption: the unified model {checkpoint} has no VQ tokenizer, so it cannot read images")
        self.generator = Generator(model, vocab, device)
        self.name = f"unified:{ckpt}"
        self.max_new_tokens = max_new_tokens

    def caption(self, images: list[Any]) -> list[str]:
        """One caption per image (PIL images, bytes or uint8 arrays)."""
        if not images:
            return []
        texts = self.generator.captions(images, max_new_tokens=self.max_new_tokens)
        return [text.strip().split("\n\n", 1)[0].strip() for text in texts]
