"""``clip_score``: CLIP image-text similarity with open_clip, against alt text, caption and context.

A model stage: run it on an actor pool (``resources: {concurrency: N, num_gpus: 1}``); its
``setup`` loads the model once per actor, and ``process_batch`` sends the images and texts of a whole
partition through the model in batches of ``batch_size``.

The model is anything ``open_clip.create_model_and_transforms`` takes: a built-in name
with a pretrained tag (``ViT-B-32`` + ``laion2b_s34b_b79k``) or a local checkpoint file
(``pretrained: /models/clip.pt``), ``hf-hub:org/repo``, ``local-dir:/path``, or a path to
a model config JSON (its file name, less ``.json``, becomes the model name).

Scores are cosine similarities of the normalised embeddings, in [-1, 1]:
``image.scores["clip_alt"]``, ``["clip_caption"]`` and ``["clip_context"]`` (the text
segments around the image), each present only when that text exists. The policy: the best
of the scores named in ``use`` must reach ``threshold``; an image with none of them is
kept, since nothing says it is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataengine.filters.images import apply_action, check_action, fail_image, open_rgb, scorable
from dataengine.stages.base import Stage
from schemas import Document

TEXT_KINDS = ("alt", "caption", "context")


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_clip(model: str, pretrained: str | None, device: str, precision: str = "fp32") -> tuple[Any, Any, Any]:
    """An open_clip model in eval mode on ``device``, with its inference transform and tokenizer."""
    import open_clip

    if model.endswith(".json") and Path(model).is_file():
        open_clip.add_model_config(model)
        model = Path(model).stem
    clip, _, preprocess = open_clip.create_model_and_transforms(model, pretrained=pretrained, device=device,
                                                                precision=precision)
    clip.eval()
    return clip, preprocess, open_clip.get_tokenizer(model)


def image_context(doc: Document, index: int, chars: int) -> str:
    """The text around image ``index``: the end of the text segment before it, the start of the one after."""
    before = after = ""
    segments = doc.segments
    for pos, seg in enumerate(segments):
        if seg.kind == "image" and seg.image == index:
            for prev in reversed(segments[:pos]):
                if prev.kind == "text" and prev.text:
                    before = prev.text[-chars:]
                    break
            for nxt in segments[pos + 1:]:
                if nxt.kind == "text" and nxt.text:
                    after = nxt.text[:chars]
                    break
            break
    return " ".join(part for part in (before, after) if part).strip()


@dataclass
class ClipConfig:
    """The ``clip_score`` parameters.

    ``model`` and ``pretrained``: what ``load_clip`` loads (see the module docstring), at
    ``precision`` on ``device`` (``None``: a GPU when there is one). ``threshold``: the least best
    score of the texts in ``use`` an image must reach (``None`` only scores; 0.28 is LAION-5B's for
    ViT-B/32, other models need their own); below it, ``action``. ``context_chars``: text taken
    from each side of the image; ``batch_size``: images (and texts) per model batch.
    """

    model: str = "ViT-B-32"
    pretrained: str | None = "laion2b_s34b_b79k"
    threshold: float | None = 0.28
    use: list[str] = field(default_factory=lambda: list(TEXT_KINDS))
    action: str = "drop_image"
    context_chars: int = 300
    batch_size: int = 64
    device: str | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        unknown = set(self.use) - set(TEXT_KINDS)
        if unknown:
            raise ValueError(f"use: unknown text kinds {sorted(unknown)}; known: {', '.join(TEXT_KINDS)}")
        check_action(self.action)


class ClipScorer(Stage):
    """Score each fetched image against its texts with CLIP; fail (or drop the document) below ``threshold``.

    Parameters: ``ClipConfig``. ``action``: ``drop_image`` (the image fails with reason
    ``clip_similarity_low``) or ``drop_document`` (the whole document goes, same reason).
    """

    name = "clip_score"
    reads = frozenset({"images.data"})
    writes = frozenset({"images.scores"})
    Config = ClipConfig
    config: ClipConfig

    def setup(self) -> None:
        """Load the CLIP model, its transform and tokenizer on the device."""
        c = self.config
        self.device = c.device or default_device()
        self.model, self.preprocess, self.tokenizer = load_clip(c.model, c.pretrained, self.device, c.precision)
        self.dtype = next(self.model.parameters()).dtype  # fp16/bf16 weights want inputs of their type

    def texts_of(self, doc: Document, index: int) -> dict[str, str]:
        """The non-empty alt text, caption and context of image ``index``."""
        image = doc.images[index]
        texts = {"alt": image.alt or "", "caption": image.caption or "",
                 "context": image_context(doc, index, self.config.context_chars)}
        return {kind: " ".join(text.split()) for kind, text in texts.items() if text.strip()}

    def embed_images(self, pictures: list[Any]) -> Any:
        """Normalised image embeddings of one batch of pictures, one row each."""
        import torch

        with torch.inference_mode():
            batch = torch.stack([self.preprocess(p) for p in pictures]).to(self.device, self.dtype)
            return self.model.encode_image(batch, normalize=True).float()

    def embed_texts(self, texts: list[str]) -> Any:
        """Normalised text embeddings, one row per text."""
        import torch

        rows = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.config.batch_size):
                tokens = self.tokenizer(texts[i:i + self.config.batch_size]).to(self.device)
                rows.append(self.model.encode_text(tokens, normalize=True).float())
        return torch.cat(rows)

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Score the batch's images a model batch at a time, then apply the policy per document."""
        items = [(doc, image, self.texts_of(doc, image.index)) for doc in docs for image in scorable(doc)]
        unique_texts = sorted({t for *_, texts in items for t in texts.values()})
        text_emb = self.embed_texts(unique_texts) if unique_texts else None
        row_of = {t: n for n, t in enumerate(unique_texts)}
        scored = []
        for start in range(0, len(items), self.config.batch_size):
            chunk, pictures = [], []  # decoded one model batch at a time: a partition's pictures need not fit
            for doc, image, texts in items[start:start + self.config.batch_size]:
                try:
                    pictures.append(open_rgb(image.data))
                except Exception as exc:  # undecodable bytes: the image goes, with the reason
                    fail_image(self, doc, image, "decode_failed", detail=f"{type(exc).__name__}: {exc}"[:500])
                    continue
                chunk.append((doc, image, texts))
            if not chunk:
                continue
            image_emb = self.embed_images(pictures)
            for n, (_doc, image, texts) in enumerate(chunk):
                for kind, text in texts.items():
                    image.scores[f"clip_{kind}"] = float(image_emb[n] @ text_emb[row_of[text]])
            scored.extend(chunk)
        dropped: set[int] = set()
        for doc, image, _ in scored:
            if id(doc) in dropped or self.config.threshold is None:
                continue
            use = self.config.use
            scores = {kind: image.scores[f"clip_{kind}"] for kind in use if f"clip_{kind}" in image.scores}
            if not scores:
                continue
            best = max(scores, key=scores.get)
            if scores[best] < self.config.threshold:
                if apply_action(self, doc, image, self.config.action, "clip_similarity_low", value=scores[best],
                                threshold=self.config.threshold, detail=f"best: {best}"):
                    dropped.add(id(doc))
        return [doc for doc in docs if id(doc) not in dropped]
