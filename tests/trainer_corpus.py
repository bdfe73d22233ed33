"""Small corpora (and ``TINY``, the tiny model's overrides) for the trainer's tests, written with ``ShardWriter``.

``CORPUS/shards/NAME.tar`` holds one sample per document: ``KEY.json`` (the Document JSON),
``KEY.{i}.png`` for images with status ok, and ``KEY.tokens.npy`` when given. Samples that
break the contract on purpose (to test the loader's handling) go through ``write_raw_shard``.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import numpy as np
import webdataset as wds
from PIL import Image

from schemas.document import Document, ImageRecord, Segment, SourceRef, document_id
from schemas.scenes import Scene

Part = str | Image.Image


def png(image: Image.Image) -> bytes:
    """PNG bytes of ``image``."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def make_document(url: str, parts: list[Part], failed_images: int = 0) -> tuple[Document, dict[str, bytes]]:
    """A ``Document`` with text segments and ok images in the order of ``parts``, plus image members."""
    doc_id = document_id(url, "tests")
    doc = Document(id=doc_id, url=url, source=SourceRef("generated", "tests"))
    members: dict[str, bytes] = {}
    for part in parts:
        if isinstance(part, str):
            doc.segments.append(Segment.of_text(part))
            continue
        i = len(doc.images)
        data = png(part)
        member = f"{doc_id}.{i}.png"
        doc.images.append(ImageRecord(index=i, url=f"{url}/img{i}.png", width=part.width, height=part.height,
                                      format="png", sha256=hashlib.sha256(data).hexdigest(), member=member,
                                      status="ok", data=data))
        doc.segments.append(Segment.of_image(i))
        members[member] = data
    for _ in range(failed_images):
        i = len(doc.images)
        doc.images.append(ImageRecord(index=i, url=f"{url}/broken{i}.png", status="failed", error="http 404"))
        doc.segments.append(Segment.of_image(i))
    return doc, members


def write_shards(corpus: Path, docs: list[tuple[Document, dict[str, bytes]]], n_shards: int = 1,
                 tokens: dict[str, np.ndarray] | None = None) -> None:
    """Write ``docs`` with ``dataengine.shards.ShardWriter`` into ``n_shards`` shards of equal count."""
    from dataengine.shards.writer import ShardWriter

    per_shard = max(1, -(-len(docs) // n_shards))
    with ShardWriter(str(corpus), "test", maxcount=per_shard) as writer:
        for doc, _ in docs:
            if tokens and doc.id in tokens:
                doc.tokens = tokens[doc.id]
            writer.write(doc)


def write_raw_shard(corpus: Path, samples: list[dict[str, bytes]]) -> None:
    """Write samples as they are (for inputs that break the contract on purpose)."""
    out = corpus / "shards"
    out.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(out / "raw-00000.tar")) as writer:
        for sample in samples:
            writer.write(sample)


def text_corpus(corpus: Path, n_docs: int, n_shards: int = 1, seed: int = 0) -> list[Document]:
    """Text-only documents of varied length."""
    rng = random.Random(seed)
    words = "the quick brown fox jumps over a lazy dog while seven red circles sit on the left".split()
    docs = []
    for i in range(n_docs):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))
        docs.append(make_document(f"http://example.test/text/{i}", [text]))
    write_shards(corpus, docs, n_shards)
    return [d for d, _ in docs]


def scene_corpus(corpus: Path, n_docs: int, n_shards: int = 1, seed: int = 0,
                 two_groups: float = 0.0) -> list[Scene]:
    """Caption + image pairs of sample-web scenes, with ``ground_truth.jsonl`` beside the shards."""
    from dataengine.sampleweb.scenes import random_scene, render_scene

    rng = random.Random(seed)
    docs, scenes, truth = [], [], []
    for i in range(n_docs):
        scene = random_scene(rng, two_groups=two_groups)
        image = render_scene(scene, seed=i)
        url = f"http://sample.test/scenes/{i}"
        docs.append(make_document(url, [scene.caption(), image]))
        scenes.append(scene)
        truth.append({"kind": "image", "path": f"/scenes/{i}/img0.png", "scene": scene.to_json()})
    write_shards(corpus, docs, n_shards)
    (corpus / "ground_truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    return scenes


# Overrides that make trainer/configs/tiny.yaml tiny enough for a test to train in seconds.
TINY = {"model.dim": 64, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 2,
        "data.seq_len": 96, "data.batch_size": 2, "data.num_workers": 0, "train.log_every": 1,
        "train.warmup_steps": 2}
