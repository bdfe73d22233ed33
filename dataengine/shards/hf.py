"""Reading a corpus with Hugging Face ``datasets``: pass explicit features, always.

``datasets``' WebDataset builder (``datasets/packaged_modules/webdataset``, checked in 5.2)
infers the features from the first 5 samples of the first tar only: it raises
``ValueError`` when those samples have different member sets, and afterwards *silently
drops* every member and every JSON field that those 5 samples did not have (a second image,
``tokens.npy``, a ``.jpg`` where the first ones were ``.png``, ``assessment``, new score
names...). Interleaved documents differ in their image count and formats, so the inference
cannot work for them. With ``features=`` given the builder skips inference, fills absent
members with ``None`` and keeps the document JSON whole (``Json()``), so:

    datasets.load_dataset("webdataset", data_files=shard_urls(corpus), split="train",
                          features=hf_features(corpus))

``hf_features`` takes the member names from the corpus's image tables, so it covers every
member the shards hold. One loss remains, in ``datasets`` itself: ``Json()`` stores the JSON
through pandas' ujson with ``double_precision=10``, so floats in the document (scores,
``language_score``) keep 10 decimal places (``0.5700000000000001`` -> ``0.57``, ``1e-12`` ->
``0.0``), and decoding adds pandas' fast-float error (``0.3`` -> ``0.30000000000000004``).
Image bytes, tokens, keys and every other JSON value come through exactly; ``ShardReader``,
``webdataset`` and ``ray.data`` give the JSON bytes unchanged.
"""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from dataengine.shards.layout import IMAGES, list_shards, open_corpus, shard_path
from schemas.corpus import TOKENS_MEMBER

__all__ = ["hf_features", "member_fields"]


def member_fields(corpus: str) -> list[str]:
    """Every image member field (``"0.jpg"``, ``"1.png"``...) that occurs in the corpus, sorted by index."""
    fs, root = open_corpus(corpus)
    fields: set[str] = set()
    for name in list_shards(corpus):
        with fs.open(shard_path(root, name, IMAGES), "rb") as f:
            members = pq.read_table(f, columns=["member"]).column("member").to_pylist()
        fields.update(m.split(".", 1)[1] for m in members if m and "." in m)
    return sorted(fields, key=lambda s: (int(s.split(".", 1)[0]) if s.split(".", 1)[0].isdigit() else 1 << 30, s))


def hf_features(corpus: str, decode_images: bool = True) -> Any:
    """``datasets.Features`` for ``load_dataset("webdataset", ...)`` over this corpus's shards.

    Columns: ``json`` (``Json()``, the whole document), one ``Image()`` column per image member
    field in the corpus (``None`` where a document has no such member), ``tokens.npy``
    (``List(Value("int32"))``), ``__key__`` and ``__url__``.
    """
    from datasets import Features, Image, Json, List, Value

    features: dict[str, Any] = {"json": Json()}
    for field in member_fields(corpus):
        features[field] = Image(decode=decode_images)
    features[TOKENS_MEMBER] = List(Value("int32"))
    features["__key__"] = Value("string")
    features["__url__"] = Value("string")
    return Features(features)
