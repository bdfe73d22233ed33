"""Captioning and tokenization throughput, each against the bare library or model it wraps.

- Text: the ``tokenize`` stage on text-only documents extracted from the real pages of
  ``../shared/fixtures/html`` (joining segments, ``encode_batch_fast``, laying out the sequence),
  against ``tokenizers.Tokenizer.encode_batch`` called directly on the same joined texts, with a
  BPE trained on those pages on the spot (ids taken out of the encodings on both sides), and
  against ``encode_batch_fast``, which the stage itself calls. Goal: ratio >= 0.9.
- Images: the ``tokenize`` stage on documents whose images are sample-web scenes and the
  fixture photos (decoding, VQ encode, layout), against ``ImageTokenizer.encode`` on the same
  bytes (and, for scale, on the pictures already decoded); the VQ is the demo's
  (``trainer/configs/vq_tiny.yaml``), random weights.
- Captions: the ``caption`` stage (policy ``all``) against the model called directly on the
  same images: a BLIP with ``BlipConfig()``'s default (base) architecture, random weights,
  loaded from a local directory, and the demo's unified model (``trainer/configs/tiny.yaml``).
  Random weights rarely stop early, so every caption runs to ``--max-new-tokens``.

Per actor: a Ray actor of a CPU stage has one core, so torch runs on one thread here
(``--threads``). Wall time, best of ``--rounds`` after a warm-up; the two sides of each ratio
alternate round by round. Nothing is asserted: figures and ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dataengine.sampleweb.images import png_bytes
from dataengine.sampleweb.scenes import random_scene, render_scene
from schemas import Document, ImageRecord, Segment, SourceRef, document_id

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def best_of(rounds: int, *fns: Callable[[], object]) -> list[float]:
    """Best wall time of each function over ``rounds`` alternating rounds, after one warm-up each."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def page_documents(copies: int) -> list[Document]:
    """Text-only documents extracted from the fixture pages, ``copies`` times over."""
    from dataengine.extract import extract_page

    pages = sorted((FIXTURES / "html").glob("*.html"))
    if not pages:
        raise SystemExit(f"no fixture pages in {FIXTURES / 'html'}; the text bench needs them")
    docs = []
    for copy in range(copies):
        for page in pages:
            url = f"https://fixture.test/{copy}/{page.name}"
            extracted = extract_page(page.read_bytes(), url)
            segments = [s for s in extracted.segments if s.kind == "text"]
            if segments:
                docs.append(Document(document_id(url), url, SourceRef("crawl", url), segments=segments))
    return docs


def image_documents(n: int) -> list[Document]:
    """Documents of one image each: sample-web scenes and the fixture photos, ``n`` in all."""
    import random

    photos = [p.read_bytes() for p in sorted((FIXTURES / "photos").glob("*")) if p.suffix in (".jpg", ".png")]
    rng = random.Random(0)
    docs = []
    for k in range(n):
        data = photos[k % len(photos)] if photos and k % 3 == 0 else png_bytes(render_scene(random_scene(rng), k))
        url = f"https://fixture.test/img/{k}"
        doc = Document(document_id(url), url, SourceRef("crawl", url), segments=[Segment.of_image(0)])
        doc.images.append(ImageRecord(0, url, alt="", status="ok", data=data, format=None))
        docs.append(doc)
    return docs


def bench_text(rounds: int, copies: int, vq: str, tmp: Path) -> None:
    from dataengine.tokenize.bpe import train_bpe
    from dataengine.tokenize.stage import DocumentTokenizer
    from schemas.token_parts import token_parts

    docs = page_documents(copies)
    train_bpe((s.text for d in docs for s in d.segments), 8192, tmp / "bpe")
    stage = DocumentTokenizer(text_tokenizer=str(tmp / "bpe"), vq=vq).ready()
    texts = [part for d in docs for part in token_parts(d) if isinstance(part, str)]
    backend = stage.text.backend
    ours, usual, fastest = best_of(
        rounds, lambda: stage.process_batch(docs),
        lambda: [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)],
        lambda: [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)])
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    n_tokens = sum(len(d.tokens) for d in stage.process_batch(docs))
    print(f"text: {len(docs)} documents, {n_bytes / 1e6:.1f} MB, {n_tokens} tokens (BPE 8192 trained on them)")
    for label, seconds in (("tokenize stage", ours), ("tokenizers encode_batch", usual),
                           ("tokenizers encode_batch_fast", fastest)):
        print(f"  {label:<28} {n_bytes / seconds / 1e6:6.2f} MB/s  {n_tokens / seconds / 1e6:5.2f} M tokens/s")
    print(f"  ratio stage/encode_batch {usual / ours:.3f} (goal >= 0.9), stage/encode_batch_fast {fastest / ours:.3f}")


def bench_images(rounds: int, n: int, vq: str) -> None:
    from dataengine.tokenize.stage import DocumentTokenizer
    from trainer.vq.tokenizer import to_pil

    docs = image_documents(n)
    stage = DocumentTokenizer(text_tokenizer="byte", vq=vq).ready()
    data = [d.images[0].data for d in docs]
    pictures = [to_pil(b) for b in data]
    ours, bytes_in, decoded = best_of(rounds, lambda: stage.process_batch(docs), lambda: stage.images.encode(data),
                                      lambda: stage.images.encode(pictures))
    print(f"images: {n} (scenes 64x64 and photos up to 1500 px), VQ {stage.images.resolution}px -> "
          f"{stage.images.grid}x{stage.images.grid} codes")
    print(f"  tokenize stage         {n / ours:8.1f} images/s per actor (decode, VQ, layout)")
    print(f"  VQ on the same bytes   {n / bytes_in:8.1f} images/s (ImageTokenizer.encode decodes them)")
    print(f"  VQ on decoded pictures {n / decoded:8.1f} images/s (for scale: decoding left out)")
    print(f"  ratio stage/VQ on the same bytes {bytes_in / ours:.3f}")


def blip_base(tmp: Path) -> str:
    """A BLIP with the default (base) architecture and random weights, saved as a local model directory."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    config = BlipConfig()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(5, config.text_config.vocab_size)]
    vocab[config.text_config.bos_token_id] = "[DEC]"
    (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n")
    size = config.vision_config.image_size
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": size, "width": size}),
                              tokenizer=BertTokenizer(vocab=str(tmp / "vocab.txt"), bos_token="[DEC]"))
    torch.manual_seed(0)
    path = tmp / "blip-base-random"
    BlipForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


def unified_run(tmp: Path, vq: str) -> str:
    """A run folder of the demo's unified model (``tiny.yaml``), random weights, as ``trainer train`` writes it."""
    from schemas import TokenLayout
    from trainer.assets import Vocabulary
    from trainer.config import load_run_config
    from trainer.model import Transformer
    from trainer.text_tokenizer import load_text_tokenizer
    from trainer.train.checkpoint import save_checkpoint
    from trainer.vq.tokenizer import ImageTokenizer

    cfg = load_run_config(ROOT / "trainer" / "configs" / "tiny.yaml", {"tokenizer.vq": vq})
    images = ImageTokenizer.load(vq)
    vocab = Vocabulary(TokenLayout(256, images.codebook_size, cfg.tokenizer.max_grid), load_text_tokenizer("byte"),
                       images)
    run = tmp / "unified"
    vocab.save(run)
    (run / "run.json").write_text(json.dumps(cfg.to_dict()))
    torch.manual_seed(0)
    model = Transformer(cfg.model, vocab.layout.vocab_size)
    save_checkpoint(run, 1, {"model.pt": model.state_dict()}, 0, lambda: None, 1)
    return str(run)


def bench_captions(rounds: int, n: int, max_new_tokens: int, vq: str, tmp: Path) -> None:
    from dataengine.caption.stage import Captioner
    from dataengine.filters.images import open_rgb

    docs = image_documents(n)
    pictures = [open_rgb(d.images[0].data) for d in docs]
    for label, model, backend in (("BLIP base (random weights)", blip_base(tmp), "hf"),
                                  ("unified tiny (random weights)", unified_run(tmp, vq), "unified")):
        stage = Captioner(model=model, backend=backend, policy="all", max_new_tokens=max_new_tokens,
                          batch_size=n).ready()
        # best_of calls both lambdas within this iteration: they see this iteration's stage
        ours, theirs = best_of(rounds, lambda: stage.process_batch(docs),  # noqa: B023
                               lambda: stage.model.caption(pictures))  # noqa: B023
        print(f"captions, {label}: {n} images, {max_new_tokens} new tokens each")
        print(f"  caption stage   {n / ours:8.2f} captions/s per actor")
        print(f"  model directly  {n / theirs:8.2f} captions/s (images already decoded)")
        print(f"  ratio           {theirs / ours:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one actor's core: 1)")
    parser.add_argument("--copies", type=int, default=16, help="copies of the fixture pages for the text bench")
    parser.add_argument("--images", type=int, default=48, help="images for the image tokenization bench")
    parser.add_argument("--captions", type=int, default=8, help="images for the caption bench")
    parser.add_argument("--max-new-tokens", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from trainer.vq.model import VQModel
    from trainer.vq.tokenizer import ImageTokenizer
    from trainer.vq.train import load_vq_train_config

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        torch.manual_seed(0)
        vq = tmp / "vq.pt"
        ImageTokenizer(VQModel(load_vq_train_config(ROOT / "trainer" / "configs" / "vq_tiny.yaml").vq)).save(vq)
        print(f"torch threads: {torch.get_num_threads()}")
        bench_text(args.rounds, args.copies, str(vq), tmp)
        bench_images(args.rounds, args.images, str(vq))
        bench_captions(args.rounds, args.captions, args.max_new_tokens, str(vq), tmp)


if __name__ == "__main__":
    main()
