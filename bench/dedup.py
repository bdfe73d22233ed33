"""Dedup performance: MinHash throughput, the global decision phase at 1M documents, CLIP per actor.

1. MinHash: documents per second on one core, our numpy ``MinHasher`` against a plain
   ``datasketch.MinHash`` loop over the same documents (the fixture web pages' text), and
   how close each one's Jaccard estimates are to the exact values.
2. The decision phase (``dataengine.dedup.decide``: DuckDB over manifests and signature
   tables) on a synthetic corpus of ``--docs`` documents (default 1M) written as Parquet:
   2 images, 4 paragraphs and a 128-value signature each, with planted duplicate URLs,
   near-duplicate documents, exact, near and boilerplate images and repeated paragraphs.
   Time and peak RSS (``resource.getrusage``) are measured in a fresh process.
3. CLIP scoring (the filters' ``clip_score`` stage) in one Ray actor, images per second,
   against the bare model forward pass on the same images in this process; random-init
   open_clip models (a tiny one and ViT-B-32), as no weights can be downloaded here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataengine.dedup.config import DedupConfig
from dataengine.dedup.minhash import MinHasher, jaccard_estimate, normalize
from dataengine.runner.ray_session import init_ray
from schemas import tables

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


# --- 1. MinHash ---------------------------------------------------------------------------
def fixture_texts() -> list[str]:
    from dataengine.extract import extract_page

    texts = []
    for path in sorted((FIXTURES / "html").glob("*.html")):
        page = extract_page(path.read_bytes(), f"https://{path.stem}/")
        texts.append("\n\n".join(s.text for s in page.segments if s.kind == "text" and s.text))
    return [t for t in texts if t.strip()]


def best_of(runs: int, fn):
    """``fn()``'s result and its fastest wall time over ``runs`` runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def bench_minhash(repeat: int) -> None:
    try:
        from datasketch import MinHash
    except ImportError:
        print("minhash: datasketch is not installed (pip install -e '.[bench]'); skipped")
        return
    base = fixture_texts()
    rng = np.random.default_rng(0)
    edited = []
    for text in base:  # a near duplicate of each page: 10% of its words dropped
        words = text.split()
        keep = rng.random(len(words)) > 0.1
        edited.append(" ".join(w for w, k in zip(words, keep) if k))
    docs = (base + edited) * repeat
    n_words = sum(len(t.split()) for t in docs)

    hasher = MinHasher(num_perm=128, seed=1)
    ours, ours_s = best_of(3, lambda: hasher.signatures(docs))

    def datasketch_loop(text: str) -> MinHash:
        words = normalize(text).split()
        m = MinHash(num_perm=128, seed=1)
        for i in range(max(1, len(words) - 4)):
            m.update(" ".join(words[i:i + 5]).encode("utf-8"))
        return m

    theirs, theirs_s = best_of(3, lambda: [datasketch_loop(t) for t in docs])

    def exact(a: str, b: str) -> float:
        wa, wb = normalize(a).split(), normalize(b).split()
        sa = {tuple(wa[i:i + 5]) for i in range(max(1, len(wa) - 4))}
        sb = {tuple(wb[i:i + 5]) for i in range(max(1, len(wb) - 4))}
        return len(sa & sb) / max(1, len(sa | sb))

    n = len(base)
    truth = np.array([exact(base[i], edited[i]) for i in range(n)])
    ours_est = jaccard_estimate(ours[:n], ours[n:2 * n])
    theirs_est = np.array([theirs[i].jaccard(theirs[n + i]) for i in range(n)])
    print(f"minhash: {len(docs)} documents ({n_words / len(docs):.0f} words each on average), 128 permutations, "
          f"5-word shingles, one core, best of 3")
    print(f"  numpy MinHasher   {len(docs) / ours_s:10.1f} docs/s   mean |estimate - exact Jaccard| "
          f"{np.abs(ours_est - truth).mean():.3f}")
    print(f"  datasketch loop   {len(docs) / theirs_s:10.1f} docs/s   mean |estimate - exact Jaccard| "
          f"{np.abs(theirs_est - truth).mean():.3f}")
    print(f"  ratio: {theirs_s / ours_s:.1f}x datasketch's documents per second per core")


# --- 2. the decision phase at scale ---------------------------------------------------------
def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def generate(root: Path, n_docs: int, per_shard: int, config: DedupConfig) -> dict[str, int]:
    """Synthetic manifests and signature tables of ``n_docs`` documents, with planted duplicates."""
    rng = np.random.default_rng(7)
    corpus, work = root / "corpus", root / "work"
    # duplicates copy (or nearly copy) a random document or image of the shard before theirs
    pool_sig = rng.integers(0, 2**32 - 1, (per_shard, config.num_perm), dtype=np.uint32)
    pool_sha = np.array([f"{x:064x}" for x in rng.integers(0, 2**63, 2 * per_shard)], dtype=object)
    pool_phash = rng.integers(0, 2**63, 2 * per_shard, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    logo = "f" * 64
    planted = {"duplicate_url": 0, "near_duplicate_document": 0, "duplicate_image": 0, "near_duplicate_image": 0}
    hasher = MinHasher(config.num_perm)
    for k, first in enumerate(range(0, n_docs, per_shard)):
        n = min(per_shard, n_docs - first)
        shard = f"synth-{k:05d}"
        no = np.arange(first, first + n)
        ids = np.array([f"{i:024x}" for i in no], dtype=object)
        hosts = no % 5000
        urls = np.array([f"https://site{h}.example/page/{i}" for h, i in zip(hosts, no)], dtype=object)
        dup_url = (rng.random(n) < 0.02) & (k > 0)
        urls[dup_url] = [f"https://site{i % 5000}.example/page/{i}"
                         for i in rng.integers(first - per_shard, first, dup_url.sum())]
        planted["duplicate_url"] += int(dup_url.sum())
        sig = pool_sig[:n].copy() if k == 0 else rng.integers(0, 2**32 - 1, (n, config.num_perm), dtype=np.uint32)
        near = (rng.random(n) < 0.03) & (k > 0)
        src = rng.integers(0, len(pool_sig), near.sum())
        sig[near] = np.where(rng.random((near.sum(), config.num_perm)) < 0.08,
                             rng.integers(0, 2**32 - 1, (near.sum(), config.num_perm), dtype=np.uint32), pool_sig[src])
        planted["near_duplicate_document"] += int(near.sum())
        times = np.array([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00+00:00" for i in no], dtype=object)
        _write(corpus / "docs" / f"{shard}.parquet", pa.table({
            "id": ids, "url": urls, "shard": [shard] * n, "partition": ["synth"] * n, "offset": no * 0,
            "size": no * 0 + 1, "source_kind": ["crawl"] * n, "source_uri": ["synthetic"] * n, "fetch_time": times,
            "language": ["en"] * n, "title": [None] * n, "n_segments": np.full(n, 6, np.int32),
            "n_text": np.full(n, 4, np.int32), "n_images": np.full(n, 2, np.int32),
            "n_images_ok": np.full(n, 2, np.int32), "text_chars": rng.integers(500, 5000, n),
            "image_bytes": np.full(n, 20000), "n_tokens": [None] * n, "n_text_tokens": [None] * n,
            "n_image_tokens": [None] * n, "scores": [[]] * n}, schema=tables.DOCS))
        keys = hasher.band_keys(sig, config.bands, config.rows)
        _write(work / "docs" / f"{shard}.parquet", pa.table({
            "doc_id": ids, "shard": [shard] * n, "url_key": urls, "host": [f"site{h}.example" for h in hosts],
            "minhash": pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel()), config.num_perm)}))
        _write(work / "bands" / f"{shard}.parquet", pa.table({
            "doc_id": np.repeat(ids, config.bands), "shard": [shard] * (n * config.bands),
            "band": np.tile(np.arange(config.bands, dtype=np.int16), n), "key": keys.ravel()}))
        m = 2 * n
        img_doc = np.repeat(ids, 2)
        sha = np.array([f"{x:064x}" for x in rng.integers(0, 2**63, m)], dtype=object)
        phash = rng.integers(0, 2**63, m, dtype=np.uint64) * np.uint64(2)
        if k == 0:
            sha, phash = pool_sha[:m].copy(), pool_phash[:m].copy()
        exact = (rng.random(m) < 0.05) & (k > 0)
        sha[exact] = pool_sha[rng.integers(0, len(pool_sha), exact.sum())]
        close = (rng.random(m) < 0.02) & ~exact & (k > 0)
        flip = (np.uint64(1) << rng.integers(0, 64, close.sum()).astype(np.uint64)) | np.uint64(1 << 40)
        phash[close] = pool_phash[rng.integers(0, len(pool_phash), close.sum())] ^ flip
        boiler = rng.random(m) < 0.001
        sha[boiler] = logo
        planted["duplicate_image"] += int(exact.sum())
        planted["near_duplicate_image"] += int(close.sum())
        index = np.tile(np.arange(2, dtype=np.int32), n)
        _write(corpus / "images" / f"{shard}.parquet", pa.table({
            "doc_id": img_doc, "shard": [shard] * m, "index": index,
            "url": [f"https://cdn.example/{s[:16]}.jpg" for s in sha],
            "alt": [None] * m, "caption": [None] * m, "caption_model": [None] * m, "width": np.full(m, 256, np.int32),
            "height": np.full(m, 256, np.int32), "format": ["jpeg"] * m, "sha256": sha, "phash": [None] * m,
            "member": [None] * m, "bytes": np.full(m, 10000), "status": ["ok"] * m, "error": [None] * m,
            "scores": [[]] * m}, schema=tables.IMAGES))
        _write(work / "images" / f"{shard}.parquet", pa.table({
            "doc_id": img_doc, "shard": [shard] * m, "index": index, "phash": phash,
            "colour": pa.nulls(m, pa.binary())}))
        pool_sig, pool_sha, pool_phash = sig, sha, phash
        p = 4 * n
        para = rng.integers(0, 2**63, p, dtype=np.uint64)
        para[(rng.random(p) < 0.1)] = np.uint64(12345)  # one boilerplate line, found on every host
        _write(work / "paragraphs" / f"{shard}.parquet", pa.table({
            "doc_id": np.repeat(ids, 4), "shard": [shard] * p, "position": np.tile(np.arange(4, dtype=np.int32), n),
            "hash": para}))
    return planted


def measure_phase(root: Path) -> None:
    """Run the decision phase once in this (fresh) process; print seconds, peak RSS and counts as JSON."""
    from dataengine.dedup.decide import decide

    start = time.perf_counter()
    decisions, n_docs = decide(str(root / "corpus"), str(root / "work"), DedupConfig())
    seconds = time.perf_counter() - start
    reasons = {}
    for reason in decisions.column("reason").to_pylist():
        reasons[reason] = reasons.get(reason, 0) + 1
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "documents": n_docs, "removals": reasons}))


def bench_phase(n_docs: int, per_shard: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        planted = generate(root, n_docs, per_shard, DedupConfig())
        gen_s = time.perf_counter() - start
        size = sum(f.stat().st_size for f in root.rglob("*.parquet")) / 2**20
        out = subprocess.run([sys.executable, "-P", __file__, "--measure-phase", str(root)], capture_output=True,
                             text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"decision phase: {result['documents']:,} documents, {2 * n_docs:,} images, {4 * n_docs:,} paragraphs in "
          f"{n_docs // per_shard} shards ({size:.0f} MiB of Parquet, generated in {gen_s:.0f} s), "
          f"{os.cpu_count()} cores")
    print(f"  {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MiB "
          f"({n_docs / result['seconds']:,.0f} documents/s)")
    print(f"  planted {planted}; removed {result['removals']}")


# --- 3. CLIP per actor --------------------------------------------------------------------------
def bench_clip(n_images: int) -> None:
    try:
        import torch

        from dataengine.filters.clip import ClipScorer, default_device, load_clip
        from dataengine.filters.images import open_rgb
    except ImportError as exc:
        print(f"clip: the clip_score stage is not available ({exc}); skipped")
        return
    from schemas import Document, ImageRecord, Segment, SourceRef

    photos = [p.read_bytes() for p in sorted((FIXTURES / "photos").iterdir())]
    docs = []
    for i in range(n_images):
        image = ImageRecord(0, f"https://photos.example/{i}.jpg", alt=f"a photo number {i}", status="ok",
                            data=photos[i % len(photos)])
        docs.append(Document(f"{i:024x}", f"https://photos.example/{i}", SourceRef("urls", "bench"),
                             segments=[Segment.of_text("Pictures from our trip."), Segment.of_image(0)],
                             images=[image]))
    tiny = {"embed_dim": 64, "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
            "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
    init_ray(num_cpus=1)
    import ray

    try:
        with tempfile.TemporaryDirectory() as tmp:
            tiny_path = Path(tmp) / "bench-tiny-clip.json"
            tiny_path.write_text(json.dumps(tiny))
            for name, model in (("tiny", str(tiny_path)), ("ViT-B-32", "ViT-B-32")):
                params = {"model": model, "pretrained": None, "threshold": None, "use": ["alt"], "batch_size": 32}

                @ray.remote(num_cpus=1)
                class Actor:
                    def __init__(self, params):
                        self.stage = ClipScorer(**params).ready()

                    def run(self, batch):
                        start = time.perf_counter()
                        self.stage.process_batch(batch)
                        return time.perf_counter() - start

                actor = Actor.remote(params)
                ray.get(actor.run.remote(docs[:8]))  # warm up
                actor_s = ray.get(actor.run.remote(docs))
                torch.set_num_threads(1)  # what one actor with num_cpus=1 gets
                device = default_device()
                clip, preprocess, tokenizer = load_clip(model, None, device)
                pictures = [open_rgb(d.images[0].data) for d in docs]
                start = time.perf_counter()
                with torch.inference_mode():
                    for k in range(0, len(pictures), 32):
                        batch = torch.stack([preprocess(p) for p in pictures[k:k + 32]]).to(device)
                        clip.encode_image(batch, normalize=True)
                        clip.encode_text(tokenizer([d.images[0].alt for d in docs[k:k + 32]]).to(device),
                                         normalize=True)
                bare_s = time.perf_counter() - start
                print(f"clip ({name}, random weights, {device}): one actor {n_images / actor_s:.1f} images/s "
                      f"(decode, preprocess, forward, scores); bare preprocess + forward of the decoded pictures "
                      f"{n_images / bare_s:.1f} images/s; actor/bare {bare_s / actor_s:.2f}")
    finally:
        ray.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents of the synthetic corpus (default 1M)")
    parser.add_argument("--per-shard", type=int, default=10_000, help="documents per synthetic shard")
    parser.add_argument("--repeat", type=int, default=3, help="copies of the fixture pages for MinHash")
    parser.add_argument("--clip-images", type=int, default=128, help="images per CLIP measurement")
    parser.add_argument("--only", choices=("minhash", "phase", "clip"), default=None)
    parser.add_argument("--measure-phase", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_phase:
        measure_phase(Path(args.measure_phase))
        return 0
    if args.only in (None, "minhash"):
        bench_minhash(args.repeat)
    if args.only in (None, "phase"):
        bench_phase(args.docs, args.per_shard)
    if args.only in (None, "clip"):
        bench_clip(args.clip_images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
