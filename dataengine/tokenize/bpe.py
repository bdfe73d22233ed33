"""``train_bpe``: a byte-level BPE trained on a corpus's text, saved where the one loader reads it.

The BPE is trained with Hugging Face ``tokenizers`` (exact round trip: ``decode(encode(text))
== text``) and registers the layout's special tokens (``schemas.token_layout.SPECIALS``) as the
tokenizer's special tokens, so tools that load the directory with ``AutoTokenizer`` know
``bos``/``eos``/``pad``. They take the first ids of the text range and never come out of
``encode``; in a token sequence the layout's own special ids (above the image codebook) mark
documents and images.

The output directory is a spec of ``trainer.text_tokenizer.load_text_tokenizer``, the loader
both the ``tokenize`` stage and the trainer use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from schemas.token_layout import SPECIALS
from trainer.text_tokenizer import RustTokenizer

MIN_BPE_VOCAB = 256 + len(SPECIALS)  # the byte alphabet plus the registered specials


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: str | Path, min_frequency: int = 2,
              progress: bool = False) -> RustTokenizer:
    """Train a byte-level BPE on ``texts`` and save it in ``out_dir``; returns it loaded from there.

    ``out_dir`` gets ``tokenizer.json`` (the ``tokenizers`` file) and ``tokenizer_config.json``
    (so ``AutoTokenizer.from_pretrained(out_dir)`` loads it with ``bos``/``eos``/``pad`` set).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < MIN_BPE_VOCAB:
        raise ValueError(f"--vocab-size must be at least {MIN_BPE_VOCAB} (256 bytes + {len(SPECIALS)} special "
                         f"tokens), got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=progress)
    tokenizer.train_from_iterator(texts, trainer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|bos|>", eos_token="<|eos|>",
                            pad_token="<|pad|>").save_pretrained(str(out))
    return RustTokenizer(str(out), Tokenizer.from_file(str(out / "tokenizer.json")))
