"""Finding and reading WebDataset shards of a corpus, on local disk or any fsspec filesystem (``s3://``).

A corpus is a directory with ``shards/NAME.tar`` (the engine's output: only the shards its
ledger commits count), its ``shards/`` folder, a directory of ``.tar`` files, or a single
``.tar``; the names and the commit rule are ``schemas.corpus``'s. A sample is the dict of its
members keyed by extension (``json``, ``0.png``, ``tokens.npy``, ...) plus ``__key__``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import fsspec
from webdataset.tariterators import group_by_keys, tar_file_iterator

from schemas.corpus import (
    JSON_MEMBER,
    SHARDS,
    TAR,
    TOKENIZER_FILE,
    TOKENS_MEMBER,
    committed_shards,
    corpus_root,
    join,
    read_token_layout,
    shard_of,
)
from schemas.document import Document, read_document
from schemas.token_layout import TokenLayout

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """A corpus path holds no shards, or its files are unreadable."""


def list_shards(corpus: str) -> list[str]:
    """Sorted URLs of the corpus's committed ``.tar`` shards."""
    fs, path = fsspec.core.url_to_fs(corpus)
    protocol = corpus.split("://", 1)[0] + "://" if "://" in corpus else ""
    if path.endswith(TAR):
        if not fs.exists(path):
            raise CorpusError(f"shard {corpus} does not exist")
        return [corpus]
    if not fs.exists(path):
        raise CorpusError(f"corpus {corpus} does not exist")
    committed = committed_shards(fs, corpus_root(fs, path))
    for sub in (join(path, SHARDS), path):
        found = sorted(p for p in fs.glob(join(sub, "*" + TAR)))
        if committed is not None:
            found = [p for p in found if shard_of(p.rsplit("/", 1)[-1]) in committed]
        if found:
            return [protocol + p if protocol and not p.startswith(protocol) else p for p in found]
    raise CorpusError(f"corpus {corpus} has no .tar shards (looked in {corpus}/shards/ and {corpus}/)")


def corpus_layout(corpus: str) -> TokenLayout | None:
    """The corpus's ``token_layout.json`` (beside ``shards/``), or None when it is not tokenized."""
    fs, path = fsspec.core.url_to_fs(corpus)
    return read_token_layout(fs, corpus_root(fs, path))


def corpus_tokenizers(corpus: str) -> dict[str, Any]:
    """What the corpus's ``tokenizer.json`` records of the tokenizers that wrote its tokens (``text``, ``vq``).

    Empty when the corpus has none or it does not read: it is a hint for messages, never a setting.
    """
    fs, path = fsspec.core.url_to_fs(corpus)
    try:
        with fs.open(join(corpus_root(fs, path), TOKENIZER_FILE), "r") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def holds_tokens(corpus: str) -> bool:
    """Whether the corpus's first sample carries ``KEY.tokens.npy`` (the engine tokenized it)."""
    first = next(read_samples(list_shards(corpus)[0]), {})
    return TOKENS_MEMBER in first


def read_samples(url: str) -> Iterator[dict[str, Any]]:
    """Samples of one shard in file order: ``{"__key__": ..., "json": bytes, "0.png": bytes, ...}``.

    A truncated or corrupt shard ends its stream with an error logged (the samples read
    so far are kept), so one bad file never stops training.
    """
    try:
        with fsspec.open(url, "rb") as stream:
            files = tar_file_iterator(stream)
            yield from group_by_keys(({**f, "__url__": url} for f in files), lcase=False)
    except (OSError, EOFError, ValueError) as exc:
        log.error("shard %s is unreadable past this point: %s", url, exc)


def is_pair_loser(sample: dict[str, Any]) -> bool:
    """Whether the sample is the losing side of a preference pair (``assessment.role`` is ``rejected``).

    Such a candidate is in an alignment corpus only as the other half of a pair; it is never
    a target to fine-tune on, so the loader passes over it.
    """
    raw = sample.get(JSON_MEMBER)
    if not raw or b'"assessment"' not in raw:
        return False
    try:
        return (json.loads(raw).get("assessment") or {}).get("role") == "rejected"
    except (ValueError, AttributeError):
        return False  # the tokenizer reports what is wrong with it


def sample_document(sample: dict[str, Any]) -> Document:
    """The ``KEY.json`` of a sample as a ``schemas.Document``; ``ValueError`` naming the key when missing or broken."""
    raw = sample.get(JSON_MEMBER)
    if raw is None:
        raise ValueError(f"sample {sample.get('__key__')} has no .json member")
    return read_document(raw, str(sample.get("__key__")))
