"""Tokenization: the stage that writes each document as one token sequence, and BPE training.

Text tokenizers are loaded with ``trainer.text_tokenizer.load_text_tokenizer(spec)`` (``byte``,
a local Hugging Face tokenizer, or a hub name), the trainer's own loader.

- ``bpe``: ``train_bpe`` (a byte-level BPE trained with ``tokenizers`` on a corpus's text).
- ``stage``: ``DocumentTokenizer``, the pipeline stage ``tokenize`` (text ids and the trainer's
  VQ codes, serialised in ``schemas.token_layout``, into ``Document.tokens``).
- ``vocabulary``: which tokenizers and layout a corpus was tokenized with
  (``CORPUS/token_layout.json`` and ``CORPUS/tokenizer.json``, written when a tokenize run commits).
- ``commands``: ``dataengine tokenizer train``.
"""
