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
- ``demo/``: ``dataengine demo``, the engine or the whole loop on the sample web.
- ``errors.py``: the user-facing error types every package raises and every command reports.

Each package's CLI lives in its ``commands.py``, listed in ``cli.COMMANDS``.
"""

__version__ = "0.1.0"
