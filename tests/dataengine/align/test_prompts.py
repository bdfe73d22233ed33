"""The prompts source: a JSONL, Parquet or txt file, a local HF dataset, a corpus's alt texts; bad rows rejected."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataengine.align.prompts import PromptSource
from dataengine.errors import ConfigError
from dataengine.sampleweb.images import png_bytes
from dataengine.sampleweb.scenes import render_scene
from dataengine.shards.writer import ShardWriter
from schemas import Document, ImageRecord, Rejection, Segment, SourceRef, document_id
from schemas.scenes import Scene


def _read_all(source: PromptSource) -> tuple[list[str], list[str]]:
    texts, reasons = [], []
    for part in source.partitions():
        for item in source.read(part):
            if isinstance(item, Rejection):
                reasons.append(item.reason)
            else:
                assert isinstance(item, Document) and len(item.segments) == 1
                texts.append(item.text)
    return texts, reasons


def test_jsonl_parquet_and_txt_prompt_files(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "Two red circles on the left."}\n{"prompt": ""}\nnot json\n{"text": "x"}\n'
                     '{"prompt": 3}\n')
    texts, reasons = _read_all(PromptSource(origin="file", path=str(jsonl), per_partition=2))
    assert texts == ["Two red circles on the left."]
    assert sorted(reasons) == ["bad_row", "empty_prompt", "no_prompt_column", "prompt_not_text"]
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"caption": ["A cat.", "A dog.", "A bird."]}), parquet)
    texts, _ = _read_all(PromptSource(origin="file", path=str(parquet), column="caption", count=2))
    assert texts == ["A cat.", "A dog."]
    txt = tmp_path / "p.txt"
    txt.write_text("One blue square in the center.\nThree green triangles on the top.\n")
    assert _read_all(PromptSource(origin="file", path=str(txt)))[0] == ["One blue square in the center.",
                                                                         "Three green triangles on the top."]
    with pytest.raises(ConfigError, match="must be .jsonl, .parquet or .txt"):
        PromptSource(origin="file", path=str(tmp_path / "p.csv")).partitions()


def test_hf_dataset_and_corpus_prompts(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"prompt": ["A red circle.", "Two cats."]}).save_to_disk(str(tmp_path / "hf"))
    assert _read_all(PromptSource(origin="hf", path=str(tmp_path / "hf")))[0] == ["A red circle.", "Two cats."]
    with pytest.raises(ConfigError, match="has no column 'caption'"):
        PromptSource(origin="hf", path=str(tmp_path / "hf"), column="caption").partitions()
    corpus = tmp_path / "corpus"
    with ShardWriter(str(corpus), "p0") as writer:
        for k, (alt, caption) in enumerate([("A bus.", None), (None, "A written caption."), ("", None)]):
            url = f"https://x.example/{k}"
            doc = Document(document_id(url, "t"), url, SourceRef("crawl", "t"), segments=[Segment.of_image(0)],
                           images=[ImageRecord(0, url + ".png", alt=alt, caption=caption, status="ok", format="png",
                                               data=png_bytes(render_scene(Scene.from_caption("Two red circles on "
                                                                                              "the left.", 32), k)))])
            writer.write(doc)
    assert sorted(_read_all(PromptSource(origin="corpus", path=str(corpus)))[0]) == ["A bus.", "A written caption."]


def test_bad_parameters_fail_before_any_work():
    with pytest.raises(ValueError, match="origin must be one of"):
        PromptSource(origin="web")
    with pytest.raises(ValueError, match="origin file needs a path"):
        PromptSource(origin="file")
