"""Running a pipeline: its config, the partition ledger, the Ray Data plan and the run record."""
