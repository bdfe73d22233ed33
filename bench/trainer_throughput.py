"""Trainer throughput on this machine, as ratios against baselines measured in the same run.

1. Training tokens/s of ``trainer.train.loop.train`` on shards with ``KEY.tokens.npy``
   (loader in a worker process, metrics, checkpoint at the end) against a minimal
   hand-written loop of the same model on the same batches held in memory (forward, loss,
   backward, clip, AdamW). Goal: >= 0.95.
2. Loader documents/s (shards -> packed batches, one process) against the documents/s
   training consumes, for shards with ``KEY.tokens.npy`` (as the engine writes them) and for
   raw shards tokenized on the fly with the ``vq_tiny`` VQ, ``--tokenize-batch`` samples per
   VQ call (1 shows what batching buys). Goal: >= 10x.

Runs on the CPU with the tiny config on a generated sample-web-like corpus (under a minute).
``--device cuda --config trainer/configs/300m.yaml`` measures the same on a GPU and prints MFU.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))

from trainer_corpus import scene_corpus  # noqa: E402

from trainer.config import CorpusSpec, load_run_config  # noqa: E402
from trainer.model import Transformer  # noqa: E402
from trainer.train.distributed import DistInfo  # noqa: E402
from trainer.train.loop import build_optimizer, make_loader, train  # noqa: E402
from trainer.train.loss import batch_loss  # noqa: E402
from trainer.vq.model import VQModel  # noqa: E402
from trainer.vq.tokenizer import ImageTokenizer  # noqa: E402
from trainer.vq.train import load_vq_train_config  # noqa: E402


def hand_written_loop(cfg, vocab, batches, device: torch.device) -> float:
    """Tokens/s of the plainest loop over pre-loaded batches (the first two steps are warm-up)."""
    torch.manual_seed(cfg.train.seed)
    model = Transformer(cfg.model, vocab.layout.vocab_size).to(device)
    opt = build_optimizer(model, cfg, device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    start, tokens = None, 0
    for i, batch in enumerate(batches):
        if i == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, tokens = time.perf_counter(), 0
        with autocast:
            parts = batch_loss(model, batch, vocab.layout)
            loss = parts["weighted"] / parts["weight"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += batch["tokens"][:, :-1].numel()
    float(loss)
    return tokens / (time.perf_counter() - start)


def pretokenized_copy(src: Path, dst: Path, tokenizer) -> None:
    """The corpus again with ``KEY.tokens.npy`` in every sample and its layout beside it, as ``publish`` leaves it."""
    from dataengine.shards.writer import ShardWriter
    from schemas.corpus import LAYOUT_FILE
    from trainer.data.shards import list_shards, read_samples, sample_document

    with ShardWriter(str(dst), "tok") as writer:
        for url in list_shards(str(src)):
            for sample in read_samples(url):
                doc = sample_document(sample)
                for image in doc.images:
                    if image.status == "ok":
                        image.data = sample[image.member[len(doc.id) + 1:]]
                doc.tokens = tokenizer(sample)
                writer.write(doc)
    (dst / LAYOUT_FILE).write_text(tokenizer.layout.to_json())


def loader_docs_per_s(cfg, vocab, corpus: Path, steps: int) -> tuple[float, list]:
    """Documents/s of one loader process, and the batches it produced."""
    loader = make_loader(cfg, vocab, [CorpusSpec(str(corpus))], cfg.data.seq_len, cfg.data.batch_size, DistInfo())
    it = iter(loader)
    t0 = time.perf_counter()
    batches = [next(it) for _ in range(steps)]
    return loader.stats()["documents"] / (time.perf_counter() - t0), batches


def main() -> None:
    """Run both measurements and print one JSON line of figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "trainer/configs/tiny.yaml"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokenize-batch", type=int, default=16, help="samples per VQ batch in the loader")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="trainer-bench-"))
    scene_corpus(tmp / "corpus", args.docs, n_shards=4, two_groups=0.25)
    # The VQ the smoke run and the demo train (random weights: the speed does not depend on them).
    ImageTokenizer(VQModel(load_vq_train_config(REPO / "trainer/configs/vq_tiny.yaml").vq)).save(tmp / "vq.pt")
    overrides = {"train.log_every": 5, "train.ckpt_every": 10**9, "data.num_workers": 1}
    cfg = load_run_config(args.config, overrides)
    from trainer.assets import resolve_vocabulary
    from trainer.data.tokenize import DocumentTokenizer

    vocab = resolve_vocabulary(cfg.tokenizer.text, str(tmp / "vq.pt"), [str(tmp / "corpus")], cfg.tokenizer.max_grid)
    pretokenized_copy(tmp / "corpus", tmp / "tokenized", DocumentTokenizer(vocab.layout, vocab.text, vocab.images))
    # Training reads KEY.tokens.npy, as on corpora the engine tokenized; the VQ path is measured for the loader.
    rows = train(cfg, [CorpusSpec(str(tmp / "tokenized"))], tmp / "run", vq=str(tmp / "vq.pt"), max_steps=args.steps,
                 device=args.device, progress=False)
    framework_tps = sum(r["tokens_per_s"] for r in rows[1:]) / max(1, len(rows) - 1)
    docs_per_step = rows[-1]["data_documents"] / args.steps

    loader_cfg = load_run_config(args.config, {**overrides, "data.num_workers": 0,
                                               "data.tokenize_batch": args.tokenize_batch})
    raw_docs_per_s, _ = loader_docs_per_s(loader_cfg, vocab, tmp / "corpus", args.steps)
    tok_docs_per_s, batches = loader_docs_per_s(loader_cfg, vocab, tmp / "tokenized", args.steps)
    baseline_tps = hand_written_loop(cfg, vocab, batches, device)

    consumed_docs_per_s = docs_per_step * framework_tps / (cfg.data.batch_size * cfg.data.seq_len)
    out = {"device": args.device, "threads": args.threads, "framework_tokens_per_s": round(framework_tps),
           "baseline_tokens_per_s": round(baseline_tps),
           "framework_vs_baseline": round(framework_tps / baseline_tps, 3),
           "training_docs_per_s": round(consumed_docs_per_s, 1),
           "loader_docs_per_s_vq": round(raw_docs_per_s, 1),
           "loader_vs_training_vq": round(raw_docs_per_s / consumed_docs_per_s, 1),
           "loader_docs_per_s_tokens_npy": round(tok_docs_per_s, 1),
           "loader_vs_training_tokens_npy": round(tok_docs_per_s / consumed_docs_per_s, 1)}
    if "mfu" in rows[-1]:
        out["mfu"] = round(sum(r["mfu"] for r in rows[1:]) / max(1, len(rows) - 1), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
