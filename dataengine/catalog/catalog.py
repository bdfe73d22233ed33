"""``Catalog``: DuckDB views over a corpus, for queries only.

Views (all present even when their tables are empty, with the right columns):

- ``docs``: every manifest row (``schemas.tables.DOCS``), one per document.
- ``images``: every image slot (``schemas.tables.IMAGES``), failed ones included.
- ``rejected``: everything the stages removed (``schemas.tables.REJECTED``).
- ``shards``: one row per shard: file size, document/image/token totals, and the ledger entry
  that committed it (``committed`` is false when no ledger lists it).
- ``runs``: one row per run record; ``config``, ``versions``, ``counts`` and ``timings`` are
  JSON (``select counts->'filter'->>'in' from runs``).
- ``ledger``: one row per committed partition.
- ``alignment``: the alignment samples of a self-generation round (documents with an
  assessment): prompt, round, candidate, mode, role (``chosen``, ``rejected``, ``assessment``),
  pair, checkpoint, and the whole ``assessment`` as JSON.
- ``candidates``: every generated candidate, kept or not, once per judge that scored it: the
  kept ones from ``alignment``, the others from the ``select`` stage's ``rejected`` rows, with
  ``judge``, ``score``, ``passed``, per-aspect scores (``aspects``, JSON), ``chosen`` and the ``reason`` it was dropped
  (``select judge, round, avg(score), count(*) filter (where chosen) from candidates group by all``).

The connection is in memory and only read statements are run (``check_read_only``), so
nothing done through a ``Catalog`` can change the corpus.

Reads are limited too: once the views exist, the connection is locked down with DuckDB's own
settings, so they hold for anything run on ``Catalog.con``, not only for what passes the
statement check. External access is off except for ``allowed_paths``, which names exactly the
corpus's committed files the catalog listed (manifests, image tables, rejected tables, tars,
ledger and run records; local paths or the corpus's URLs on a remote filesystem). So
``read_parquet('CORPUS/docs/NAME.parquet')`` works, while any other file, a glob (even inside
the corpus), other objects under the same bucket, ``ATTACH``, ``COPY ... TO``, ``INSTALL`` and
``LOAD`` do not; extensions are neither installed nor loaded on demand; and the configuration is
locked, so ``SET``/``RESET`` cannot undo any of it. A refused read raises ``AccessError``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from dataengine.shards.layout import CorpusError, corpus_files, is_remote, open_corpus, partition_of, shard_of
from schemas import tables

__all__ = ["AccessError", "Catalog", "CorpusError", "ReadOnlyError", "QueryResult", "check_read_only", "VIEWS"]

VIEWS = ("docs", "images", "rejected", "shards", "runs", "ledger", "alignment", "candidates")

_ALIGNMENT = """
    CREATE VIEW alignment AS
    SELECT id, shard, a->>'prompt_id' AS prompt_id, a->>'prompt' AS prompt, (a->>'round')::INTEGER AS round,
           (a->>'candidate')::INTEGER AS candidate, a->>'mode' AS mode, a->>'role' AS role,
           a->>'selected_by' AS selected_by, a->>'pair' AS pair, a->>'checkpoint' AS checkpoint, a AS assessment
    FROM (SELECT id, shard, assessment::JSON AS a FROM docs WHERE assessment IS NOT NULL)"""
_CANDIDATES = """
    CREATE VIEW candidates AS
    WITH c AS (
        SELECT id, prompt_id, prompt, round, candidate, mode, role, role = 'chosen' AS chosen,
               NULL::VARCHAR AS reason, assessment->'judgements' AS js
        FROM alignment WHERE role IN ('chosen', 'rejected', 'candidate')
        UNION ALL
        SELECT id, d->>'prompt_id', d->>'prompt', (d->>'round')::INTEGER, (d->>'candidate')::INTEGER, d->>'mode',
               'dropped', false, reason, d->'judgements'
        FROM (SELECT id, reason, detail::JSON AS d FROM rejected WHERE stage = 'select' AND detail IS NOT NULL))
    SELECT c.id, prompt_id, prompt, round, candidate, mode, role, chosen, reason,
           j->>'judge' AS judge, (j->>'score')::DOUBLE AS score, (j->>'passed')::BOOLEAN AS passed,
           j->'aspects' AS aspects
    FROM c, unnest(from_json(c.js, '["JSON"]')) AS t(j)"""
_READ_TYPES = {duckdb.StatementType.SELECT}
_REFUSED_HINT = "only read queries are allowed (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)"


class ReadOnlyError(ValueError):
    """A statement that could write (CREATE, INSERT, COPY, ATTACH, SET, ...) was refused."""


class AccessError(ValueError):
    """A query tried to read a file that is not one of the corpus's own."""


def _access_error(exc: duckdb.PermissionException) -> AccessError:
    # DuckDB says "Permission Error: Cannot access file "X" - file system operations are disabled by
    # configuration"; the configuration part would send the user looking for a setting they cannot change
    detail = (str(exc).strip().splitlines() or ["refused"])[0].removeprefix("Permission Error: ").split(" - ")[0]
    return AccessError(f"only the corpus's own files can be read through SQL; refused: {detail}")


@dataclass
class QueryResult:
    """Column names, DuckDB type names and rows (tuples of Python values) of one statement."""

    columns: list[str]
    types: list[str]
    rows: list[tuple]


def _statement_kind(stmt: Any) -> str:
    return str(stmt.type).rsplit(".", 1)[-1]


def check_read_only(sql: str) -> list[str]:
    """The statements of ``sql``, each checked to be a read; ``ReadOnlyError`` names the first that is not.

    Raises ``duckdb.ParserException`` for SQL that does not parse.
    """
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise ReadOnlyError("empty query")
    out = []
    for stmt in statements:
        text = stmt.query.strip().rstrip(";").strip()
        kind = _statement_kind(stmt)
        if stmt.type == duckdb.StatementType.EXPLAIN:
            inner = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
            if inner[:7].lower() == "analyze":
                inner = inner[7:]
            try:
                inner_stmts = duckdb.extract_statements(inner)
            except duckdb.Error:
                inner_stmts = []
            if len(inner_stmts) != 1 or inner_stmts[0].type not in _READ_TYPES:
                raise ReadOnlyError(f"{_REFUSED_HINT}; refused: EXPLAIN of a non-read statement")
        elif stmt.type not in _READ_TYPES:
            raise ReadOnlyError(f"{_REFUSED_HINT}; refused a {kind} statement")
        out.append(text)
    return out


_DUCK_TYPES = {"string": "VARCHAR", "large_string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER",
               "double": "DOUBLE", "float": "FLOAT", "bool": "BOOLEAN"}


def _duck_type(t: pa.DataType) -> str:
    if t == tables.SCORES:
        return "MAP(VARCHAR, DOUBLE)"
    return _DUCK_TYPES[str(t)]


def _empty_select(schema: pa.Schema) -> str:
    cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {_ident(f.name)}" for f in schema)
    return f"SELECT {cols} WHERE false"


def _column(field: pa.Field) -> str:
    # scores are stored as {name, value} entries (schemas.tables); SQL users get a map: scores['clip']
    name = _ident(field.name)
    return f"map_from_entries({name}) AS {name}" if field.type == tables.SCORES else name


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_parquet(paths: list[str], schema: pa.Schema) -> str:
    if not paths:
        return _empty_select(schema)
    cols = ", ".join(_column(f) for f in schema)
    files = ", ".join(_lit(p) for p in paths)
    return f"SELECT {cols} FROM read_parquet([{files}])"


_SHARD_FILES = pa.schema([("shard", pa.string()), ("partition", pa.string()), ("path", pa.string()),
                          ("tar_bytes", pa.int64())])
_LEDGER = pa.schema([("partition", pa.string()), ("run_id", pa.string()), ("committed_at", pa.string()),
                     ("n_docs", pa.int64()), ("n_rejected", pa.int64()), ("n_shards", pa.int64()),
                     ("path", pa.string())])
_LEDGER_SHARDS = pa.schema([("shard", pa.string()), ("partition", pa.string()), ("run_id", pa.string()),
                            ("committed_at", pa.string()), ("n_docs", pa.int64()), ("tar_bytes", pa.int64()),
                            ("n_images_ok", pa.int64())])
_RUNS = pa.schema([("run_id", pa.string()), ("pipeline", pa.string()), ("status", pa.string()),
                   ("started_at", pa.string()), ("finished_at", pa.string()), ("config", pa.string()),
                   ("versions", pa.string()), ("counts", pa.string()), ("timings", pa.string()),
                   ("path", pa.string())])


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


class Catalog:
    """An in-memory DuckDB connection with read-only views over ``corpus`` (a path or fsspec URL).

    Raises ``CorpusError`` (one-line message) when the corpus is missing or holds no manifests,
    rejected rows or ledger entries.
    """

    def __init__(self, corpus: str):
        self.corpus = corpus
        self.fs, self.root = open_corpus(corpus)
        files = corpus_files(corpus)
        if not any(files[kind] for kind in ("manifests", "rejected", "ledger")):
            # a run that rejected everything still has rejected rows and a ledger worth querying
            raise CorpusError(f"no shard manifests in {corpus} (expected docs/NAME.parquet)")
        # DuckDB always lets a connection read its temp_directory, by default ./.tmp of whatever folder
        # the user is in; a private one keeps spilling to disk possible without exposing that folder
        self._spill = tempfile.TemporaryDirectory(prefix="dataengine-sql-")
        self.con = duckdb.connect(":memory:", config={"temp_directory": self._spill.name})
        if is_remote(self.fs):
            self.con.register_filesystem(self.fs)
        self._build(files)
        self._lock_down(files)

    def _lock_down(self, files: dict[str, list[tuple[str, dict]]]) -> None:
        """Let the connection read only the corpus's committed files, and lock that in."""
        own = sorted(self._url(path) for kind, entries in files.items() if kind != "temp" for path, _ in entries)
        self.con.execute("SET allowed_paths = ?", [own])
        for statement in ("SET enable_external_access = false", "SET autoinstall_known_extensions = false",
                          "SET autoload_known_extensions = false", "SET lock_configuration = true"):
            self.con.execute(statement)

    def _url(self, path: str) -> str:
        return self.fs.unstrip_protocol(path) if is_remote(self.fs) else path

    def _read_json(self, path: str) -> tuple[dict | None, str | None]:
        try:
            with self.fs.open(path, "rb") as f:
                obj = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            return None, f"{path}: {exc}"
        if not isinstance(obj, dict):
            return None, f"{path}: expected a JSON object"
        return obj, None

    def _table(self, name: str, rows: list[dict], schema: pa.Schema) -> None:
        table = pa.Table.from_pylist(rows, schema=schema)
        self.con.register("_arrow_tmp", table)
        self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_tmp")
        self.con.unregister("_arrow_tmp")

    def _build(self, files: dict[str, list[tuple[str, dict]]]) -> None:
        con = self.con
        self.problems: list[str] = []
        url = self._url
        con.execute(f"CREATE VIEW docs AS {_read_parquet([url(p) for p, _ in files['manifests']], tables.DOCS)}")
        con.execute(f"CREATE VIEW images AS {_read_parquet([url(p) for p, _ in files['images']], tables.IMAGES)}")
        con.execute(f"CREATE VIEW rejected AS "
                    f"{_read_parquet([url(p) for p, _ in files['rejected']], tables.REJECTED)}")

        tars = {p.rsplit('/', 1)[-1][:-4]: (p, info) for p, info in files["tars"]}
        shard_rows = []
        for path, _ in files["manifests"]:
            name = shard_of(path.rsplit("/", 1)[-1])
            tar = tars.get(name)
            try:
                partition = partition_of(name)
            except ValueError:
                partition = None
            shard_rows.append({"shard": name, "partition": partition, "path": url(tar[0]) if tar else None,
                               "tar_bytes": _int(tar[1].get("size")) if tar else None})
        self._table("_shard_files", shard_rows, _SHARD_FILES)

        ledger_rows, ledger_shards = [], []
        for path, _ in files["ledger"]:
            obj, problem = self._read_json(path)
            if obj is None:
                self.problems.append(problem)
                continue
            shards = [s for s in obj.get("shards") or [] if isinstance(s, dict)]
            partition = _str(obj.get("partition"))
            ledger_rows.append({"partition": partition, "run_id": _str(obj.get("run_id")),
                                "committed_at": _str(obj.get("committed_at")), "n_docs": _int(obj.get("n_docs")),
                                "n_rejected": _int(obj.get("n_rejected")), "n_shards": len(shards),
                                "path": url(path)})
            for s in shards:
                ledger_shards.append({"shard": _str(s.get("name")), "partition": partition,
                                      "run_id": _str(obj.get("run_id")), "committed_at": _str(obj.get("committed_at")),
                                      "n_docs": _int(s.get("n_docs")), "tar_bytes": _int(s.get("tar_bytes")),
                                      "n_images_ok": _int(s.get("n_images_ok"))})
        self._table("_ledger", ledger_rows, _LEDGER)
        self._table("_ledger_shards", ledger_shards, _LEDGER_SHARDS)
        con.execute("CREATE VIEW ledger AS SELECT * FROM _ledger")
        con.execute("""
            CREATE VIEW shards AS
            SELECT f.shard, f.partition, f.path, f.tar_bytes,
                   coalesce(d.n_docs, 0) AS n_docs, d.n_images, d.n_images_ok, d.text_chars, d.image_bytes,
                   d.n_tokens, l.run_id, l.committed_at, l.shard IS NOT NULL AS committed
            FROM _shard_files f
            LEFT JOIN (SELECT shard, count(*) AS n_docs, sum(n_images)::BIGINT AS n_images,
                              sum(n_images_ok)::BIGINT AS n_images_ok, sum(text_chars)::BIGINT AS text_chars,
                              sum(image_bytes)::BIGINT AS image_bytes, sum(n_tokens)::BIGINT AS n_tokens
                       FROM docs GROUP BY shard) d ON d.shard = f.shard
            LEFT JOIN _ledger_shards l ON l.shard = f.shard
            ORDER BY f.shard""")

        run_rows = []
        for path, _ in files["runs"]:
            obj, problem = self._read_json(path)
            if obj is None:
                self.problems.append(problem)
                continue
            run_rows.append({
                "run_id": _str(obj.get("run_id")), "pipeline": _str(obj.get("pipeline")),
                "status": _str(obj.get("status")), "started_at": _str(obj.get("started_at")),
                "finished_at": _str(obj.get("finished_at")),
                **{k: json.dumps(obj[k]) if obj.get(k) is not None else None
                   for k in ("config", "versions", "counts", "timings")},
                "path": url(path)})
        self._table("_runs", run_rows, _RUNS)
        con.execute("""
            CREATE VIEW runs AS
            SELECT run_id, pipeline, status, started_at, finished_at, config::JSON AS config,
                   versions::JSON AS versions, counts::JSON AS counts, timings::JSON AS timings, path
            FROM _runs ORDER BY started_at, run_id""")
        con.execute(_ALIGNMENT)
        con.execute(_CANDIDATES)

    def query(self, sql: str) -> list[QueryResult]:
        """Run the read statements of ``sql``; one ``QueryResult`` per statement.

        Raises ``ReadOnlyError`` before running anything if any statement could write, and
        ``AccessError`` when a statement reads a file that is not one of the corpus's.
        """
        results = []
        for text in check_read_only(sql):
            try:
                cur = self.con.execute(text)
                desc = cur.description or []
                rows = cur.fetchall() if desc else []
            except duckdb.PermissionException as exc:
                raise _access_error(exc) from None
            results.append(QueryResult([d[0] for d in desc], [str(d[1]) for d in desc], rows))
        return results

    def arrow(self, sql: str) -> pa.Table:
        """The result of one read statement as an Arrow table; ``ReadOnlyError``/``AccessError`` as ``query``."""
        (text,) = check_read_only(sql)
        try:
            return self.con.sql(text).to_arrow_table()
        except duckdb.PermissionException as exc:
            raise _access_error(exc) from None

    def close(self) -> None:
        """Close the connection and remove its spill folder."""
        self.con.close()
        self._spill.cleanup()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
