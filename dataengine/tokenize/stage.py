"""``tokenize``: each document as one int32 sequence in the token layout, into ``KEY.tokens.npy``.

A model stage: run it on an actor pool (``resources: {concurrency: N, num_gpus: 1}``); its
``setup`` loads the text tokenizer and the VQ once per actor. ``process_batch`` decodes every
image of the batch, encodes them with the trainer's VQ in batches of ``batch_size``, encodes
all text with one ``encode_batch`` call, and lays each document out as
``<|bos|> text <|boi|> h w codes <|eoi|> ... <|eos|>`` (``schemas.token_layout``) in
``Document.tokens``; the shard writer stores it as ``KEY.tokens.npy``.

The serialisation is the contract's (``schemas.token_parts``), the one the trainer uses
when it tokenizes a corpus on the fly, so a corpus tokenized here trains exactly as the
trainer would have tokenized it: text segments in reading order, consecutive ones joined by
a blank line; each image with status ``ok`` as its code grid; failed images left out. With
``image_descriptions`` each image is followed by its caption (else its usable alt text,
``caption.policy.description``), which is how the model sees image-to-text examples inside
interleaved pages.

An image whose bytes do not decode fails in place (image-level ``rejected`` row
``undecodable_image``); a document left with neither text nor images is rejected
(``nothing_to_tokenize``), and so is one whose segments refer to an image it does not have
(``bad_image_reference``).

The stage produces ``token_layout.json`` and ``tokenizer.json`` (``tokenize.vocabulary``): the
runner writes them beside ``shards/`` when the run commits, so the corpus trains as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dataengine.caption.policy import description
from dataengine.filters.images import fail_image
from dataengine.stages.base import Stage
from dataengine.tokenize.vocabulary import LAYOUT_FILE, TOKENIZER_FILE, CorpusVocabulary, layout_for, vocabulary_files
from schemas import Document
from schemas.token_layout import ImageCodes, Part
from schemas.token_parts import token_parts
from trainer.text_tokenizer import TextTokenizer, load_text_tokenizer, tokenizer_digest


def resolve_device(device: str) -> str:
    """``auto`` is ``cuda`` when a GPU is visible, else ``cpu``; anything else is returned as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class TokenizeConfig:
    """The ``tokenize`` parameters.

    ``text_tokenizer`` is a spec (``byte``, a local tokenizer directory or ``tokenizer.json``,
    or a hub name; see ``trainer.text_tokenizer``); ``vq`` a checkpoint written by ``trainer
    vq train`` (required); ``max_grid`` the largest image grid side the layout can express;
    ``image_descriptions`` follows each image with its description; ``device`` (``auto``: a GPU
    when there is one) and ``batch_size`` images per VQ call.
    """

    text_tokenizer: str = "byte"
    vq: str | None = None
    max_grid: int = 64
    image_descriptions: bool = False
    device: str = "auto"
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class DocumentTokenizer(Stage):
    """Tokenize whole documents: text with ``text_tokenizer``, images with the VQ at ``vq`` (``TokenizeConfig``)."""

    name = "tokenize"
    version = "1"
    reads = frozenset({"segments", "images.data"})
    writes = frozenset({"tokens"})
    produces = (LAYOUT_FILE, TOKENIZER_FILE)
    Config = TokenizeConfig
    config: TokenizeConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        if self.config.vq is None:
            raise ValueError("tokenize: vq (a VQ checkpoint from `trainer vq train`) is required")
        self.vq: str = self.config.vq

    def _vocabulary(self, text: TextTokenizer, images: Any) -> CorpusVocabulary:
        """The vocabulary of the loaded text tokenizer and VQ (``trainer.vq.tokenizer.ImageTokenizer``)."""
        layout = layout_for(text.vocab_size, images.codebook_size, images.grid, self.config.max_grid)
        spec = self.config.text_tokenizer
        return CorpusVocabulary(layout, spec, self.vq, tokenizer_digest(spec))

    def setup(self) -> None:
        """Load the text tokenizer and the VQ on the device, and lay out their vocabularies."""
        from trainer.vq.tokenizer import ImageTokenizer

        self.text = load_text_tokenizer(self.config.text_tokenizer)
        self.images = ImageTokenizer.load(self.vq, resolve_device(self.config.device))
        self.vocabulary = self._vocabulary(self.text, self.images)
        self.layout = self.vocabulary.layout

    def corpus_files(self) -> dict[str, str]:
        """``token_layout.json`` and ``tokenizer.json``; the tokenizers are read on the CPU, only for their sizes."""
        from trainer.vq.tokenizer import ImageTokenizer

        text, images = load_text_tokenizer(self.config.text_tokenizer), ImageTokenizer.load(self.vq)
        return vocabulary_files(self._vocabulary(text, images))

    def _decode_images(self, docs: list[Document]) -> dict[tuple[int, int], Any]:
        """Every ``ok`` image decoded and cut to the VQ's input square, keyed by (document position, image position).

        Cutting here, as ``ImageTokenizer.encode`` would, keeps a batch of large photos small in
        memory and spares the VQ a second pass over the full-size pixels. Failures fail in place.
        """
        from trainer.vq.tokenizer import square_resize, to_pil

        size = self.images.resolution
        pictures = {}
        for d, doc in enumerate(docs):
            for i, image in enumerate(doc.images):
                if image.status != "ok":
                    continue
                if image.data is None:
                    fail_image(self, doc, image, "image_bytes_missing", detail="status ok but no bytes")
                    continue
                try:
                    pictures[(d, i)] = square_resize(to_pil(image.data), size)
                except Exception as exc:  # PIL raises many types for bad bytes
                    fail_image(self, doc, image, "undecodable_image", detail=f"{type(exc).__name__}: {exc}"[:500])
        return pictures

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Set ``tokens`` on every document; reject those with nothing left to tokenize."""
        pictures = self._decode_images(docs)
        keys = list(pictures)
        codes = self.images.encode([pictures[k] for k in keys], self.config.batch_size) if keys else []
        grids = dict(zip(keys, codes))
        describe = description if self.config.image_descriptions else None
        planned: list[tuple[int, Document, list[str | int]]] = []
        for d, doc in enumerate(docs):
            try:
                planned.append((d, doc, token_parts(doc, describe)))
            except ValueError as exc:
                self.reject(doc, "bad_image_reference", detail=str(exc)[:2000])
        texts = [part for _, _, plan in planned for part in plan if isinstance(part, str)]
        encoded = iter(self.text.encode_batch(texts))
        kept = []
        for d, doc, plan in planned:
            parts: list[Part] = [np.asarray(next(encoded), dtype=np.int64) if isinstance(part, str)
                                 else ImageCodes(grids[(d, part)]) for part in plan]
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
