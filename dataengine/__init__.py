"""dataengine: build interleaved image-text corpora for unified multimodal models.

Where things live:

- ``sources/``: where documents come from (WARC files, the sample web's sitemap, ...).
- ``extract/``: HTML to interleaved documents.
- ``images/``: fetching document images.
- ``stages/``: the stage base class and the registry the pipeline YAML names.
- ``shards/``: WebDataset shard writer/reader and their Parquet manifests.
- ``catalog/``: the DuckDB views over a corpus, and ``validate``.
- ``runner/``: pipeline config, partitions, the ledger and the Ray Data plan.
- ``sampleweb/``: the embedded sample website used by the demo and the tests.
"""

__version__ = "0.1.0"
