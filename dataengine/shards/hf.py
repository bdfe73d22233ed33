"""Reading a corpus with Hugging Face ``datasets``, and the dataset card that makes it work unchanged.

``datasets``' WebDataset builder (``datasets/packaged_modules/webdataset``, checked in 5.2)
infers the features from the first 5 samples of the first tar only: it raises
``ValueError`` when those samples have different member sets, and afterwards *silently
drops* every member and every JSON field that those 5 samples did not have (a second image,
``tokens.npy``, a ``.jpg`` where the first ones were ``.png``, ``assessment``, new score
names...). Interleaved documents differ in their image count and formats, so the inference
cannot work for them. With the features given the builder skips inference, fills absent
members with ``None`` and keeps the document JSON whole (``Json()``). Every command that
changes a corpus ends by writing its dataset card (``write_dataset_card``), whose YAML header
carries those features, so ``datasets.load_dataset(CORPUS)`` needs no arguments; where the
card cannot be used (a corpus on ``s3://``, which ``load_dataset`` takes only as data files)
``hf_features`` gives the same features:

    datasets.load_dataset("webdataset", data_files=shard_urls(corpus), split="train",
                          features=hf_features(corpus), storage_options=...)

The member names come from the corpus's image tables, so they cover every member the shards
hold. One loss remains, in ``datasets`` itself: ``Json()`` stores the JSON through pandas'
ujson with ``double_precision=10``, so floats in the document (scores, ``language_score``)
keep 10 decimal places (``0.5700000000000001`` -> ``0.57``, ``1e-12`` -> ``0.0``), and decoding
adds pandas' fast-float error (``0.3`` -> ``0.30000000000000004``). Image bytes, tokens, keys and
every other JSON value come through exactly; ``ShardReader``, ``webdataset`` and ``ray.data``
give the JSON bytes unchanged.
"""

from __future__ import annotations

from typing import Any

from dataengine.shards.layout import DOCS, IMAGES, join, list_shards, open_corpus, shard_path
from dataengine.shards.parquet import read_table
from schemas.dataset_card import CARD_FILE, card_features, render_card

__all__ = ["hf_features", "member_fields", "write_dataset_card"]


def _image_rows(corpus: str) -> tuple[list[str], list[str | None]]:
    fs, root = open_corpus(corpus)
    names, members = list_shards(corpus), []
    for name in names:
        members += read_table(fs, shard_path(root, name, IMAGES), ["member"]).column("member").to_pylist()
    return names, members


def _fields(members: list[str | None]) -> list[str]:
    fields = {m.split(".", 1)[1] for m in members if m and "." in m}

    def order(field: str) -> tuple[int, str]:
        index = field.split(".", 1)[0]
        return (int(index) if index.isdigit() else 1 << 30, field)

    return sorted(fields, key=order)


def member_fields(corpus: str) -> list[str]:
    """Every image member field (``"0.jpg"``, ``"1.png"``...) that occurs in the corpus, sorted by index."""
    return _fields(_image_rows(corpus)[1])


def hf_features(corpus: str, decode_images: bool = True) -> Any:
    """``datasets.Features`` for ``load_dataset("webdataset", ...)`` over this corpus's shards (the card's).

    Columns: ``json`` (``Json()``, the whole document), one ``Image()`` column per image member
    field in the corpus (``None`` where a document has no such member), ``tokens.npy``
    (``List(Value("int32"))``), ``__key__`` and ``__url__``.
    """
    from datasets import Features, Image

    features = Features._from_yaml_list(card_features(member_fields(corpus)))
    if not decode_images:
        features = Features({k: Image(decode=False) if isinstance(v, Image) else v for k, v in features.items()})
    return features


def write_dataset_card(corpus: str) -> str:
    """Write ``CORPUS/README.md`` for the corpus as it is now (its member fields and counts); return its path."""
    fs, root = open_corpus(corpus)
    names, members = _image_rows(corpus)
    documents = 0
    for name in names:
        documents += read_table(fs, shard_path(root, name, DOCS), ["id"]).num_rows
    counts = {"documents": documents, "shards": len(names), "images": len(members),
              "images_ok": sum(1 for m in members if m)}
    path = join(root, CARD_FILE)
    with fs.open(path, "w") as f:
        f.write(render_card(root.rstrip("/").rsplit("/", 1)[-1] or "corpus", _fields(members), counts))
    return path
