"""Text tokenizers, ``dataengine tokenizer train``, the ``tokenize`` stage and its runs, on real text and images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from repo_paths import REPO
from scene_documents import corrupt_image, failed_image, make_document, photo_image, scene_corpus_documents, scene_image  # noqa: E402

from dataengine.catalog.validate import validate_corpus  # noqa: E402
from dataengine.cli import main  # noqa: E402
from dataengine.errors import ConfigError  # noqa: E402
from dataengine.runner.config import PipelineConfig, parse_pipeline  # noqa: E402
from dataengine.runner.pipeline import run_pipeline  # noqa: E402
from dataengine.shards import ShardReader, ShardWriter, list_shards  # noqa: E402
from dataengine.shards.run_record import RunRecord  # noqa: E402
from dataengine.shards.writer import encode_document  # noqa: E402
from dataengine.stages.base import Batch  # noqa: E402
from dataengine.tokenize.bpe import MIN_BPE_VOCAB, train_bpe  # noqa: E402
from dataengine.tokenize.stage import DocumentTokenizer  # noqa: E402
from dataengine.tokenize.vocabulary import corpus_vocabulary, write_vocabulary  # noqa: E402
from schemas import Segment  # noqa: E402
from schemas.token_layout import SPECIALS, ImageCodes, TokenLayout  # noqa: E402
from trainer.text_tokenizer import load_text_tokenizer  # noqa: E402

torch.set_num_threads(1)

TINY = {"model.dim": 32, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 1, "data.seq_len": 96,
        "data.batch_size": 2, "data.num_workers": 0, "train.warmup_steps": 1}

TEXTS = ["Two red circles on the left and one blue square in the center.",
         "Ünïcödé façade — naïve café, 日本語のテキスト, emoji 🎨 and tabs\tand  double  spaces.",
         "A page may write <|eos|> or <|boi|> literally; it is only text.\n\nNew paragraph.",
         "   leading and trailing spaces   ", ""] * 20


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> str:
    """A BPE trained on the spot, as a directory."""
    out = tmp_path_factory.mktemp("bpe") / "tokenizer"
    train_bpe(TEXTS, 400, out)
    return str(out)


@pytest.fixture(scope="module")
def vq(tmp_path_factory) -> str:
    """An untrained VQ checkpoint (64x64 images, 8x8 codes, 64 codes): enough to tokenize."""
    from trainer.vq.model import VQConfig, VQModel
    from trainer.vq.tokenizer import ImageTokenizer

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vq") / "vq.pt"
    ImageTokenizer(VQModel(VQConfig(codebook_size=64, channels=16))).save(path)
    return str(path)


def test_bpe_round_trips_exactly_and_never_emits_specials(bpe):
    for spec in (bpe, str(Path(bpe) / "tokenizer.json")):
        tok = load_text_tokenizer(spec)
        assert tok.vocab_size == 400
        for text, ids in zip(TEXTS[:5], tok.encode_batch(TEXTS[:5])):
            assert tok.decode(ids) == text
            assert not set(ids) & set(range(len(SPECIALS))), "literal special tokens must be encoded as text"


def test_bpe_directory_loads_with_transformers_and_the_one_loader(bpe):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(bpe, local_files_only=True)
    assert (hf.bos_token, hf.eos_token, hf.pad_token) == ("<|bos|>", "<|eos|>", "<|pad|>")
    assert hf.convert_tokens_to_ids(list(SPECIALS)) == list(range(len(SPECIALS)))
    # The directory (through transformers) and its tokenizer.json (through tokenizers) are one tokenizer.
    folder, file = load_text_tokenizer(bpe), load_text_tokenizer(str(Path(bpe) / "tokenizer.json"))
    assert folder.vocab_size == file.vocab_size == len(hf)
    text = TEXTS[0] + " " + TEXTS[1]
    assert file.encode(text) == folder.encode_batch([text])[0] == hf.encode(text, add_special_tokens=False)
    # A literal special token is text for both, one at a time or in a batch.
    assert file.encode(TEXTS[2]) == folder.encode(TEXTS[2]) == folder.encode_batch([TEXTS[2]])[0]


def test_byte_tokenizer_and_bad_specs(tmp_path):
    tok = load_text_tokenizer("byte")
    assert tok.encode_batch(["é"]) == [[0xC3, 0xA9]] and tok.decode([0xC3, 0xA9]) == "é"
    with pytest.raises(ValueError, match="not a tokenizers JSON file"):
        (tmp_path / "bad.json").write_text("{}")
        load_text_tokenizer(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="cannot be loaded as a local directory"):
        (tmp_path / "empty").mkdir()
        load_text_tokenizer(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=f"at least {MIN_BPE_VOCAB}"):
        train_bpe(TEXTS, 100, tmp_path / "small")


def _expected_parts(doc, describe: bool = False) -> list:
    """The document as the stage should lay it out: joined text and image indices, from first principles."""
    parts, pending = [], []
    for seg in doc.segments:
        if seg.kind == "text":
            if seg.text:
                pending.append(seg.text)
        elif doc.images[seg.image].status == "ok":
            if pending:
                parts.append("\n\n".join(pending))
                pending = []
            parts.append(seg.image)
    if pending:
        parts.append("\n\n".join(pending))
    return parts


def test_tokens_decode_back_to_the_text_and_the_image_codes(bpe, vq):
    from trainer.vq.tokenizer import ImageTokenizer

    scene, _ = scene_image(0, 1, alt="One red circle.")
    docs = [
        make_document("/a.html", ["Intro paragraph.", "Second paragraph.", scene, "After the scene.",
                                  photo_image(0, "coffee"), failed_image(0), "Closing words."]),
        make_document("/pair.html", [scene_image(0, 2)[0], TEXTS[1]]),
        make_document("/text.html", [TEXTS[2]]),
        make_document("/bad.html", ["Text before.", corrupt_image(0), "Text after."]),
        make_document("/empty.html", [failed_image(0)]),
    ]
    stage = DocumentTokenizer(text_tokenizer=bpe, vq=vq)
    batch = stage(Batch("p", docs))
    assert [d.url.rsplit("/", 1)[1] for d in batch.docs] == ["a.html", "pair.html", "text.html", "bad.html"]
    reasons = {(r.level, r.reason, r.id) for r in batch.rejected}
    assert ("image", "undecodable_image", docs[3].id) in reasons
    assert ("document", "nothing_to_tokenize", docs[4].id) in reasons
    assert docs[3].images[0].status == "failed"  # failed in place, its slot kept

    images = ImageTokenizer.load(vq)
    text = load_text_tokenizer(bpe)
    for doc in batch.docs:
        assert doc.tokens.dtype == np.int32 and doc.tokens[0] == stage.layout.bos and doc.tokens[-1] == stage.layout.eos
        decoded = stage.layout.decode(doc.tokens)
        expected = _expected_parts(doc)
        assert len(decoded) == len(expected)
        for got, want in zip(decoded, expected):
            if isinstance(want, str):
                assert text.decode(got.tolist()) == want
            else:
                assert isinstance(got, ImageCodes)
                np.testing.assert_array_equal(got.codes, images.encode([doc.images[want].data])[0])


def test_a_segment_referring_to_no_image_is_rejected(vq):
    doc = make_document("/dangling.html", ["Text."])
    doc.segments.append(Segment.of_image(3))
    batch = DocumentTokenizer(text_tokenizer="byte", vq=vq)(Batch("p", [doc, make_document("/fine.html", ["Fine."])]))
    assert [d.url.rsplit("/", 1)[1] for d in batch.docs] == ["fine.html"]
    assert [(r.level, r.reason, r.id) for r in batch.rejected] == [("document", "bad_image_reference", doc.id)]


def test_the_stage_and_the_trainer_lay_documents_out_alike(bpe, vq, tmp_path):
    """Both call ``schemas.token_parts`` (tested in tests/schemas); here with both sides' tokenizers and VQ."""
    from trainer.data.tokenize import DocumentTokenizer as TrainerTokenizer
    from trainer.vq.tokenizer import ImageTokenizer

    docs = scene_corpus_documents(4, seed=3) + [make_document("/p.html", [scene_image(0, 9)[0], "A caption."])]
    stage = DocumentTokenizer(text_tokenizer=bpe, vq=vq)
    ours = {d.id: d.tokens for d in stage(Batch("p", docs)).docs}
    theirs = TrainerTokenizer(stage.layout, load_text_tokenizer(bpe), ImageTokenizer.load(vq), pair_order="as_is")
    for doc in docs:
        members = dict(encode_document(doc))
        members.pop(f"{doc.id}.tokens.npy")
        sample = {"__key__": doc.id, **{name[len(doc.id) + 1:]: data for name, data in members.items()}}
        np.testing.assert_array_equal(theirs(sample), ours[doc.id])


def pinned_document():
    """A small page: a literal special token, a captioned image whose caption the next text repeats, a failed
    image, an image with usable alt text."""
    captioned, _ = scene_image(0, 1, alt="One red circle.")
    captioned.caption, captioned.caption_model = "A model's caption.", "some-model"
    alt_only, _ = scene_image(0, 2, alt="Two blue squares.")
    return make_document("/pin.html", ["Hi <|eos|> é.", "Next.", captioned, "A model's caption. More.",
                                       failed_image(0), alt_only, "End."])


# The text parts of ``pinned_document`` as ids, per text tokenizer and with/without image descriptions.
PINNED_BYTE = [list(b"Hi <|eos|> \xc3\xa9.\n\nNext."), list(b"A model's caption. More."), list(b"End.")]
PINNED_BYTE_DESCRIBED = PINNED_BYTE[:2] + [list(b"Two blue squares.\n\nEnd.")]
PINNED_BPE = [[44, 77, 288, 389, 281, 225, 282, 18, 203, 203, 295, 92, 88, 18],
              [37, 225, 81, 83, 72, 73, 80, 11, 87, 285, 69, 84, 88, 77, 83, 82, 18, 225, 49, 83, 280, 18],
              [41, 82, 72, 18]]
PINNED_BPE_DESCRIBED = PINNED_BPE[:2] + [[386, 352, 330, 374, 300, 87, 18, 203, 203, 41, 82, 72, 18]]


def test_a_small_documents_tokens_are_pinned(bpe, vq):
    from trainer.data.tokenize import DocumentTokenizer as TrainerTokenizer
    from trainer.vq.tokenizer import ImageTokenizer

    images = ImageTokenizer.load(vq)
    for spec, text_vocab, plain, described in (("byte", 256, PINNED_BYTE, PINNED_BYTE_DESCRIBED),
                                               (bpe, 400, PINNED_BPE, PINNED_BPE_DESCRIBED)):
        for describe, texts in ((False, plain), (True, described)):
            stage = DocumentTokenizer(text_tokenizer=spec, vq=vq, image_descriptions=describe)
            doc = stage(Batch("p", [pinned_document()])).docs[0]
            assert stage.layout == TokenLayout(text_vocab, 64, 64)
            codes = images.encode([doc.images[0].data, doc.images[2].data])
            want = stage.layout.encode([np.array(texts[0]), ImageCodes(codes[0]), np.array(texts[1]),
                                        ImageCodes(codes[1]), np.array(texts[2])])
            np.testing.assert_array_equal(doc.tokens, want)
            assert doc.tokens[:3].tolist() == [stage.layout.bos, *texts[0][:2]]
    # The trainer lays an untokenized sample out as the stage does without descriptions, literal specials and all.
    for spec in ("byte", bpe):
        stage = DocumentTokenizer(text_tokenizer=spec, vq=vq)
        doc = stage(Batch("p", [pinned_document()])).docs[0]
        members = dict(encode_document(doc))
        members.pop(f"{doc.id}.tokens.npy")
        sample = {"__key__": doc.id, **{name[len(doc.id) + 1:]: data for name, data in members.items()}}
        theirs = TrainerTokenizer(stage.layout, load_text_tokenizer(spec), images, pair_order="as_is")
        np.testing.assert_array_equal(theirs(sample), doc.tokens)


def test_image_descriptions_follow_their_image_once(bpe, vq):
    scene, truth = scene_image(0, 4, alt="scene-0004.png")
    scene.caption, scene.caption_model = "A caption by a model.", "some-model"
    alt_only, _ = scene_image(0, 5, alt="Two green squares on the right.")
    figure, _ = scene_image(0, 6, alt="", caption="Figure 1. Blue.", caption_model="figcaption")
    unusable, _ = scene_image(0, 7, alt="IMG_0042.JPG")
    doc = make_document("/d.html", ["Start.", scene, "Next.", alt_only, figure, "Figure 1. Blue.", unusable, "End."])
    stage = DocumentTokenizer(text_tokenizer=bpe, vq=vq, image_descriptions=True)
    tokens = stage(Batch("p", [doc])).docs[0].tokens
    texts = [stage.text.decode(p.tolist()) for p in stage.layout.decode(tokens) if not isinstance(p, ImageCodes)]
    assert texts == ["Start.", "A caption by a model.\n\nNext.", "Two green squares on the right.",
                     "Figure 1. Blue.", "End."]


def test_tokenized_shards_validate_and_count_tokens_per_modality(bpe, vq, tmp_path):
    stage = DocumentTokenizer(text_tokenizer=bpe, vq=vq)
    docs = stage(Batch("p", scene_corpus_documents(5))).docs
    corpus = str(tmp_path / "corpus")
    with ShardWriter(corpus, "part-a", layout=stage.layout) as writer:
        for doc in docs:
            writer.write(doc)
    write_vocabulary(corpus, stage.vocabulary)
    assert validate_corpus(corpus) == []
    reader = ShardReader.open(corpus, list_shards(corpus)[0])
    rows = {r["id"]: r for r in reader.manifest().to_pylist()}
    for doc in reader:
        row = rows[doc.id]
        assert row["n_tokens"] == len(doc.tokens)
        assert row["n_image_tokens"] == 64 * sum(im.status == "ok" for im in doc.images)
        assert row["n_text_tokens"] == int(stage.layout.is_text(doc.tokens).sum())
    vocab = corpus_vocabulary(corpus)
    assert vocab.layout == stage.layout and vocab.text == bpe and vocab.vq == vq
    from trainer.data.shards import corpus_layout

    assert corpus_layout(corpus) == stage.layout  # the trainer finds the layout beside the shards
    assert corpus_layout(f"{corpus}/shards") == corpus_layout(f"{corpus}/shards/{list_shards(corpus)[0]}.tar") == \
        stage.layout


def scene_partitions(corpus: str, n: int) -> None:
    """``n`` partitions of three scene documents each, untokenized."""
    for k in range(n):
        with ShardWriter(corpus, f"part-{k}") as writer:
            for doc in scene_corpus_documents(3, seed=k, tag=f"part-{k}"):
                writer.write(doc)


def tokenize_config(source: str, bpe: str, vq: str, max_grid: int = 32) -> PipelineConfig:
    """``pipelines/tokenize.yaml``'s stage: tokenize on an actor pool of one."""
    return parse_pipeline({"name": "tokenize", "source": {"kind": "corpus", "path": source}, "stages": [
        {"name": "tokenize", "params": {"text_tokenizer": bpe, "vq": vq, "max_grid": max_grid,
                                        "image_descriptions": True}, "resources": {"concurrency": 1}}]})


def test_vocabulary_is_what_the_tokenize_run_wrote(ray_session, bpe, vq, tmp_path):
    source, out = str(tmp_path / "corpus"), str(tmp_path / "tokenized")
    scene_partitions(source, 1)
    assert corpus_vocabulary(source) is None
    record = RunRecord("20200101T000000Z-aaaaaa", "tokenize", {"stages": [
        {"name": "tokenize", "params": {"text_tokenizer": bpe, "vq": vq, "max_grid": 32}}]}, source)
    record.finish("completed")
    record.save()
    assert corpus_vocabulary(source) is None  # a run record is not a vocabulary: the run writes the files
    run_pipeline(tokenize_config(source, bpe, vq), out)
    vocab = corpus_vocabulary(out)
    assert (vocab.layout.text_vocab_size, vocab.layout.codebook_size, vocab.layout.max_grid) == (400, 64, 32)
    assert (vocab.text, vocab.vq) == (bpe, vq) and len(vocab.text_sha256) == 64


def test_a_tokenized_corpus_trains_without_a_publish_step(ray_session, bpe, vq, tmp_path):
    from trainer.cli import main as trainer

    source, out = str(tmp_path / "corpus"), str(tmp_path / "tokenized")
    scene_partitions(source, 3)
    result = run_pipeline(tokenize_config(source, bpe, vq), out)
    assert result.partitions_done == 3 and result.documents == 9
    assert validate_corpus(out) == []
    assert [p.name for p in Path(out).iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert trainer(["train", str(REPO / "trainer" / "configs" / "tiny.yaml"), "--data", out, "--out",
                    str(tmp_path / "run"), "--max-steps", "2", "--device", "cpu", "--quiet",
                    "--set", f"tokenizer.text={bpe}", *(f"--set={k}={v}" for k, v in TINY.items())]) == 0
    assert (tmp_path / "run" / "token_layout.json").read_text() == (Path(out) / "token_layout.json").read_text()


def test_corpus_files_on_rerun_resume_and_other_settings(ray_session, bpe, vq, tmp_path):
    source, out = str(tmp_path / "corpus"), tmp_path / "tokenized"
    scene_partitions(source, 2)
    run_pipeline(tokenize_config(source, bpe, vq), str(out))
    written = {name: (out / name).read_text() for name in ("token_layout.json", "tokenizer.json")}
    for name in written:
        (out / name).unlink()  # as a driver killed after its last commit leaves the corpus
    rerun = run_pipeline(tokenize_config(source, bpe, vq), str(out))
    assert rerun.partitions_skipped == 2 and rerun.partitions_done == 0
    assert {name: (out / name).read_text() for name in written} == written  # the resume commits the run
    with pytest.raises(ConfigError, match="was written by pipeline 'tokenize' with other settings"):
        run_pipeline(tokenize_config(source, bpe, vq, max_grid=16), str(out))
    assert {name: (out / name).read_text() for name in written} == written
    # The same settings over a tokenizer that changed under its path: the files it would write differ.
    moved = tmp_path / "tok"
    shutil.copytree(bpe, moved)
    other = tmp_path / "other"
    run_pipeline(tokenize_config(source, str(moved), vq), str(other))
    (moved / "tokenizer.json").write_text((moved / "tokenizer.json").read_text() + "\n")
    with pytest.raises(ConfigError, match="tokenizer.json was written by an earlier run with other settings"):
        run_pipeline(tokenize_config(source, str(moved), vq), str(other))


def test_tokenizer_train_command_records_the_tokenizer(tmp_path, capsys):
    corpus = str(tmp_path / "corpus")
    with ShardWriter(corpus, "part-a") as writer:
        for doc in scene_corpus_documents(6, seed=1):
            writer.write(doc)
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", corpus, "--vocab-size", "300", "--out", str(out), "--quiet"]) == 0
    assert load_text_tokenizer(str(out)).vocab_size == 300
    records = [json.loads(p.read_text()) for p in (tmp_path / "corpus" / "runs").glob("*.json")]
    assert len(records) == 1 and records[0]["pipeline"] == "tokenizer-train" and records[0]["status"] == "completed"
    config = records[0]["config"]
    assert config["out"] == str(out) and config["trained_vocab_size"] == 300 and len(config["tokenizer_sha256"]) == 64
    assert records[0]["counts"]["tokenizer_train"]["in"] == 6

    assert main(["tokenizer", "train", str(tmp_path / "nowhere"), "--vocab-size", "300", "--out", str(out)]) == 2
    assert "corpus not found" in capsys.readouterr().err
    assert main(["tokenizer", "train", corpus, "--vocab-size", "10", "--out", str(out)]) == 2
