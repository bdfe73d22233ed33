"""The catalog's commands: ``dataengine sql`` (query a corpus with DuckDB) and ``dataengine validate``.

``dataengine sql CORPUS ["QUERY"] [--format table|csv|json]``: without a query it reads queries
from stdin (a prompt when stdin is a terminal): a query ends at a line ending in ``;`` or at a
blank line; ``.tables`` lists the views, ``.quit`` exits.

``dataengine validate CORPUS``: check every shard against its manifest; exit 1 on any problem.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import json
import sys
import uuid
from typing import Any, TextIO

from dataengine.errors import CorpusError, UsageError

FORMATS = ("table", "csv", "json")
MAX_CELL = 80
HELP = """views: docs, images, rejected, shards, runs, ledger (see `.tables`)
end a query with ';' or a blank line; .tables lists views and their columns; .help shows this; .quit exits"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sql`` and ``validate`` sub-commands."""
    p = subparsers.add_parser(
        "sql", help="query a corpus with SQL (views: docs, images, rejected, shards, runs, ledger)",
        description="Run read-only SQL (DuckDB) over a corpus's manifests, image tables, rejections, "
                    "ledger and run records. Without QUERY, read queries from stdin.")
    p.add_argument("corpus", help="corpus path or URL (s3://bucket/corpus)")
    p.add_argument("query", nargs="?", help="SQL; omit for an interactive prompt")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.set_defaults(func=run_sql)

    p = subparsers.add_parser(
        "validate", help="check every shard of a corpus against its manifest and image table",
        description="Check that every shard's tar, manifest and image table agree (members, order, offsets, "
                    "sizes, document schema, image hashes, ledger). Prints 'OK: N shards, M documents' or "
                    "one line per problem (SHARD: KEY: problem) and exits 1.")
    p.add_argument("corpus", help="corpus path or URL (s3://bucket/corpus)")
    p.set_defaults(func=run_validate)


def _error(message: str) -> int:
    print(f"dataengine: error: {message.strip().splitlines()[0] if message.strip() else 'failed'}",
          file=sys.stderr)
    return 1


def run_sql(args: argparse.Namespace) -> int:
    """Entry point of ``dataengine sql``."""
    import duckdb

    from dataengine.catalog.catalog import AccessError, Catalog, ReadOnlyError

    try:
        catalog = Catalog(args.corpus)
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    with catalog:
        if args.query is not None:
            try:
                results = catalog.query(args.query)
            except (ReadOnlyError, AccessError, duckdb.Error) as exc:
                return _error(str(exc))
            for i, result in enumerate(results):
                if i:
                    print()
                print_result(result, args.format, sys.stdout)
            return 0
        return repl(catalog, args.format, sys.stdin, sys.stdout)


def run_validate(args: argparse.Namespace) -> int:
    """Entry point of ``dataengine validate``."""
    from dataengine.catalog.validate import Summary, validate_corpus

    summary = Summary()
    try:
        problems = validate_corpus(args.corpus, summary)
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    if problems:
        for problem in problems:
            print(problem)
        print(f"FAILED: {len(problems)} problem{'s' if len(problems) != 1 else ''} in {summary.shards} shards, "
              f"{summary.documents} documents", file=sys.stderr)
        return 1
    print(f"OK: {summary.shards} shards, {summary.documents} documents")
    return 0


def repl(catalog: Any, fmt: str, stdin: TextIO, stdout: TextIO) -> int:
    """Read queries from ``stdin`` until EOF or ``.quit``; returns 1 if any query failed."""
    import duckdb

    from dataengine.catalog.catalog import AccessError, ReadOnlyError

    interactive = stdin.isatty()
    if interactive:
        print(f"dataengine sql on {catalog.corpus}; {HELP}", file=sys.stderr)
    buffer: list[str] = []
    failed = False
    while True:
        if interactive:
            try:
                line = input("...> " if buffer else "sql> ")
            except EOFError:
                print(file=sys.stderr)
                line = None
        else:
            line = stdin.readline()
            line = line.rstrip("\n") if line else None
        if line is None:
            if not "".join(buffer).strip():
                break
            query, buffer = "\n".join(buffer), []
        else:
            stripped = line.strip()
            if not buffer and stripped.lower().rstrip(";") in ("help", "exit", "quit", "tables"):
                stripped = "." + stripped.lower().rstrip(";")   # what people type at any prompt
            if not buffer and stripped.startswith("."):
                command = stripped.split()[0].lower()
                if command in (".quit", ".exit", ".q"):
                    break
                if command == ".tables":
                    _print_tables(catalog, stdout)
                elif command == ".help":
                    print(HELP, file=stdout)
                else:
                    print(f"error: unknown command {command} (try .help)", file=sys.stderr)
                    failed = True
                stdout.flush()
                continue
            if not stripped and not buffer:
                continue
            if stripped:
                buffer.append(line)
            if stripped and not stripped.endswith(";"):
                continue
            query, buffer = "\n".join(buffer), []
        try:
            for result in catalog.query(query):
                print_result(result, fmt, stdout)
        except (ReadOnlyError, AccessError, duckdb.Error) as exc:
            print(f"error: {str(exc).strip()}", file=sys.stderr)
            failed = True
        stdout.flush()
        if line is None:
            break
    return 1 if failed else 0


def _print_tables(catalog: Any, out: TextIO) -> None:
    from dataengine.catalog.catalog import VIEWS

    for view in VIEWS:
        cols = catalog.con.execute(f"DESCRIBE {view}").fetchall()
        print(f"{view}: " + ", ".join(f"{c[0]} {c[1]}" for c in cols), file=out)


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a DuckDB value."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_plain(value), ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return str(_plain(value))


def _is_numeric(type_name: str) -> bool:
    t = type_name.upper()
    return any(t.startswith(p) for p in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                         "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE",
                                         "DECIMAL"))


def print_result(result: Any, fmt: str, out: TextIO) -> None:
    """Write a ``QueryResult`` as an aligned table, CSV, or a JSON list of objects."""
    if fmt == "json":
        rows = [dict(zip(result.columns, (_plain(v) for v in row))) for row in result.rows]
        json.dump(rows, out, ensure_ascii=False, indent=1, allow_nan=True)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if v is None else (json.dumps(_plain(v), ensure_ascii=False)
                                                   if isinstance(v, (dict, list, tuple)) else _plain(v))
                             for v in row])
        return
    cells = []
    for row in result.rows:
        line = []
        for v in row:
            text = _cell(v).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
            line.append(text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…")
        cells.append(line)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
    numeric = [_is_numeric(t) for t in result.types]

    def fmt_row(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    out.write(fmt_row(list(result.columns)) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for line in cells:
        out.write(fmt_row(line) + "\n")
    n = len(result.rows)
    out.write(f"({n} row{'s' if n != 1 else ''})\n")
