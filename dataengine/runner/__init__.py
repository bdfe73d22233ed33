"""Running work on Ray: a pipeline (its config and the Ray Data plan), the Ray session, the CLI.

The ledger and the run record a run writes belong to the corpus and live beside its layout
(``dataengine.shards.ledger``, ``dataengine.shards.run_record``).
"""
