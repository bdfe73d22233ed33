"""The DuckDB catalog, ``dataengine sql`` and ``dataengine validate``, on corpora written by ``ShardWriter``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data as skdata

from dataengine.catalog import Catalog, CorpusError, ReadOnlyError, check_read_only, validate_corpus
from dataengine.shards import ShardWriter, write_rejected
from schemas import Document, ImageRecord, Rejection, Segment, SourceRef, document_id, tables

DATAENGINE = str(Path(sys.executable).parent / "dataengine")


def photo(array, fmt: str) -> bytes:
    image = Image.fromarray(array).convert("RGB")
    image.thumbnail((64, 64))
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


PHOTOS = [photo(skdata.astronaut(), "JPEG"), photo(skdata.chelsea(), "PNG"), photo(skdata.coffee(), "WEBP")]


def make_doc(partition: str, i: int, n_images: int, failed: int = 0) -> Document:
    url = f"https://{partition}.example.org/{i}"
    doc = Document(id=document_id(url, partition), url=url, source=SourceRef("warc", f"{partition}.warc.gz", i * 100),
                   language="en" if i % 2 else "de", scores={"quality": i / 10})
    doc.segments.append(Segment.of_text(f"Document {i} of {partition}."))
    for k in range(n_images + failed):
        if k < n_images:
            data = PHOTOS[(i + k) % len(PHOTOS)]
            doc.images.append(ImageRecord(index=k, url=f"{url}/{k}", format=Image.open(io.BytesIO(data)).format,
                                          sha256=hashlib.sha256(data).hexdigest(), status="ok", data=data))
        else:
            doc.images.append(ImageRecord(index=k, url=f"{url}/{k}", status="failed", error="timeout"))
        doc.segments.append(Segment.of_image(k))
    return doc


def build_corpus(root: Path, with_runner_files: bool = True) -> dict:
    """Two partitions (7 + 3 documents, shards of 3), rejections in one, ledger and run record as the runner writes."""
    ledger = {}
    for partition, n in (("warc-a", 7), ("warc-b", 3)):
        with ShardWriter(str(root), partition, maxcount=3) as writer:
            for i in range(n):
                writer.write(make_doc(partition, i, n_images=i % 3, failed=1 if i == 1 else 0))
        infos = writer.close()
        rejected = [Rejection(f"r{i}", f"https://{partition}/r{i}", "document", "quality", "too_short", 10.0, 50.0)
                    for i in range(2)] if partition == "warc-a" else []
        write_rejected(str(root), partition, rejected)
        ledger[partition] = {"partition": partition, "run_id": "run-1", "committed_at": "2026-01-01T00:00:00Z",
                             "n_docs": n, "n_rejected": len(rejected), "shards": [i.to_json() for i in infos]}
    if with_runner_files:
        (root / "ledger").mkdir()
        for partition, entry in ledger.items():
            (root / "ledger" / f"{partition}.json").write_text(json.dumps(entry))
        (root / "runs").mkdir()
        (root / "runs" / "run-1.json").write_text(json.dumps({
            "run_id": "run-1", "pipeline": "warc", "config": {"source": {"kind": "warc"}},
            "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z", "status": "ok",
            "versions": {"dataengine": "0.1.0"}, "counts": {"quality": {"in": 12, "out": 10}},
            "timings": {"quality": 0.5}}))
    return ledger


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root)
    return root


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DATAENGINE, *args], input=stdin, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- views


def test_views_and_columns(corpus):
    with Catalog(str(corpus)) as cat:
        for view, schema in (("docs", tables.DOCS), ("images", tables.IMAGES), ("rejected", tables.REJECTED)):
            (res,) = cat.query(f"describe {view}")
            assert [r[0] for r in res.rows] == schema.names
        (docs,) = cat.query("select count(*), count(distinct shard), sum(n_images), sum(n_images_ok) from docs")
        assert docs.rows == [(10, 4, 11, 9)]
        (images,) = cat.query("select status, count(*) from images group by 1 order by 1")
        assert images.rows == [("failed", 2), ("ok", 9)]
        (joined,) = cat.query("select count(*) from docs d join images i on i.doc_id = d.id where i.status = 'ok'")
        assert joined.rows == [(9,)]
        (rej,) = cat.query("select partition, reason, count(*) from rejected group by all")
        assert rej.rows == [("warc-a", "too_short", 2)]


def test_shards_ledger_and_runs(corpus):
    with Catalog(str(corpus)) as cat:
        (shards,) = cat.query("select shard, partition, n_docs, committed, run_id, tar_bytes from shards")
        assert [r[:5] for r in shards.rows] == [
            ("warc-a-00000", "warc-a", 3, True, "run-1"), ("warc-a-00001", "warc-a", 3, True, "run-1"),
            ("warc-a-00002", "warc-a", 1, True, "run-1"), ("warc-b-00000", "warc-b", 3, True, "run-1")]
        assert all(r[5] == os.path.getsize(corpus / "shards" / f"{r[0]}.tar") for r in shards.rows)
        (runs,) = cat.query("select run_id, status, counts->'quality'->>'out', config->'source'->>'kind' from runs")
        assert runs.rows == [("run-1", "ok", "10", "warc")]
        (ledger,) = cat.query("select partition, n_docs, n_rejected, n_shards from ledger order by 1")
        assert ledger.rows == [("warc-a", 7, 2, 3), ("warc-b", 3, 0, 1)]


def test_empty_tables_still_give_views(tmp_path):
    with ShardWriter(str(tmp_path), "only", maxcount=5) as writer:
        writer.write(make_doc("only", 0, n_images=0))
    with Catalog(str(tmp_path)) as cat:  # no rejected/, ledger/ or runs/ at all
        for view in ("rejected", "runs", "ledger", "images"):
            (res,) = cat.query(f"select count(*) from {view}")
            assert res.rows == [(0,)]
        (res,) = cat.query("select * from rejected")
        assert res.columns == tables.REJECTED.names and res.rows == []
        (res,) = cat.query("select committed from shards")
        assert res.rows == [(False,)]
        (res,) = cat.query("select sum(value) from rejected")
        assert res.rows == [(None,)]


def test_missing_or_empty_corpus(tmp_path):
    with pytest.raises(CorpusError, match="corpus not found"):
        Catalog(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no shard manifests"):
        Catalog(str(tmp_path / "empty"))
    for args in (("sql", str(tmp_path / "nope"), "select 1"), ("sql", str(tmp_path / "empty"), "select 1"),
                 ("validate", str(tmp_path / "nope")), ("validate", str(tmp_path / "empty"))):
        proc = cli(*args)
        assert proc.returncode == 2, args  # the command could not start: exit 2, as for every command
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("dataengine: error: ") and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- read only


@pytest.mark.parametrize("sql", [
    "create table t as select * from docs",
    "insert into rejected values (1)",
    "copy (select * from docs) to '{out}'",
    "copy docs to '{out}' (format parquet)",
    "attach '{out}' as db",
    "set threads = 1",
    "install httpfs",
    "explain analyze copy (select 1) to '{out}'",
    "select 1; copy (select 1) to '{out}'",
    "drop view docs",
])
def test_write_statements_refused(corpus, tmp_path, sql):
    out = tmp_path / "written.csv"
    sql = sql.format(out=out)
    with Catalog(str(corpus)) as cat:
        with pytest.raises(ReadOnlyError, match="only read queries"):
            cat.query(sql)
        assert cat.query("select count(*) from docs")[0].rows == [(10,)]
    proc = cli("sql", str(corpus), sql)
    assert proc.returncode == 1 and "only read queries" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_read_statements_allowed(corpus):
    for sql in ("select 1", "with x as (select 1) select * from x", "from docs limit 1", "describe docs",
                "show tables", "summarize docs", "explain select * from docs", "select 1; select 2"):
        assert check_read_only(sql)
    with Catalog(str(corpus)) as cat:
        assert [r.rows for r in cat.query("select 1; select 2")] == [[(1,)], [(2,)]]


# ---------------------------------------------------------------- dataengine sql


def test_sql_table_format(corpus):
    proc = cli("sql", str(corpus), "select shard, n_docs from shards order by shard")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["shard", "n_docs"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert [line.split() for line in lines[2:6]] == [["warc-a-00000", "3"], ["warc-a-00001", "3"],
                                                      ["warc-a-00002", "1"], ["warc-b-00000", "3"]]
    assert len({len(line) for line in lines[:6]}) == 1  # aligned: numbers right-justified to the header
    assert lines[6] == "(4 rows)"


def test_sql_csv_and_json_formats(corpus):
    query = "select id, n_images_ok, scores, language from docs order by shard, \"offset\""
    proc = cli("sql", str(corpus), query, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 10 and set(rows[0]) == {"id", "n_images_ok", "scores", "language"}
    assert json.loads(rows[1]["scores"]) == {"quality": 0.1}
    proc = cli("sql", str(corpus), "--format", "json", query)  # the option between the arguments, as the README has it
    assert proc.returncode == 0, proc.stderr
    objs = json.loads(proc.stdout)
    assert isinstance(objs, list) and len(objs) == 10
    assert objs[1]["scores"] == {"quality": 0.1} and objs[0]["language"] == "de"
    assert [o["id"] for o in objs] == [r["id"] for r in rows]
    assert [o["n_images_ok"] for o in objs] == [int(r["n_images_ok"]) for r in rows]


def test_sql_errors_are_one_line(corpus):
    proc = cli("sql", str(corpus), "select nope from docs")
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "nope" in proc.stderr and "Traceback" not in proc.stderr


def test_sql_prompt_reads_piped_queries(corpus, tmp_path):
    script = "\n".join([
        "select count(*) as n",
        "from docs;",
        ".tables",
        "help",
        "select 'blank line ends it' as s",
        "",
        "copy docs to '" + str(tmp_path / "x.csv") + "';",
        "select 42 as answer;",
        ".quit",
        "select 'after quit' as s;",
    ]) + "\n"
    proc = cli("sql", str(corpus), "--format", "csv", stdin=script)
    assert proc.stdout.splitlines()[:2] == ["n", "10"]
    assert "docs: id VARCHAR" in proc.stdout and "runs: run_id VARCHAR" in proc.stdout
    assert ".tables lists views" in proc.stdout  # `help`, as people type it at any prompt
    assert "blank line ends it" in proc.stdout
    assert "answer\n42\n" in proc.stdout
    assert "after quit" not in proc.stdout
    assert "only read queries" in proc.stderr and not (tmp_path / "x.csv").exists()
    assert proc.returncode == 1  # one query failed
    proc = cli("sql", str(corpus), stdin="select 7 as x\n")  # EOF ends the last query
    assert proc.returncode == 0 and proc.stdout.splitlines()[2].strip() == "7"


# ---------------------------------------------------------------- validate


@pytest.fixture
def fresh(tmp_path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    build_corpus(root)
    return root


def test_validate_passes_a_good_corpus(fresh):
    assert validate_corpus(str(fresh)) == []
    proc = cli("validate", str(fresh))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "OK: 4 shards, 10 documents"


def rewrite_tar(path: Path, keep=lambda info: True, change=lambda info, data: data) -> None:
    members = []
    with tarfile.open(path) as t:
        for info in t:
            if keep(info):
                members.append((info, change(info, t.extractfile(info).read())))
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def image_member(root: Path, shard: str) -> str:
    rows = pq.read_table(root / "images" / f"{shard}.parquet").to_pylist()
    return next(r["member"] for r in rows if r["status"] == "ok")


def test_validate_catches_a_deleted_member(fresh):
    member = image_member(fresh, "warc-a-00000")
    rewrite_tar(fresh / "shards" / "warc-a-00000.tar", keep=lambda info: info.name != member)
    problems = validate_corpus(str(fresh))
    key = member.split(".")[0]
    assert f"warc-a-00000: {key}: image {member.split('.')[1]}: member {member} is missing" in problems
    proc = cli("validate", str(fresh))
    assert proc.returncode == 1 and f"member {member} is missing" in proc.stdout and "OK" not in proc.stdout


def test_validate_catches_a_wrong_offset(fresh):
    path = fresh / "docs" / "warc-a-00001.parquet"
    table = pq.read_table(path)
    offsets = table.column("offset").to_pylist()
    offsets[1] += 512
    pq.write_table(table.set_column(table.schema.get_field_index("offset"), "offset", pa.array(offsets, pa.int64())),
                   path)
    problems = validate_corpus(str(fresh))
    key = table.column("id")[1].as_py()
    assert any(p.startswith(f"warc-a-00001: {key}: manifest offset {offsets[1]}") for p in problems), problems
    assert len(problems) == 1


def test_validate_catches_damage_and_disagreement(fresh):
    # flipped bytes inside an image: the tar still reads, the sha256 catches it
    member = image_member(fresh, "warc-b-00000")
    rewrite_tar(fresh / "shards" / "warc-b-00000.tar",
                change=lambda info, data: (data[:-8] + bytes(b ^ 0xFF for b in data[-8:])
                                           if info.name == member else data))
    # the image table disagrees with the JSON
    path = fresh / "images" / "warc-b-00000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index("status"), "status",
                                    pa.array(["ok"] * table.num_rows, pa.string())), path)
    # samples out of manifest order
    path = fresh / "docs" / "warc-a-00000.parquet"
    pq.write_table(pq.read_table(path).take([1, 0, 2]), path)
    # a tar gone, and a ledger that disagrees
    (fresh / "shards" / "warc-a-00001.tar").unlink()
    ledger = json.loads((fresh / "ledger" / "warc-b.json").read_text())
    ledger["shards"][0]["n_docs"] = 99
    (fresh / "ledger" / "warc-b.json").write_text(json.dumps(ledger))
    problems = "\n".join(validate_corpus(str(fresh)))
    assert f"member {member} does not match its sha256" in problems
    assert "image 1: image table status is 'ok', the shard says 'failed'" in problems
    assert "warc-a-00000: keys are not in manifest order" in problems
    assert "warc-a-00001: tar shards/warc-a-00001.tar is missing" in problems
    assert "warc-b-00000: ledger says n_docs 99, the shard has 3" in problems


def test_validate_catches_invalid_json_and_orphans(fresh):
    key = pq.read_table(fresh / "docs" / "warc-b-00000.parquet").column("id")[0].as_py()

    def break_json(info, data):
        if info.name != f"{key}.json":
            return data
        doc = json.loads(data)
        doc["segments"].append({"type": "image", "image": 9})
        return json.dumps(doc).encode()

    rewrite_tar(fresh / "shards" / "warc-b-00000.tar", change=break_json)
    shutil.copy(fresh / "shards" / "warc-b-00000.tar", fresh / "shards" / "warc-c-00000.tar")
    problems = validate_corpus(str(fresh))
    assert any(p.startswith(f"warc-b-00000: {key}: {key}.json: segments[") and "refers to image 9" in p
               for p in problems), problems
    assert "warc-c-00000: tar without a manifest" in problems


# ---------------------------------------------------------------- the ledger decides what is committed


def test_readers_list_only_what_the_ledger_commits(tmp_path):
    # A crash between renaming warc-b's files into place and writing its ledger entry.
    from dataengine.shards import iter_corpus, list_shards, shard_urls
    from trainer.data.shards import list_shards as trainer_shards

    root = tmp_path / "c"
    build_corpus(root)
    (root / "ledger" / "warc-b.json").unlink()
    corpus = str(root)
    committed = ["warc-a-00000", "warc-a-00001", "warc-a-00002"]
    assert list_shards(corpus) == committed
    assert [u.rsplit("/", 1)[-1] for u in shard_urls(corpus)] == [n + ".tar" for n in committed]
    assert [u.rsplit("/", 1)[-1] for u in trainer_shards(corpus)] == [n + ".tar" for n in committed]
    assert len(list(iter_corpus(corpus))) == 7
    with Catalog(corpus) as cat:
        assert cat.arrow("select count(*) n from docs").column("n")[0].as_py() == 7
        assert cat.arrow("select count(*) n from images where shard like 'warc-b%'").column("n")[0].as_py() == 0
        assert cat.arrow("select count(*) n from shards").column("n")[0].as_py() == 3
        assert cat.arrow("select count(*) n from rejected").column("n")[0].as_py() == 2  # warc-a's
    assert cli("obelics", "export", corpus, str(tmp_path / "obelics.parquet")).returncode == 0
    assert pq.read_table(tmp_path / "obelics.parquet").num_rows == 7
    problems = validate_corpus(corpus)  # validate still sees, and names, what is not committed
    assert any("warc-b-00000" in p and "no ledger entry" in p for p in problems)


def test_a_bare_shard_folder_counts_every_shard(tmp_path):
    build_corpus(tmp_path, with_runner_files=False)  # ShardWriter alone: no commit record
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "r.json").write_text("{}")  # a command that read it (tokenizer train) recorded its run
    from dataengine.shards import list_shards

    assert len(list_shards(str(tmp_path))) == 4
