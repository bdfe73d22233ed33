"""Shard IO: WebDataset tars of documents with Parquet manifests beside them.

- ``layout``: where things are in a corpus (``shards/``, ``rejected/``, ``ledger/``, ``runs/``).
- ``writer``: ``ShardWriter`` (one partition's documents -> committed shards) and ``write_rejected``.
- ``reader``: ``ShardReader`` (stream a shard, or ``get(doc_id)`` with one ranged read).
- ``ledger``: ``Ledger``, which partitions are committed (``ledger/PARTITION.json``).
- ``run_record``: ``RunRecord``, what a run did (``runs/RUN_ID.json``).
- ``edit``: ``edit_partition``, a committed partition rewritten and committed anew (dedup, opt-out).
- ``hf``: ``hf_features(corpus)``, the explicit features Hugging Face ``datasets`` needs to read
  shards whose documents differ in their members (see that module).
"""

from dataengine.shards.hf import hf_features
from dataengine.shards.layout import CorpusError, list_shards, shard_name, shard_urls
from dataengine.shards.reader import ShardReader, decode_sample, iter_corpus
from dataengine.shards.writer import MiB, ShardInfo, ShardWriter, encode_document, write_rejected

__all__ = ["hf_features", "CorpusError", "list_shards", "shard_name", "shard_urls", "ShardReader", "decode_sample",
           "iter_corpus", "MiB", "ShardInfo", "ShardWriter", "encode_document", "write_rejected"]
