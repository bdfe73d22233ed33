"""WET records (``WARC-Type: conversion``): text Common Crawl already extracted, as text-only documents.

A WET file is a WARC file whose records hold each page's plain text, one block (paragraph,
heading, list item) per line. Each non-empty line becomes one text segment. The documents
carry no ``raw`` page, so extraction has nothing to do for them, and no images.
"""

from __future__ import annotations

from schemas import Document, Rejection, Segment, SourceRef, document_id

STAGE = "source:warc"


def conversion_document(record, uri: str, offset: int, max_body_bytes: int) -> Document | Rejection:
    """The text-only document of one ``conversion`` record, or a rejection saying why there is none."""
    url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
    doc_id = document_id(url, uri, offset)
    if not url:
        return Rejection(doc_id, None, "document", STAGE, "no_target_uri",
                         detail=f"{uri} at byte {offset}: conversion record without WARC-Target-URI")
    body = record.content_stream().read(max_body_bytes + 1)
    if len(body) > max_body_bytes:
        return Rejection(doc_id, url, "document", STAGE, "body_too_large",
                         value=float(len(body)), threshold=float(max_body_bytes))
    try:
        text = body.decode("utf-8")  # WET is UTF-8 by definition; anything else is a broken record
    except UnicodeDecodeError as exc:
        return Rejection(doc_id, url, "document", STAGE, "undecodable", detail=f"{uri} at byte {offset}: {exc}")
    paragraphs = [line.strip() for line in text.splitlines() if line.strip()]
    if not paragraphs:
        return Rejection(doc_id, url, "document", STAGE, "empty_text", detail=f"{uri} at byte {offset}")
    source = SourceRef("warc", uri, offset, None, record.rec_headers.get_header("WARC-Date"))
    return Document(id=doc_id, url=url, source=source, segments=[Segment.of_text(p) for p in paragraphs])
