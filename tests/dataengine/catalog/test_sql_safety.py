"""SQL over a corpus reads the corpus's own files and nothing else (issue 12).

``check_read_only`` refuses statements that write; these tests are about what is left: reads of
other files from inside a SELECT, and the connection itself (``Catalog.con``), whose DuckDB settings
(no external access beyond the corpus's files, no extension install/load, locked configuration)
hold even for statements that never pass through ``check_read_only``. S3 is moto's S3 API server on
loopback, read through s3fs as a bucket on AWS would be.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_catalog import DATAENGINE, build_corpus, cli

from dataengine.catalog import AccessError, Catalog

REFUSED = "only the corpus's own files can be read"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("safety") / "corpus"
    root.mkdir()
    build_corpus(root)
    (root.parent / "secret.txt").write_text("not part of the corpus\n")
    pq.write_table(pa.table({"x": [1]}), root.parent / "other.parquet")
    (root / "notes.txt").write_text("in the corpus folder but not a corpus file\n")
    return root


def outside_queries(root: Path) -> list[str]:
    other = root.parent
    return [
        "select * from read_csv('/etc/passwd')",
        f"select * from read_text('{other / 'secret.txt'}')",
        f"select * from read_blob('{other / 'secret.txt'}')",
        f"select * from read_parquet('{other / 'other.parquet'}')",
        f"select * from read_text('{root}/../secret.txt')",  # a path that only looks like it is inside
        f"select * from read_text('{root / 'notes.txt'}')",  # only the files the catalog reads, not the folder
        "select * from glob('/etc/*')",
        f"select * from glob('{root}/shards/*')",  # exact files are allowed, so listing is not
        "select count(*) from docs, read_csv('/etc/passwd')",
    ]


def test_reads_outside_the_corpus_are_refused(corpus):
    with Catalog(str(corpus)) as cat:
        for sql in outside_queries(corpus):
            with pytest.raises(AccessError, match=REFUSED):
                cat.query(sql)
        assert cat.query("select count(*) from docs")[0].rows == [(10,)]


@pytest.mark.parametrize("which", [0, 1, 6])
def test_sql_command_reports_a_refused_read_in_one_line(corpus, which):
    proc = cli("sql", str(corpus), outside_queries(corpus)[which])
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"dataengine: error: {REFUSED}") and "Traceback" not in proc.stderr


def test_duckdb_spill_folder_of_the_working_directory_is_not_readable(corpus, tmp_path):
    # DuckDB's default temp_directory is ./.tmp, and it allows reading its temp_directory
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "mine.txt").write_text("a user's own file\n")
    proc = subprocess.run([DATAENGINE, "sql", str(corpus), "select content from read_text('.tmp/mine.txt')"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and REFUSED in proc.stderr and "a user's own file" not in proc.stdout


def test_corpus_views_and_files_stay_readable(corpus):
    with Catalog(str(corpus)) as cat:
        counts = {v: cat.query(f"select count(*) from {v}")[0].rows[0][0]
                  for v in ("docs", "images", "rejected", "shards", "runs", "ledger")}
        assert counts == {"docs": 10, "images": 11, "rejected": 2, "shards": 4, "runs": 1, "ledger": 2}
        (res,) = cat.query(f"select count(*) from read_parquet('{corpus / 'docs' / 'warc-a-00000.parquet'}')")
        assert res.rows == [(3,)]
        (res,) = cat.query(f"select count(*) from read_parquet('{corpus / 'images' / 'warc-a-00000.parquet'}')")
        assert res.rows == [(4,)]  # documents 0, 1, 2 with 0, 1 + 1 failed, 2 image slots
        tar = corpus / "shards" / "warc-a-00000.tar"
        (res,) = cat.query(f"select size from read_blob('{tar}')")
        assert res.rows == [(os.path.getsize(tar),)]
        (res,) = cat.query(f"select n_docs from read_json('{corpus / 'ledger' / 'warc-a.json'}')")
        assert res.rows == [(7,)]
        (res,) = cat.query(f"select count(*) from read_parquet('{corpus / 'rejected' / 'warc-a.parquet'}')")
        assert res.rows == [(2,)]
        (res,) = cat.query("select count(*) from shards s join docs d using (shard) where s.committed")
        assert res.rows == [(10,)]


@pytest.mark.parametrize("sql", [
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET autoload_known_extensions = true",
    "SET autoinstall_known_extensions = true",
    "SET allowed_directories = ['/']",
    "SET allowed_paths = ['/etc/passwd']",
    "SET temp_directory = '/etc'",
])
def test_the_connection_settings_cannot_be_changed_back(corpus, sql):
    with Catalog(str(corpus)) as cat:
        with pytest.raises(duckdb.Error, match="locked"):
            cat.con.execute(sql)
        with pytest.raises(AccessError, match=REFUSED):
            cat.query("select * from read_csv('/etc/passwd')")


def test_extensions_cannot_be_installed_or_loaded(corpus, tmp_path):
    fake = tmp_path / "x.duckdb_extension"
    fake.write_bytes(b"\0" * 64)
    with Catalog(str(corpus)) as cat:
        assert cat.con.execute("select current_setting('autoinstall_known_extensions'), "
                               "current_setting('autoload_known_extensions')").fetchall() == [(False, False)]
        for sql in ("INSTALL httpfs", "LOAD httpfs", "FORCE INSTALL sqlite", f"LOAD '{fake}'"):
            with pytest.raises(duckdb.PermissionException):
                cat.con.execute(sql)


def test_attach_and_copy_are_refused_by_the_connection(corpus, tmp_path):
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("create table secrets as select 'hidden' as s")
    out = tmp_path / "out.csv"
    with Catalog(str(corpus)) as cat:
        for sql in (f"ATTACH '{other}' AS other (READ_ONLY)", f"COPY (select 1) TO '{out}'",
                    f"COPY docs TO '{out}' (FORMAT parquet)", f"ATTACH '{tmp_path / 'new.duckdb'}' AS new"):
            with pytest.raises(duckdb.PermissionException):
                cat.con.execute(sql)
    assert not out.exists() and not (tmp_path / "new.duckdb").exists()


def test_prompt_goes_through_the_locked_connection(corpus):
    script = f"select * from read_text('{corpus.parent / 'secret.txt'}');\nselect count(*) as n from docs;\n"
    proc = cli("sql", str(corpus), "--format", "csv", stdin=script)
    assert "not part of the corpus" not in proc.stdout
    assert proc.stdout.splitlines() == ["n", "10"]
    assert proc.stderr.strip().splitlines() == [line for line in proc.stderr.strip().splitlines() if REFUSED in line]
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.returncode == 1


# ---------------------------------------------------------------- s3


def test_s3_corpus_reads_only_its_own_objects(corpus, s3):
    s3.mkdir("corpora")
    s3.put(str(corpus), "corpora/c", recursive=True)
    s3.put(str(corpus.parent / "other.parquet"), "corpora/other.parquet")
    s3.put(str(corpus.parent / "other.parquet"), "corpora/c2/docs/x.parquet")  # shares the prefix "c"
    with Catalog("s3://corpora/c") as cat:
        assert cat.query("select count(*) from docs")[0].rows == [(10,)]
        assert cat.query("select count(*) from shards where committed")[0].rows == [(4,)]
        (res,) = cat.query("select count(*) from read_parquet('s3://corpora/c/docs/warc-b-00000.parquet')")
        assert res.rows == [(3,)]
        for sql in ("select * from read_parquet('s3://corpora/other.parquet')",
                    "select * from read_parquet('s3://corpora/c2/docs/x.parquet')",
                    "select * from glob('s3://corpora/*')", "select * from read_csv('/etc/passwd')"):
            with pytest.raises(AccessError, match=REFUSED):
                cat.query(sql)
