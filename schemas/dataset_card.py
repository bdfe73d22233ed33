"""The dataset card of a corpus (``CORPUS/README.md``): what Hugging Face ``datasets`` reads unchanged.

``datasets.load_dataset(CORPUS)`` on a folder with a ``README.md`` takes its YAML header:
``configs`` names the data files of the default configuration (``shards/*.tar``, read by the
WebDataset builder) and ``dataset_info.features`` gives the columns, so the builder does not
infer them from the first samples (which fails or drops members when documents differ in
their images; see ``dataengine.shards.hf``). The features are:

- ``json``: the whole document (``Json()``: segments, images, scores, provenance, assessment);
- one ``Image()`` column per image member field of the corpus (``0.jpg``, ``1.png``, ...),
  ``None`` where a document has no such member;
- ``tokens.npy``: the token sequence (``List(int32)``), ``None`` before tokenization;
- ``__key__`` and ``__url__``: the document id and the tar it came from.

``datasets`` gives one builder to all configurations of a folder, so the tables
(``docs/``, ``images/``, ``rejected/``) are not configurations here; the card says how to read
them with the Parquet builder, which opens each folder as it is.
"""

from __future__ import annotations

from typing import Any

import yaml

from schemas.corpus import DOCS, IMAGES, REJECTED, SHARDS, TOKENS_MEMBER

CARD_FILE = "README.md"


def card_features(member_fields: list[str]) -> list[dict[str, Any]]:
    """The ``dataset_info.features`` list (``datasets``' YAML form) for shards with these image member fields."""
    return [{"name": "json", "dtype": "json"},
            *({"name": f, "dtype": "image"} for f in member_fields),
            {"name": TOKENS_MEMBER, "list": "int32"},
            {"name": "__key__", "dtype": "string"},
            {"name": "__url__", "dtype": "string"}]


def render_card(name: str, member_fields: list[str], counts: dict[str, int]) -> str:
    """The text of ``README.md``: the YAML header ``datasets`` reads, then how to open each part of the corpus.

    ``counts`` holds ``documents``, ``shards``, ``images`` (image slots) and ``images_ok``.
    """
    header = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": f"{SHARDS}/*.tar"}]}],
        "dataset_info": {"features": card_features(member_fields)},
        "tags": ["webdataset", "interleaved", "image-text"],
    }
    body = f"""# {name}

An interleaved image-text corpus written by dataengine: {counts.get("documents", 0)} documents in
{counts.get("shards", 0)} WebDataset shards, with {counts.get("images_ok", 0)} images stored of
{counts.get("images", 0)} referenced.

| folder | what it holds |
|---|---|
| `{SHARDS}/NAME.tar` | a sample per document: `KEY.json`, images `KEY.0.jpg`, ..., `KEY.tokens.npy` once tokenized |
| `{DOCS}/NAME.parquet` | one row per document of `{SHARDS}/NAME.tar` (id, url, counts, scores, byte offset) |
| `{IMAGES}/NAME.parquet` | one row per image slot, failed ones too (url, size, hashes, status, error) |
| `{REJECTED}/PARTITION.parquet` | everything a stage removed, with the stage, the reason and the measured value |

```python
import datasets
docs = datasets.load_dataset("CORPUS", split="train")                 # documents with their images
table = datasets.load_dataset("parquet", data_files="CORPUS/{DOCS}/*.parquet", split="train")
```

`scores` columns are lists of `{{name, value}}` entries; `dataengine sql CORPUS` shows them as maps
(`scores['clip']`). Documents with fewer images than the widest one have `None` in the extra
image columns.
"""
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n" + body
