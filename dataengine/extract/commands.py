"""``dataengine extract PAGE.html ...``: print the interleaved document of saved pages.

It runs the pipeline's own ``extract_html`` stage, so what it prints is what a pipeline
would keep for the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from dataengine.errors import UsageError
from dataengine.extract.stage import HtmlExtractor
from dataengine.stages.base import Batch
from schemas import Document, RawPage, SourceRef, document_id

_DESCRIPTION = """\
Extract the main content of saved HTML pages as interleaved documents (text segments and
images in reading order) and print them as JSON: one object for one page, an array for
several (--format json), or one line per page in the order given (--format jsonl).

Each document is what the pipeline's extract_html stage produces: source kind "crawl" with
the page's absolute file path as source uri, and an id derived from the page URL and that
path. --url is the address the pages were served from; relative links and images resolve
against it (or against the page's <base href>). Without --url, the page URL is the file's
own file:// URI. A file that is not HTML (it does not start with markup: a README, JSON)
or a page that cannot be extracted (not decodable, no main content) is reported on stderr
and left out of the output, and the exit code is 1."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``extract`` sub-command."""
    parser = subparsers.add_parser(
        "extract", help="print the interleaved document (text + images) of saved HTML pages",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", metavar="PAGE.html", help="saved HTML page(s)")
    parser.add_argument("--url", help="the address the pages were served from (default: their file:// URI)")
    parser.add_argument("--format", choices=("json", "jsonl"), default="json",
                        help="json: indented, an array for several pages; jsonl: one line per page")
    parser.set_defaults(func=run)


def _read(path: Path) -> bytes:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


# A saved page starts with markup: after whitespace and a byte-order mark, a tag, a doctype, a
# comment or an XML prologue (XHTML). A README, JSON or plain text starts otherwise.
_MARKUP_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<[a-zA-Z!?]")


def looks_like_html(body: bytes) -> bool:
    """Whether ``body`` starts as markup does, so a README or a JSON file given as a page is refused."""
    return bool(_MARKUP_START.match(body[:4096]))


def page_document(path: Path, body: bytes, url: str | None) -> Document:
    """The unextracted document of a saved page, as the pipeline would receive it."""
    source_uri = str(path.resolve())
    page_url = url or path.resolve().as_uri()
    return Document(id=document_id(page_url, source_uri), url=page_url, source=SourceRef("crawl", source_uri),
                    raw=RawPage(body, {}))


def run(args: argparse.Namespace) -> int:
    """Extract every page given and print the documents; 1 if any page was rejected."""
    paths, docs = [], []
    for path in map(Path, args.pages):
        body = _read(path)
        if looks_like_html(body):
            paths.append(path)
            docs.append(page_document(path, body, args.url))
        else:
            print(f"dataengine extract: {path}: not_html (it does not start with markup)",
                  file=sys.stderr)
    path_of_id = {doc.id: path for doc, path in zip(docs, paths)}
    batch = HtmlExtractor()(Batch("cli", list(docs)))
    for row in batch.rejected:
        if row.level == "document":
            print(f"dataengine extract: {path_of_id.get(row.id, row.id)}: {row.reason}"
                  + (f" ({row.detail})" if row.detail else ""), file=sys.stderr)
    kept = batch.docs  # in the order given
    if args.format == "jsonl":
        for doc in kept:
            sys.stdout.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
    elif kept:
        payload = kept[0].to_json() if len(args.pages) == 1 else [doc.to_json() for doc in kept]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    return 0 if len(kept) == len(args.pages) else 1
