"""``dataengine tokenizer train CORPUS --vocab-size N --out DIR``: a byte-level BPE for a corpus.

The BPE is trained with Hugging Face ``tokenizers`` on the corpus's text (every text segment,
alt text and caption, read with ``dataengine.shards.iter_corpus``), with the token layout's
special tokens registered; ``DIR`` then works as ``tokenize``'s ``text_tokenizer`` and as the
trainer's ``tokenizer.text``. The training is recorded in the corpus's run records
(``CORPUS/runs/RUN_ID.json``, pipeline ``tokenizer-train``: the output directory, the vocabulary
size and the sha256 of ``tokenizer.json``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

from dataengine.errors import CorpusError, UsageError


def corpus_texts(corpus: str, counts: dict[str, int]) -> Iterator[str]:
    """Every text segment, alt text and caption of ``corpus``; ``counts`` gets documents and texts seen."""
    from dataengine.shards import iter_corpus

    for doc in iter_corpus(corpus):
        counts["documents"] += 1
        for seg in doc.segments:
            if seg.kind == "text" and seg.text:
                counts["texts"] += 1
                yield seg.text
        for image in doc.images:
            for text in (image.alt, image.caption):
                if text:
                    counts["texts"] += 1
                    yield text


def train_corpus_tokenizer(corpus: str, vocab_size: int, out: str, min_frequency: int = 2,
                           progress: bool = False) -> dict[str, object]:
    """Train the BPE on ``corpus``, save it in ``out``, record the run in the corpus; returns the record's summary."""
    from dataengine.shards.layout import open_corpus
    from dataengine.shards.run_record import RunRecord, new_run_id
    from dataengine.tokenize.bpe import train_bpe
    from trainer.text_tokenizer import tokenizer_digest

    open_corpus(corpus)
    record = RunRecord(new_run_id(), "tokenizer-train", {"command": "tokenizer train", "corpus": corpus,
                                                         "out": out, "vocab_size": vocab_size,
                                                         "min_frequency": min_frequency}, corpus)
    counts = {"documents": 0, "texts": 0}
    start = time.perf_counter()
    with record.running():
        tokenizer = train_bpe(corpus_texts(corpus, counts), vocab_size, out, min_frequency, progress)
        if counts["texts"] == 0:
            raise ValueError(f"corpus {corpus} has no text to train a tokenizer on")
        record.config.update(text_tokenizer=tokenizer.spec, trained_vocab_size=tokenizer.vocab_size,
                             tokenizer_sha256=tokenizer_digest(out))
        record.add({"tokenizer_train": {"in": counts["documents"], "texts": counts["texts"]}},
                   {"tokenizer_train": time.perf_counter() - start})
    return {"run_id": record.run_id, **record.config, **counts}


def _train(args: argparse.Namespace) -> int:
    try:
        summary = train_corpus_tokenizer(args.corpus, args.vocab_size, args.out, args.min_frequency,
                                         progress=not args.quiet)
    except (CorpusError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    print(f"trained a BPE of {summary['trained_vocab_size']} tokens on {summary['texts']} texts from "
          f"{summary['documents']} documents into {args.out}", file=sys.stderr)
    print(f"use it as: tokenize params text_tokenizer: {args.out}  (trainer: tokenizer.text={args.out})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``tokenizer`` (``tokenizer train``) to the CLI."""
    p = sub.add_parser("tokenizer", help="train a text tokenizer on a corpus",
                       description="Text tokenizers for tokenizing a corpus.")
    actions = p.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True)
    t = actions.add_parser("train", help="train a byte-level BPE on the corpus text",
                           description="Train a byte-level BPE with Hugging Face tokenizers on CORPUS's text, "
                                       "registering the token layout's special tokens, and record it in the "
                                       "corpus's run records.")
    t.add_argument("corpus", help="corpus folder or fsspec URL")
    t.add_argument("--vocab-size", type=int, required=True, help="vocabulary size (at least 261)")
    t.add_argument("--out", required=True, help="output directory (tokenizer.json, tokenizer_config.json)")
    t.add_argument("--min-frequency", type=int, default=2, help="least count of a merged pair (default 2)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)
