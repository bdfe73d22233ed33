"""A corpus exported to the OBELICS parquet layout (``dataengine obelics export``).

Each document becomes a row, one list position per segment (see ``dataengine.sources.obelics``
for the layout). The document's id, title and language, and each image's sha256, size and
status ride along in the metadata JSON (extra keys, which OBELICS readers ignore), so that an
export read back by the import gives the same segments, image URLs, alt texts, titles and
languages.

Which images are written:

- images that failed (a 404, an opt-out such as ``X-Robots-Tag: noai``, bytes that were not
  an image...) are left out by default, so that nobody downstream fetches them again;
  ``keep_failed`` keeps them, with their ``status`` and ``error`` in the metadata;
- the layout has no place for an image without a URL (a decoded ``data:`` URI, an image
  that came with its bytes only): such segments are left out.

With ``image_bytes`` the ``images`` column holds the images themselves, as Hugging Face
``Image`` values (``{bytes, path}``; the URL stays in the metadata's ``src``), and the file
carries ``datasets``' feature metadata, so ``load_dataset("parquet", data_files=OUT)`` gives
decoded images unchanged. Only stored images (status ``ok``) can be written that way; the
others are left out. Every image left out is counted by reason in ``ExportSummary.left_out``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dataengine.sources.obelics import SCHEMA
from schemas import Document, ImageRecord

BATCH_BYTES = 64 * 1024 * 1024  # image bytes held before a row group is written


def bytes_schema() -> pa.Schema:
    """The layout with images as ``datasets.Image`` values, with the feature metadata ``datasets`` reads."""
    from datasets import Features, Image, List, Value

    return Features({"images": List(Image()), "metadata": Value("string"), "general_metadata": Value("string"),
                     "texts": List(Value("string"))}).arrow_schema


def _left_out_reason(image: ImageRecord, image_bytes: bool, keep_failed: bool) -> str | None:
    """Why ``image`` cannot be written, or ``None`` when it can."""
    if image_bytes:
        return None if image.status == "ok" and image.data is not None else \
            ("failed" if image.status == "failed" else "not_fetched")
    if not image.url or image.url.startswith("data:"):
        return "no_url"
    if image.status == "failed" and not keep_failed:
        return "failed"
    return None


def document_row(doc: Document, image_bytes: bool = False, keep_failed: bool = False) -> tuple[dict[str, Any],
                                                                                              Counter[str]]:
    """One document as an OBELICS row, and the reasons of the image segments left out."""
    images: list[Any] = []
    texts: list[str | None] = []
    metadata: list[dict[str, Any] | None] = []
    left_out: Counter[str] = Counter()
    for seg in doc.segments:
        if seg.kind == "text":
            images.append(None)
            texts.append(seg.text or "")
            metadata.append(None)
            continue
        image = doc.images[seg.image]
        reason = _left_out_reason(image, image_bytes, keep_failed)
        if reason:
            left_out[reason] += 1
            continue
        meta = {"document_url": doc.url, "src": image.url, "alt_text": image.alt, "title": image.title,
                "original_width": image.width, "original_height": image.height, "format": image.format,
                "sha256": image.sha256, "status": image.status, "error": image.error}
        images.append({"bytes": image.data, "path": None} if image_bytes else image.url)
        texts.append(None)
        metadata.append({k: v for k, v in meta.items() if v is not None})
    general = {"url": doc.url, "id": doc.id, "title": doc.title, "language": doc.language}
    if doc.source.kind == "warc":
        general.update(warc_filename=doc.source.uri, warc_record_offset=doc.source.offset,
                       warc_record_length=doc.source.length)
    row = {"images": images, "metadata": json.dumps(metadata, ensure_ascii=False),
           "general_metadata": json.dumps({k: v for k, v in general.items() if v is not None}, ensure_ascii=False),
           "texts": texts}
    return row, left_out


@dataclass
class ExportSummary:
    """What ``export_obelics`` wrote, and the image segments it left out by reason."""

    documents: int = 0
    segments: int = 0
    images: int = 0
    left_out: Counter[str] = field(default_factory=Counter)  # failed, not_fetched, no_url


def export_obelics(docs: Iterator[Document], out, image_bytes: bool = False, keep_failed: bool = False,
                   batch_rows: int = 1000) -> ExportSummary:
    """Write ``docs`` to the open binary file ``out`` in the OBELICS layout.

    A row group is written every ``batch_rows`` documents, or sooner once ``BATCH_BYTES`` of
    image bytes are held, so memory stays bounded whatever the corpus holds.
    """
    if image_bytes and keep_failed:
        raise ValueError("keep_failed needs image URLs: an export with image bytes holds stored images only")
    schema = bytes_schema() if image_bytes else SCHEMA
    summary = ExportSummary()
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict[str, Any]] = []
        held = 0
        for doc in docs:
            row, left_out = document_row(doc, image_bytes, keep_failed)
            batch.append(row)
            summary.documents += 1
            summary.segments += len(row["texts"])
            summary.images += sum(1 for x in row["images"] if x is not None)
            summary.left_out.update(left_out)
            held += sum(len(x["bytes"]) for x in row["images"] if isinstance(x, dict))
            if len(batch) >= batch_rows or held >= BATCH_BYTES:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch, held = [], 0
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return summary
