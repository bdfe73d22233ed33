"""The demo: the engine, or the whole loop, on the embedded sample web, on this machine.

- ``engine``: ``run_demo``, the sample web generated, served on loopback and crawled by a
  pipeline into a corpus, and ``summarize``, what the catalog says about it.
- ``loop``: ``run_full_loop``, the whole loop from crawl to a trained model's captions
  (``make demo``).
- ``commands``: ``dataengine demo`` (``--full`` for the whole loop).
"""
