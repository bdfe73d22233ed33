"""Data: shards on disk or s3://, document tokenization, image-safe packing, the resumable loader."""
