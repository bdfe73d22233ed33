"""Deduplication: a global phase over a finished corpus, run as ``dataengine dedup CORPUS``.

Duplicates are a property of the whole corpus, not of a partition, so this is a phase
of its own over the manifests (see ``phase``), not a stage:

- ``config``: ``DedupConfig``, every threshold, from YAML and ``--set``.
- ``minhash``: numpy MinHash signatures and LSH band keys of many documents at once.
- ``phash``: imagehash's pHash, its bands, and a colour thumbnail.
- ``signatures``: the per-shard pass that writes signature tables.
- ``decide``: DuckDB over manifests and signatures, to one table of removals.
- ``rewrite``: one partition rewritten without what was removed, every removal a
  ``rejected`` row (stage ``dedup``).
- ``commit``: staged in-place swap with recovery, or a new corpus at ``--out``.
- ``commands``: the CLI.

Python use::

    from dataengine.dedup import DedupConfig, run_dedup
    result = run_dedup("corpus", DedupConfig(jaccard_threshold=0.85), executor="local")
"""

from dataengine.dedup.config import DedupConfig, load_config
from dataengine.dedup.phase import DedupResult, run_dedup

__all__ = ["DedupConfig", "load_config", "DedupResult", "run_dedup"]
