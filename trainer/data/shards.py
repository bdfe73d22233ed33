"""Finding and reading WebDataset shards of a corpus, on local disk or any fsspec filesystem (``s3://``).

A corpus is a directory with ``shards/NAME.tar`` (the engine's output: only the shards its
ledger commits count, see ``schemas.corpus``), or a directory of ``.tar`` files, or a single
``.tar``. A sample is the dict of its members keyed by
extension (``json``, ``0.png``, ``tokens.npy``, ...) plus ``__key__``.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import fsspec
from webdataset.tariterators import group_by_keys, tar_file_iterator

from schemas.corpus import SHARDS, TAR, committed_shards
from schemas.document import Document, read_document
from schemas.token_layout import TokenLayout

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """A corpus path holds no shards, or its files are unreadable."""


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def list_shards(corpus: str) -> list[str]:
    """Sorted URLs of the corpus's committed ``.tar`` shards."""
    fs, path = fsspec.core.url_to_fs(corpus)
    protocol = corpus.split("://", 1)[0] + "://" if "://" in corpus else ""
    if path.endswith(".tar"):
        if not fs.exists(path):
            raise CorpusError(f"shard {corpus} does not exist")
        return [corpus]
    if not fs.exists(path):
        raise CorpusError(f"corpus {corpus} does not exist")
    committed = committed_shards(fs, path)
    for sub in (_join(path, SHARDS), path):
        found = sorted(p for p in fs.glob(_join(sub, "*.tar")))
        if committed is not None:
            found = [p for p in found if p.rsplit("/", 1)[-1][: -len(TAR)] in committed]
        if found:
            return [protocol + p if protocol and not p.startswith(protocol) else p for p in found]
    raise CorpusError(f"corpus {corpus} has no .tar shards (looked in {corpus}/shards/ and {corpus}/)")


def corpus_layout(corpus: str) -> TokenLayout | None:
    """The corpus's ``token_layout.json`` (beside ``shards/``), or None when it is not tokenized."""
    fs, path = fsspec.core.url_to_fs(corpus)
    if path.endswith(".tar"):
        path = path.rsplit("/", 1)[0]
        if path.endswith("/shards"):
            path = path[: -len("/shards")]
    for candidate in (_join(path, "token_layout.json"), _join(path.rsplit("/", 1)[0], "token_layout.json")):
        if fs.exists(candidate):
            with fs.open(candidate, "r") as f:
                return TokenLayout.from_json(f.read())
    return None


def holds_tokens(corpus: str) -> bool:
    """Whether the corpus's first sample carries ``KEY.tokens.npy`` (the engine tokenized it)."""
    first = next(read_samples(list_shards(corpus)[0]), {})
    return "tokens.npy" in first


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


def sample_document(sample: dict[str, Any]) -> Document:
    """The ``KEY.json`` of a sample as a ``schemas.Document``; ``ValueError`` naming the key when missing or broken."""
    raw = sample.get("json")
    if raw is None:
        raise ValueError(f"sample {sample.get('__key__')} has no .json member")
    return read_document(raw, str(sample.get("__key__")))
