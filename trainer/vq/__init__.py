"""The VQ image tokenizer: model, image-level API (``ImageTokenizer``) and training."""
