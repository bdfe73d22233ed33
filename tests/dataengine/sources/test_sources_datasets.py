"""Dataset sources: local Hugging Face datasets built from real photos, and the OBELICS layout both ways."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataengine.cli import main
from dataengine.runner.config import ConfigError, parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import iter_corpus
from dataengine.sources.hf import HfDatasetSource
from dataengine.sources.obelics import SCHEMA, ObelicsSource
from schemas import Document

# Captions as given in ../shared/fixtures/SOURCES.md
PHOTOS = {"img1.png": "A comfortable bed.", "img2.jpg": "A bus.",
          "img3.jpg": "Black and white photograph of a woman holding an umbrella.",
          "cat.jpg": "Two cats on a pink couch.", "blip.jpg": "A woman and her dog on a beach."}


def read_all(source) -> list:
    return [item for p in source.partitions() for item in source.read(p)]


def photo_dataset(photos: Path, bad_rows: bool):
    import datasets

    names = list(PHOTOS)
    images: list = [str(photos / n) for n in names]
    texts: list = [PHOTOS[n] for n in names]
    if bad_rows:
        images += [None, {"bytes": b"not an image", "path": None}, str(photos / "img2.jpg")]
        texts += ["no image", "garbage bytes", "   "]
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string"),
                                  "link": datasets.Value("string")})
    links = [f"https://example.org/{i}.jpg" for i in range(len(images))]
    return datasets.Dataset.from_dict({"image": images, "text": texts, "link": links}, features=features)


def test_saved_dataset_through_the_pipeline(ray_session, fixtures, tmp_path):
    photo_dataset(fixtures / "photos", bad_rows=True).save_to_disk(str(tmp_path / "ds"))
    config = parse_pipeline({"name": "hf", "source": {"kind": "hf", "path": str(tmp_path / "ds"),
                                                      "url_col": "link", "rows_per_partition": 3}})
    result = run_pipeline(config, str(tmp_path / "corpus"))
    assert result.partitions_total == 3 and result.documents == len(PHOTOS)
    assert {reason: n for (_, _, reason), n in result.rejected.items()} == {
        "no_image": 1, "not_an_image": 1, "empty_text": 1}
    docs = sorted(iter_corpus(str(tmp_path / "corpus")), key=lambda d: d.source.offset)
    for i, (doc, name) in enumerate(zip(docs, PHOTOS)):
        data = (fixtures / "photos" / name).read_bytes()
        [image] = doc.images
        assert doc.source.kind == "hf" and doc.source.offset == i and doc.url == f"https://example.org/{i}.jpg"
        assert [s.kind for s in doc.segments] == ["image", "text"] and doc.segments[1].text == PHOTOS[name]
        assert image.status == "ok" and image.data == data and image.sha256 == hashlib.sha256(data).hexdigest()
        assert image.format == ("png" if name.endswith(".png") else "jpeg") and image.width > 100


def test_dataset_dict_splits_and_column_errors(fixtures, tmp_path):
    import datasets

    ds = photo_dataset(fixtures / "photos", bad_rows=False)
    datasets.DatasetDict({"train": ds.select(range(3)), "test": ds.select(range(3, 5))}).save_to_disk(
        str(tmp_path / "dd"))
    docs = read_all(HfDatasetSource(str(tmp_path / "dd"), split="test"))
    assert [d.segments[1].text for d in docs] == [PHOTOS["cat.jpg"], PHOTOS["blip.jpg"]]
    assert docs[0].url.startswith((tmp_path / "dd").as_uri()) and "split=test&row=0" in docs[0].url
    with pytest.raises(ConfigError, match="has no split 'validation'; splits: train, test"):
        HfDatasetSource(str(tmp_path / "dd"), split="validation").partitions()
    with pytest.raises(ConfigError, match="has no column 'caption'; columns found: image, text, link"):
        HfDatasetSource(str(tmp_path / "dd"), text_col="caption").partitions()
    with pytest.raises(ConfigError, match="is not a folder"):
        HfDatasetSource(str(tmp_path / "nowhere")).partitions()


def test_imagefolder_with_metadata(fixtures, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    lines = []
    for name in ("cat.jpg", "img3.jpg"):
        (folder / name).write_bytes((fixtures / "photos" / name).read_bytes())
        lines.append(json.dumps({"file_name": name, "caption": PHOTOS[name]}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    source = HfDatasetSource(str(folder), text_col="caption", cache_dir=str(tmp_path / "cache"))
    docs = read_all(source)
    assert sorted(d.segments[1].text for d in docs) == sorted(PHOTOS[n] for n in ("cat.jpg", "img3.jpg"))
    shas = {hashlib.sha256((fixtures / "photos" / n).read_bytes()).hexdigest() for n in ("cat.jpg", "img3.jpg")}
    assert {d.images[0].sha256 for d in docs} == shas


def obelics_rows() -> list[dict]:
    meta = json.dumps([None, {"document_url": "https://a.example/doc", "src": "https://a.example/1.jpg",
                              "alt_text": "a lighthouse"}, None])
    good = {"images": [None, "https://a.example/1.jpg", None], "texts": ["Intro.", None, "Outro."],
            "metadata": meta, "general_metadata": json.dumps({"url": "https://a.example/doc",
                                                              "warc_filename": "crawl-data/x.warc.gz"})}
    return [
        good,
        {**good, "texts": ["Intro.", None]},                                   # lists of different lengths
        {**good, "texts": ["Intro.", "both set", "Outro."]},                   # image and text at one position
        {**good, "metadata": "{not json"},                                     # broken metadata
        {"images": [], "texts": [], "metadata": "[]", "general_metadata": "{}"},  # nothing in it
    ]


def test_obelics_import_rejects_rows_that_break_the_layout(tmp_path):
    pq.write_table(pa.Table.from_pylist(obelics_rows(), schema=SCHEMA), tmp_path / "obelics.parquet")
    items = read_all(ObelicsSource(paths=str(tmp_path / "obelics.parquet"), rows_per_partition=2))
    doc = items[0]
    assert isinstance(doc, Document) and doc.url == "https://a.example/doc" and doc.source.offset == 0
    assert [(s.kind, s.text, s.image) for s in doc.segments] == [("text", "Intro.", None), ("image", None, 0),
                                                                 ("text", "Outro.", None)]
    assert doc.images[0].url == "https://a.example/1.jpg" and doc.images[0].alt == "a lighthouse"
    assert doc.images[0].status == "pending"
    assert [r.reason for r in items[1:]] == ["bad_row", "bad_row", "bad_row", "empty_document"]
    assert "obelics.parquet row 2: position 1 must have exactly one" in items[2].detail

    pq.write_table(pa.table({"texts": [["x"]]}), tmp_path / "other.parquet")
    with pytest.raises(ConfigError, match="other.parquet has no column 'images'; columns found: texts"):
        ObelicsSource(paths=str(tmp_path / "other.parquet")).partitions()


def test_obelics_export_and_import_round_trip(ray_session, fixtures, tmp_path, capsys):
    warc = str(fixtures / "warc" / "wget-english-sample.warc.gz")
    config = parse_pipeline({"name": "web", "source": {"kind": "warc", "paths": warc},
                             "stages": [{"name": "extract_html"}]})
    run_pipeline(config, str(tmp_path / "web"))
    original = {d.url: d for d in iter_corpus(str(tmp_path / "web"))}
    assert len(original) > 10 and sum(len(d.images) for d in original.values()) > 20

    out = tmp_path / "export.parquet"
    assert main(["obelics", "export", str(tmp_path / "web"), str(out)]) == 0
    table = pq.read_table(out)
    assert table.schema.names == ["images", "metadata", "general_metadata", "texts"]
    assert table.num_rows == len(original)
    for row in table.to_pylist():  # the layout's invariant, which other OBELICS readers rely on
        assert len(row["images"]) == len(row["texts"]) == len(json.loads(row["metadata"]))
        assert all((i is None) != (t is None) for i, t in zip(row["images"], row["texts"]))

    assert main(["obelics", "import", str(out), "--output", str(tmp_path / "back"),
                 "--rows-per-partition", "8"]) == 0
    assert "partitions written" in capsys.readouterr().out
    back = {d.url: d for d in iter_corpus(str(tmp_path / "back"))}
    assert back.keys() == original.keys()
    for url, doc in original.items():
        again = back[url]
        # the layout has no place for a text block's HTML tag; everything else comes back
        assert [(s.kind, s.text, s.image) for s in again.segments] == [(s.kind, s.text, s.image) for s in doc.segments]
        assert [(i.url, i.alt) for i in again.images] == [(i.url, i.alt) for i in doc.images]
        assert (again.title, again.language) == (doc.title, doc.language)
        assert all(i.status == "pending" for i in again.images)  # OBELICS holds URLs, not bytes


def test_obelics_export_of_a_missing_corpus_is_one_line(tmp_path, capsys):
    assert main(["obelics", "export", str(tmp_path / "nope"), str(tmp_path / "x.parquet")]) == 2
    assert "corpus not found" in capsys.readouterr().err and not (tmp_path / "x.parquet").exists()
