"""Shard IO: WebDataset tars of documents with Parquet manifests beside them.

- ``layout``: where things are in a corpus (``shards/``, ``rejected/``, ``ledger/``, ``runs/``).
- ``writer``: ``ShardWriter`` (one partition's documents -> committed shards) and ``write_rejected``.
- ``parquet``: ``read_table``/``write_table``, the corpus's Parquet tables through fsspec.
- ``reader``: ``ShardReader`` (stream a shard, or ``get(doc_id)`` with one ranged read).
- ``ledger``: ``Ledger``, which partitions are committed (``ledger/PARTITION.json``).
- ``run_record``: ``RunRecord``, what a run did (``runs/RUN_ID.json``).
- ``ray_documents``: ``read_documents(corpus)``, a ``ray.data.Dataset`` of whole documents.
- ``edit``: ``edit_partition``, a committed partition rewritten and committed anew (dedup, opt-out).
- ``hf``: ``write_dataset_card(corpus)``, the ``README.md`` whose YAML header lets Hugging Face
  ``datasets.load_dataset(CORPUS)`` read shards whose documents differ in their members, and
  ``hf_features(corpus)``, the same features for reading the shards as data files (see that module).
"""

from dataengine.shards.hf import hf_features, write_dataset_card
from dataengine.shards.layout import CorpusError, list_shards, shard_name, shard_urls
from dataengine.shards.ray_documents import read_documents
from dataengine.shards.reader import ShardReader, decode_sample, iter_corpus
from dataengine.shards.writer import MiB, ShardInfo, ShardWriter, encode_document, write_rejected

__all__ = ["hf_features", "read_documents", "write_dataset_card", "CorpusError", "list_shards", "shard_name",
           "shard_urls", "ShardReader", "decode_sample", "iter_corpus", "MiB", "ShardInfo", "ShardWriter",
           "encode_document", "write_rejected"]
