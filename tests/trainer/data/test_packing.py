"""Packing keeps images whole and documents apart; the loader splits ranks evenly and resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from trainer_corpus import make_document, scene_corpus, text_corpus, write_raw_shard, write_shards

from schemas.document import ImageRecord, Segment
from schemas.token_layout import ImageCodes, TokenLayout
from trainer.data.loader import LoaderSpec, ShardLoader
from trainer.data.packing import Packer, image_spans
from trainer.data.shards import list_shards
from trainer.data.tokenize import DocumentTokenizer
from trainer.text_tokenizer import ByteTokenizer

LAYOUT = TokenLayout(text_vocab_size=256, codebook_size=32, max_grid=8)


def random_documents(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        parts = []
        for _ in range(rng.integers(1, 5)):
            if rng.random() < 0.5:
                parts.append(rng.integers(0, 256, rng.integers(1, 30)))
            else:
                h, w = rng.integers(1, 6, 2)
                parts.append(ImageCodes(rng.integers(0, 32, (h, w))))
        docs.append(LAYOUT.encode(parts))
    return docs


def check_sequence(seq, layout: TokenLayout) -> list[np.ndarray]:
    """Assert the packing invariants of one sequence; return its document pieces."""
    pieces = []
    for seg in np.unique(seq.segments):
        idx = np.flatnonzero(seq.segments == seg)
        assert (np.diff(idx) == 1).all(), "a segment must be contiguous"
        assert (seq.positions[idx] == np.arange(len(idx))).all(), "positions restart at every piece"
        piece = seq.tokens[idx]
        if (piece == layout.pad).all():
            continue
        for s, e in image_spans(piece, layout):
            assert e <= len(piece) and piece[e - 1] == layout.eoi, "an image block must end inside its piece"
            h = piece[s + 1] - (layout.special_offset + 5) + 1
            w = piece[s + 2] - (layout.special_offset + 5 + layout.max_grid) + 1
            assert e - s == h * w + 4
        assert not layout.is_image_code(piece[:1]).any(), "a piece never starts inside an image"
        pieces.append(piece)
    return pieces


def test_packing_never_splits_an_image_and_respects_boundaries():
    docs = random_documents(200, seed=1)
    packer = Packer(LAYOUT, length=48, min_piece=4)
    stream = iter(docs)
    rebuilt: list[np.ndarray] = []
    while (seq := packer.next_sequence(lambda: next(stream, None))) is not None:
        assert len(seq.tokens) == 48
        for piece in check_sequence(seq, LAYOUT):
            # A piece that does not start a document continues the one before it.
            if piece[0] == LAYOUT.bos:
                rebuilt.append(piece)
            else:
                rebuilt[-1] = np.concatenate([rebuilt[-1], piece])
    # Every document comes back whole: nothing lost, nothing duplicated, pieces never interleaved.
    assert sorted(d.tobytes() for d in rebuilt) == sorted(d.astype(np.int64).tobytes() for d in docs)
    assert packer.stats["documents_split"] > 0


def test_a_document_that_fits_one_sequence_is_never_cut():
    docs = random_documents(300, seed=2)
    packer = Packer(LAYOUT, length=48, min_piece=4)
    stream = iter(docs)
    short = {d.astype(np.int64).tobytes() for d in docs if len(d) <= 48}
    seen: list[bytes] = []
    padding = 0
    while (seq := packer.next_sequence(lambda: next(stream, None))) is not None:
        seen += [p.tobytes() for p in check_sequence(seq, LAYOUT) if p[0] == LAYOUT.bos]
        padding += int((seq.tokens == LAYOUT.pad).sum())
    assert short <= set(seen), "every document of at most one sequence appears whole in a single sequence"
    assert padding < 0.2 * sum(len(d) for d in docs), "first-fit keeps padding low"


def test_image_longer_than_a_sequence_is_removed_and_counted():
    big = LAYOUT.encode([np.array([65, 66]), ImageCodes(np.zeros((8, 8), dtype=int)), np.array([67])])
    packer = Packer(LAYOUT, length=32)
    seq = packer.next_sequence(iter([big, None]).__next__)
    assert packer.stats["images_too_long"] == 1
    assert list(seq.tokens[:5]) == [LAYOUT.bos, 65, 66, 67, LAYOUT.eos]


def make_loader(corpus, rank=0, world=1, workers=0, batch=2, seq_len=64, seed=0) -> ShardLoader:
    layout = TokenLayout(256, 16, 8)
    spec = LoaderSpec([list_shards(str(corpus))], [1.0], DocumentTokenizer(layout, ByteTokenizer()), seq_len,
                      batch, seed=seed, shuffle_buffer=8, rank=rank, world_size=world, num_workers=workers)
    return ShardLoader(spec)


def take(loader: ShardLoader, n: int) -> list[dict[str, torch.Tensor]]:
    it = iter(loader)
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize("n_shards", [1, 4])
def test_ranks_get_equal_batches(tmp_path, n_shards):
    # 41 documents of different lengths: the ranks' shares differ, yet every rank yields a batch per step.
    text_corpus(tmp_path, 41, n_shards=n_shards)
    for rank in range(2):
        loader = make_loader(tmp_path, rank=rank, world=2, seq_len=512, batch=2)
        batches = take(loader, 8)
        assert [b["tokens"].shape for b in batches] == [(2, 513)] * 8
        assert loader.stats()["documents"] > 0


def test_the_corpus_its_shard_folder_and_a_shard_name_one_corpus(tmp_path):
    from trainer.data.shards import corpus_layout

    text_corpus(tmp_path, 6, n_shards=2)
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "test.json").write_text(json.dumps({"shards": [{"name": "test-00000"}]}))
    (tmp_path / "token_layout.json").write_text(LAYOUT.to_json())
    for given in (tmp_path, tmp_path / "shards"):  # the ledger commits test-00000 only, whichever path is given
        assert [u.rsplit("/", 1)[-1] for u in list_shards(str(given))] == ["test-00000.tar"]
    for given in (tmp_path, tmp_path / "shards", tmp_path / "shards" / "test-00001.tar"):
        assert corpus_layout(str(given)) == LAYOUT


def test_rank_slices_do_not_overlap(tmp_path):
    text_corpus(tmp_path, 30, n_shards=3)
    from trainer.data.loader import CorpusStream

    shards = list_shards(str(tmp_path))
    keys = []
    for slot in range(2):
        stream = CorpusStream(shards, 0, slot, 2, seed=0, shuffle_buffer=4)
        it = iter(stream)
        first_epoch = []
        while True:
            sample, epoch = next(it)
            if epoch:
                break
            first_epoch.append(sample["__key__"])
        keys.append(set(first_epoch))
    assert keys[0].isdisjoint(keys[1]) and len(keys[0] | keys[1]) == 30


def test_shuffling_is_deterministic_and_seeded(tmp_path):
    text_corpus(tmp_path, 30, n_shards=2)
    a, b = take(make_loader(tmp_path), 5), take(make_loader(tmp_path), 5)
    c = take(make_loader(tmp_path, seed=1), 5)
    assert all(torch.equal(x["tokens"], y["tokens"]) for x, y in zip(a, b))
    assert not all(torch.equal(x["tokens"], y["tokens"]) for x, y in zip(a, c))


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_resumes_at_its_exact_position(tmp_path, workers):
    text_corpus(tmp_path, 30, n_shards=3)
    full = take(make_loader(tmp_path, workers=workers), 12)
    first = make_loader(tmp_path, workers=workers)
    take(first, 5)
    state = first.state_dict()
    second = make_loader(tmp_path, workers=workers)
    second.load_state_dict(state)
    rest = take(second, 7)
    for x, y in zip(full[5:], rest):
        for key in ("tokens", "segments", "positions"):
            assert torch.equal(x[key], y[key])


def test_bad_samples_are_counted_not_fatal(tmp_path):
    write_shards(tmp_path, [make_document(f"http://e.test/{i}", [f"document {i}"]) for i in range(6)])
    # An image with status ok whose bytes are missing, and a sample whose JSON is broken.
    broken, _ = make_document("http://e.test/broken", ["caption"])
    broken.images.append(ImageRecord(index=0, url="http://e.test/x.png", status="ok", member=f"{broken.id}.0.png"))
    broken.segments.append(Segment.of_image(0))
    write_raw_shard(tmp_path, [{"__key__": broken.id, "json": json.dumps(broken.to_json()).encode()},
                               {"__key__": "garbled", "json": b"{not json"}])
    loader = make_loader(tmp_path, seq_len=256, batch=1)
    take(loader, 3)
    stats = loader.stats()
    assert stats["bad_samples"] >= 2 and stats["documents"] >= 6  # counted again in each epoch


@pytest.mark.parametrize("workers", [0, 2])
def test_a_mixed_in_corpus_with_no_usable_sample_stops_the_loader(tmp_path, workers):
    from trainer.data.shards import CorpusError

    text_corpus(tmp_path / "good", 20)
    # Image documents, but the loader has no VQ: not one of them can be tokenized.
    scene_corpus(tmp_path / "images", 8, n_shards=2)
    spec = LoaderSpec([list_shards(str(tmp_path / "good")), list_shards(str(tmp_path / "images"))], [1.0, 1.0],
                      DocumentTokenizer(TokenLayout(256, 16, 8), ByteTokenizer()), 64, 2, num_workers=workers)
    with pytest.raises(CorpusError, match=r"corpus 1 of the mixture .*whole pass.*no VQ tokenizer"):
        take(ShardLoader(spec), 200)


def test_batched_tokenizing_equals_one_at_a_time_and_isolates_a_bad_image(tmp_path, untrained_vq):
    from trainer.data.shards import read_samples
    from trainer.data.tokenize import BadSample
    from trainer.vq.tokenizer import ImageTokenizer

    scene_corpus(tmp_path, 5)
    samples = list(read_samples(list_shards(str(tmp_path))[0]))
    bad = dict(samples[2])
    bad["0.png"] = b"\x89PNG but truncated"
    images = ImageTokenizer.load(untrained_vq)
    tok = DocumentTokenizer(TokenLayout(256, images.codebook_size, 8), ByteTokenizer(), images, pair_order="random")
    batch = [(s, 1) for s in samples[:2]] + [(bad, 1)] + [(s, 1) for s in samples[3:]]
    out = tok.many(batch)
    assert isinstance(out[2], BadSample) and "could not be decoded" in str(out[2])
    for (sample, epoch), tokens in zip(batch, out):
        if sample is not bad:
            assert np.array_equal(tokens, tok(sample, epoch))
