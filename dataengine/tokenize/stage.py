"""``tokenize``: each document as one int32 sequence in the token layout, into ``KEY.tokens.npy``.

A model stage: run it on an actor pool (``resources: {concurrency: N, num_gpus: 1}``); its
``setup`` loads the text tokenizer and the VQ once per actor. ``process_batch`` decodes every
image of the batch, encodes them with the trainer's VQ in batches of ``batch_size``, encodes
all text with one ``encode_batch`` call, and lays each document out as
``<|bos|> text <|boi|> h w codes <|eoi|> ... <|eos|>`` (``schemas.token_layout``) in
``Document.tokens``; the shard writer stores it as ``KEY.tokens.npy``.

The serialisation is the trainer's own (``trainer.data.tokenize.document_parts``), so a
corpus tokenized here trains exactly as the trainer would have tokenized it on the fly:
text segments in reading order, consecutive ones joined by a blank line; each image with
status ``ok`` as its code grid; failed images left out. With ``image_descriptions`` each
image is followed by its caption (else its usable alt text), joined to the next text by a
blank line, which is how the model sees image-to-text examples inside interleaved pages (a
figcaption that the page also has as the next text segment is said once).

An image whose bytes do not decode fails in place (image-level ``rejected`` row
``undecodable_image``); a document left with neither text nor images is rejected
(``nothing_to_tokenize``).

The stage produces ``token_layout.json`` and ``tokenizer.json`` (``tokenize.vocabulary``): the
runner writes them beside ``shards/`` when the run commits, so the corpus trains as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dataengine.caption.policy import description
from dataengine.filters.images import fail_image
from dataengine.stages.base import Stage
from dataengine.tokenize.text import TextTokenizer, load_text_tokenizer, tokenizer_digest
from dataengine.tokenize.vocabulary import LAYOUT_FILE, TOKENIZER_FILE, CorpusVocabulary, layout_for, vocabulary_files
from schemas import Document
from schemas.token_layout import ImageCodes, Part


def resolve_device(device: str) -> str:
    """``auto`` is ``cuda`` when a GPU is visible, else ``cpu``; anything else is returned as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class DocumentTokenizer(Stage):
    """Tokenize whole documents: text with ``text_tokenizer``, images with the VQ at ``vq``.

    ``text_tokenizer`` is a spec (``byte``, a local tokenizer directory or ``tokenizer.json``,
    or a hub name; see ``dataengine.tokenize.text``); ``vq`` a checkpoint written by ``trainer
    vq train``; ``max_grid`` the largest image grid side the layout can express.
    """

    name = "tokenize"
    version = "1"
    reads = frozenset({"segments", "images.data"})
    writes = frozenset({"tokens"})
    produces = (LAYOUT_FILE, TOKENIZER_FILE)

    def __init__(self, text_tokenizer: str = "byte", vq: str | None = None, max_grid: int = 64,
                 image_descriptions: bool = False, device: str = "auto", batch_size: int = 64):
        super().__init__()
        if vq is None:
            raise ValueError("tokenize: vq (a VQ checkpoint from `trainer vq train`) is required")
        if batch_size < 1:
            raise ValueError(f"tokenize: batch_size must be at least 1, got {batch_size}")
        self.text_tokenizer, self.vq, self.max_grid, self.device = text_tokenizer, vq, max_grid, device
        self.image_descriptions = image_descriptions
        self.batch_size = batch_size

    def _vocabulary(self, text: TextTokenizer, images: Any) -> CorpusVocabulary:
        """The vocabulary of the loaded text tokenizer and VQ (``trainer.vq.tokenizer.ImageTokenizer``)."""
        layout = layout_for(text.vocab_size, images.codebook_size, images.grid, self.max_grid)
        return CorpusVocabulary(layout, self.text_tokenizer, self.vq, tokenizer_digest(self.text_tokenizer))

    def setup(self) -> None:
        """Load the text tokenizer and the VQ on the device, and lay out their vocabularies."""
        from trainer.vq.tokenizer import ImageTokenizer

        self.text = load_text_tokenizer(self.text_tokenizer)
        self.images = ImageTokenizer.load(self.vq, resolve_device(self.device))
        self.vocabulary = self._vocabulary(self.text, self.images)
        self.layout = self.vocabulary.layout

    def corpus_files(self) -> dict[str, str]:
        """``token_layout.json`` and ``tokenizer.json``; the tokenizers are read on the CPU, only for their sizes."""
        from trainer.vq.tokenizer import ImageTokenizer

        text, images = load_text_tokenizer(self.text_tokenizer), ImageTokenizer.load(self.vq)
        return vocabulary_files(self._vocabulary(text, images))

    def _decode_images(self, docs: list[Document]) -> dict[tuple[int, int], Any]:
        """Every ``ok`` image decoded and cut to the VQ's input square, keyed by (document position, image index).

        Cutting here, as ``ImageTokenizer.encode`` would, keeps a batch of large photos small in
        memory and spares the VQ a second pass over the full-size pixels. Failures fail in place.
        """
        from trainer.vq.tokenizer import square_resize, to_pil

        size = self.images.resolution
        pictures = {}
        for d, doc in enumerate(docs):
            for image in doc.images:
                if image.status != "ok":
                    continue
                if image.data is None:
                    fail_image(self, doc, image, "image_bytes_missing", detail="status ok but no bytes")
                    continue
                try:
                    pictures[(d, image.index)] = square_resize(to_pil(image.data), size)
                except Exception as exc:  # PIL raises many types for bad bytes
                    fail_image(self, doc, image, "undecodable_image", detail=f"{type(exc).__name__}: {exc}"[:500])
        return pictures

    def plan(self, doc: Document) -> list[tuple[str, Any]]:
        """The document as ``("text", str)`` and ``("image", index)`` items in reading order."""
        items: list[tuple[str, Any]] = []
        pending: list[str] = []
        described: str | None = None  # the description just added after an image, if any

        def flush() -> None:
            if pending:
                items.append(("text", "\n\n".join(pending)))
                pending.clear()

        for seg in doc.segments:
            if seg.kind == "text":
                if seg.text:
                    # A figcaption is both the image's caption and the text segment after it: say it once.
                    if described is not None and seg.text.startswith(described):
                        pending.pop()
                    pending.append(seg.text)
                described = None
                continue
            described = None
            image = doc.images[seg.image]
            if image.status != "ok":
                continue
            flush()
            items.append(("image", image.index))
            if self.image_descriptions:
                described = description(image)
                if described:
                    pending.append(described)
        flush()
        return items

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Set ``tokens`` on every document; reject those with nothing left to tokenize."""
        pictures = self._decode_images(docs)
        keys = list(pictures)
        codes = self.images.encode([pictures[k] for k in keys], self.batch_size) if keys else []
        grids = dict(zip(keys, codes))
        plans = [self.plan(doc) for doc in docs]
        texts = [value for plan in plans for kind, value in plan if kind == "text"]
        encoded = iter(self.text.encode_batch(texts))
        kept = []
        for d, (doc, plan) in enumerate(zip(docs, plans)):
            parts: list[Part] = []
            for kind, value in plan:
                if kind == "text":
                    parts.append(np.asarray(next(encoded), dtype=np.int64))
                else:
                    parts.append(ImageCodes(grids[(d, value)]))
            if not parts:
                self.reject(doc, "nothing_to_tokenize", detail="no text and no image with status ok")
                continue
            try:
                doc.tokens = self.layout.encode(parts)
            except ValueError as exc:
                self.reject(doc, "token_layout_error", detail=str(exc)[:2000])
                continue
            kept.append(doc)
        return kept
