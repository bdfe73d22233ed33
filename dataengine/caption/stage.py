"""``caption``: write a caption beside each image's alt text, with the model that wrote it.

A model stage: run it on an actor pool (``resources: {concurrency: N, num_gpus: 1}``); its
``setup`` loads the model once per actor. ``process_batch`` picks the images of the whole batch that the
``policy`` says need a caption (``missing_alt``: those without usable alt text and without a
caption; ``all``: every image) and sends them through the model in batches of ``batch_size``,
decoding each batch just before it goes. The image keeps its ``alt``; ``caption`` gets the model's text and
``caption_model`` the model's name (an empty caption is kept as written: the model said
nothing). An image whose bytes do not decode fails in place (``undecodable_image``).

Backends: ``hf`` (a transformers image-to-text or vision-language model by hub name or local
path, see ``dataengine.caption.hf``) and ``unified`` (a ``trainer train`` run folder, see
``dataengine.caption.unified``).
"""

from __future__ import annotations

from dataclasses import dataclass

from dataengine.caption.policy import check_policy, needs_caption
from dataengine.filters.images import fail_image, open_rgb
from dataengine.stages.base import Stage
from dataengine.tokenize.stage import resolve_device
from schemas import Document

BACKENDS = ("hf", "unified")


@dataclass
class CaptionConfig:
    """The ``caption`` parameters: ``model`` (a hub name or local path; for ``backend: unified``
    a ``trainer train`` run folder), the ``policy`` that picks the images, the ``hf`` backend's
    ``prompt`` and ``num_beams``, ``max_new_tokens``, ``batch_size`` images per model call, and the
    ``device`` (``auto``: a GPU when there is one)."""

    model: str
    backend: str = "hf"
    policy: str = "missing_alt"
    prompt: str | None = None
    max_new_tokens: int = 40
    num_beams: int = 1
    batch_size: int = 16
    device: str = "auto"

    def __post_init__(self) -> None:
        check_policy(self.policy)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "unified" and (self.prompt is not None or self.num_beams != 1):
            raise ValueError("the unified backend takes neither prompt nor num_beams")


class Captioner(Stage):
    """Caption images with ``model`` under ``policy`` (parameters: ``CaptionConfig``); see the module docstring."""

    name = "caption"
    version = "1"
    reads = frozenset({"images.data"})
    writes = frozenset({"images.caption"})
    Config = CaptionConfig
    config: CaptionConfig

    def setup(self) -> None:
        """Load the captioning model of the backend on the device."""
        c = self.config
        device = resolve_device(c.device)
        if c.backend == "hf":
            from dataengine.caption.hf import HfCaptioner

            self.model = HfCaptioner(c.model, device, c.prompt, c.max_new_tokens, c.num_beams)
        else:
            from dataengine.caption.unified import UnifiedCaptioner

            self.model = UnifiedCaptioner(c.model, device, c.max_new_tokens)

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Caption the images that need it, ``batch_size`` at a time; every document is kept."""
        todo = [(doc, image) for doc in docs for image in doc.images if needs_caption(image, self.config.policy)]
        for start in range(0, len(todo), self.config.batch_size):
            images, pictures = [], []
            for doc, image in todo[start:start + self.config.batch_size]:  # decoded per batch: photos can be large
                try:
                    pictures.append(open_rgb(image.data))
                except Exception as exc:  # PIL raises many types for bad bytes
                    fail_image(self, doc, image, "undecodable_image", detail=f"{type(exc).__name__}: {exc}"[:500])
                    continue
                images.append(image)
            for image, caption in zip(images, self.model.caption(pictures)):
                image.caption, image.caption_model = caption, self.model.name
        return docs
