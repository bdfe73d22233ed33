"""Publishing: the corpus-wide phase that hands training balanced, tokenized final shards.

- ``plan``: which document goes into which final shard (balanced by documents or tokens,
  a shard count divisible by the world size, partitions mixed by a seeded shuffle).
- ``publish``: ``publish(corpus, out, PlanConfig(...))``, writing the plan as a corpus.
- ``commands``: ``dataengine publish``.
"""
