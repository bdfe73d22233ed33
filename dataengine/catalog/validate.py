"""``validate_corpus``: check every shard of a corpus against its manifest and image table.

For each shard: the tar is present and readable; its samples are contiguous, in manifest
order, at the manifest's offsets and sizes; each ``KEY.json`` passes
``schemas.validate_document`` and matches its key and manifest row; every image member the
JSON names is there (and its sha256 matches when one is recorded), and no member is
unexpected; ``KEY.tokens.npy`` loads as 1-D int32; the image table agrees with the JSON.
When the corpus has a ledger, every shard must be listed by it with the same counts.
Problems are strings ``"SHARD: KEY: problem"`` (or ``"SHARD: problem"``).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

import numpy as np

from dataengine.shards.layout import (
    DOCS,
    IMAGES,
    SHARDS,
    CorpusError,
    corpus_files,
    open_corpus,
    partition_of,
    shard_of,
    shard_path,
)
from dataengine.shards.parquet import read_table
from schemas import TokenLayout, document_problems, tables
from schemas.corpus import LAYOUT_FILE, TOKENS_MEMBER, read_token_layout

__all__ = ["validate_corpus", "validate_shard", "Summary"]


class Summary:
    """Counts of what was checked."""

    def __init__(self) -> None:
        self.shards = 0
        self.documents = 0


def _read_table(fs, path: str, schema, name: str, what: str, problems: list[str]):
    try:
        table = read_table(fs, path)
    except FileNotFoundError:
        problems.append(f"{name}: {what} {path.rsplit('/', 1)[-1]} is missing")
        return None
    except Exception as exc:
        problems.append(f"{name}: {what} is not readable: {type(exc).__name__}: {exc}".splitlines()[0])
        return None
    if not table.schema.equals(schema, check_metadata=False):
        missing = [f.name for f in schema if f.name not in table.schema.names]
        wrong = [f.name for f in schema if f.name in table.schema.names
                 and not table.schema.field(f.name).type.equals(f.type)]
        problems.append(f"{name}: {what} schema differs from the contract"
                        + (f" (missing: {', '.join(missing)})" if missing else "")
                        + (f" (wrong type: {', '.join(wrong)})" if wrong else ""))
        if missing:
            return None
    return table


def _scan_tar(fs, path: str, name: str, problems: list[str]) -> list[dict[str, Any]] | None:
    """Samples of a tar in order: ``{"key", "offset", "end", "members": {name: bytes}}``."""
    samples: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        with fs.open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for info in tar:
                if not info.isreg():
                    problems.append(f"{name}: member {info.name} is not a regular file")
                    continue
                base = info.name.rsplit("/", 1)[-1]
                key, dot, _ = base.partition(".")
                if "/" in info.name or not dot or not key:
                    problems.append(f"{name}: member {info.name} is not named KEY.EXT at the top level")
                    continue
                data = tar.extractfile(info).read()
                end = info.offset_data + -(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                if not samples or samples[-1]["key"] != key:
                    if key in seen:
                        problems.append(f"{name}: {key}: members are not contiguous in the tar")
                    seen.add(key)
                    samples.append({"key": key, "offset": info.offset, "end": end, "members": {}})
                sample = samples[-1]
                if info.name in sample["members"]:
                    problems.append(f"{name}: {key}: member {info.name} appears twice")
                sample["members"][info.name] = data
                sample["end"] = end
    except FileNotFoundError:
        problems.append(f"{name}: tar shards/{name}.tar is missing")
        return None
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.append(f"{name}: tar is not readable: {type(exc).__name__}: {exc}".splitlines()[0])
        return None
    return samples


def validate_shard(fs, root: str, name: str, layout: TokenLayout | None = None) -> tuple[list[str], int]:
    """Problems of shard ``name`` of the corpus at ``root`` and its number of manifest rows.

    With the corpus's ``layout``, token counts per modality are checked too.
    """
    problems: list[str] = []
    manifest = _read_table(fs, shard_path(root, name, DOCS), tables.DOCS, name, "manifest", problems)
    images = _read_table(fs, shard_path(root, name, IMAGES), tables.IMAGES, name, "image table", problems)
    samples = _scan_tar(fs, shard_path(root, name, SHARDS), name, problems)
    if manifest is None:
        return problems, 0
    rows = manifest.to_pylist()
    if samples is None:
        return problems, len(rows)
    if len(rows) != len(samples):
        problems.append(f"{name}: manifest has {len(rows)} documents, tar has {len(samples)} samples")
    if [r["id"] for r in rows] != [s["key"] for s in samples]:
        row_ids, keys = {r["id"] for r in rows}, {s["key"] for s in samples}
        for key in sorted(keys - row_ids):
            problems.append(f"{name}: {key}: sample in the tar but not in the manifest")
        for key in sorted(row_ids - keys):
            problems.append(f"{name}: {key}: in the manifest but not in the tar")
        if row_ids == keys:
            problems.append(f"{name}: keys are not in manifest order")
    image_rows: dict[str, list[dict]] = {}
    if images is not None:
        for row in images.to_pylist():
            image_rows.setdefault(row["doc_id"], []).append(row)
            if row["shard"] != name:
                problems.append(f"{name}: {row['doc_id']}: image table row says shard {row['shard']}")
        for doc_id in sorted(set(image_rows) - {r["id"] for r in rows}):
            problems.append(f"{name}: {doc_id}: image table has rows for a document not in the manifest")
    by_key = {s["key"]: s for s in samples}
    for row in rows:
        sample = by_key.get(row["id"])
        if sample is not None:
            problems.extend(f"{name}: {row['id']}: {p}"
                            for p in _check_sample(row, sample, name, image_rows.get(row["id"], []),
                                                   images is not None, layout))
    return problems, len(rows)


def _check_sample(row: dict, sample: dict, name: str, image_rows: list[dict], have_images: bool,
                  layout: TokenLayout | None) -> list[str]:
    key, members = sample["key"], sample["members"]
    out: list[str] = []
    if row["shard"] != name:
        out.append(f"manifest shard is {row['shard']!r}")
    if row["offset"] != sample["offset"]:
        out.append(f"manifest offset {row['offset']} but the sample starts at {sample['offset']}")
    if row["size"] != sample["end"] - sample["offset"]:
        out.append(f"manifest size {row['size']} but the sample takes {sample['end'] - sample['offset']} bytes")
    raw = members.get(f"{key}.json")
    if raw is None:
        out.append(f"member {key}.json is missing")
        return out
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        out.append(f"{key}.json is not valid JSON: {exc}")
        return out
    problems = document_problems(doc)
    if problems:
        out.extend(f"{key}.json: {p}" for p in problems)
        return out
    if doc["id"] != key:
        out.append(f"{key}.json has id {doc['id']!r}")
    expected = {f"{key}.json"}
    image_bytes = 0
    for image in doc["images"]:
        member = image.get("member")
        if image["status"] == "ok":
            expected.add(member)
            data = members.get(member)
            if data is None:
                out.append(f"image {image['index']}: member {member} is missing")
                continue
            image_bytes += len(data)
            if image.get("sha256") and hashlib.sha256(data).hexdigest() != image["sha256"]:
                out.append(f"image {image['index']}: member {member} does not match its sha256")
        elif member:
            out.append(f"image {image['index']}: status {image['status']} but names member {member}")
    tokens = members.get(f"{key}.{TOKENS_MEMBER}")
    n_tokens = None
    if tokens is not None:
        expected.add(f"{key}.{TOKENS_MEMBER}")
        try:
            arr = np.load(io.BytesIO(tokens), allow_pickle=False)
            if arr.ndim != 1 or arr.dtype != np.int32:
                out.append(f"{key}.{TOKENS_MEMBER} is {arr.dtype} with shape {arr.shape}, expected 1-D int32")
            n_tokens = int(arr.size)
            if layout is not None:
                for field, mask in (("n_text_tokens", layout.is_text(arr)),
                                    ("n_image_tokens", layout.is_image_code(arr))):
                    if row[field] != int(np.count_nonzero(mask)):
                        out.append(f"manifest {field} is {row[field]!r}, the tokens say {int(np.count_nonzero(mask))}")
        except Exception as exc:
            out.append(f"{key}.{TOKENS_MEMBER} does not load: {exc}".splitlines()[0])
    for extra in sorted(set(members) - expected):
        out.append(f"unexpected member {extra}")
    ok = [i for i in doc["images"] if i["status"] == "ok"]
    agree = {"url": doc["url"], "n_segments": len(doc["segments"]), "n_images": len(doc["images"]),
             "n_images_ok": len(ok), "image_bytes": image_bytes, "n_tokens": n_tokens,
             "source_kind": doc["source"]["kind"], "source_uri": doc["source"]["uri"]}
    for field, value in agree.items():
        if row[field] != value:
            out.append(f"manifest {field} is {row[field]!r}, the shard says {value!r}")
    if have_images:
        by_index = {r["index"]: r for r in image_rows}
        if sorted(by_index) != list(range(len(doc["images"]))) or len(image_rows) != len(doc["images"]):
            out.append(f"image table has slots {sorted(r['index'] for r in image_rows)}, "
                       f"the document has {len(doc['images'])}")
        for image in doc["images"]:
            r = by_index.get(image["index"])
            if r is None:
                continue
            data = members.get(image.get("member") or "")
            expect = {"status": image["status"], "member": image.get("member"), "url": image.get("url"),
                      "sha256": image.get("sha256"),
                      "bytes": (len(data) if data is not None else r["bytes"]) if image["status"] == "ok" else None}
            for field, value in expect.items():
                if r[field] != value:
                    out.append(f"image {image['index']}: image table {field} is {r[field]!r}, "
                               f"the shard says {value!r}")
    return out


def _ledger_problems(fs, files: dict, shard_counts: dict[str, dict]) -> list[str]:
    problems: list[str] = []
    listed: dict[str, dict] = {}
    committed_partitions = set()
    for path, _ in files["ledger"]:
        try:
            with fs.open(path, "rb") as f:
                obj = json.loads(f.read().decode("utf-8"))
            partition = obj["partition"]
            entries = obj["shards"]
        except Exception as exc:
            problems.append(f"ledger {path.rsplit('/', 1)[-1]}: not readable: {type(exc).__name__}: {exc}"
                            .splitlines()[0])
            continue
        committed_partitions.add(partition)
        for entry in entries:
            listed[entry.get("name")] = entry
            if entry.get("name") not in shard_counts:
                problems.append(f"{entry.get('name')}: listed in ledger/{partition}.json but has no manifest")
    for name, counts in sorted(shard_counts.items()):
        entry = listed.get(name)
        if entry is None:
            try:
                partition = partition_of(name)
            except ValueError:
                partition = "?"
            if partition in committed_partitions:
                problems.append(f"{name}: not listed in ledger/{partition}.json")
            else:
                problems.append(f"{name}: partition {partition} has no ledger entry (not committed)")
            continue
        for field in ("n_docs", "tar_bytes", "n_images_ok"):
            if field in entry and counts.get(field) is not None and entry[field] != counts[field]:
                problems.append(f"{name}: ledger says {field} {entry[field]}, the shard has {counts[field]}")
    return problems


def validate_corpus(corpus: str, summary: Summary | None = None) -> list[str]:
    """Every problem found in ``corpus`` (empty when it is sound); ``CorpusError`` if it is not a corpus."""
    fs, root = open_corpus(corpus)
    files = corpus_files(corpus, committed_only=False)  # the uncommitted ones are what it reports
    if not any(files[kind] for kind in ("manifests", "tars", "ledger")):
        raise CorpusError(f"no shards in {corpus} (expected shards/NAME.tar with docs/NAME.parquet)")
    summary = summary if summary is not None else Summary()
    problems: list[str] = []
    layout = None
    try:  # tokenized corpora record their layout
        layout = read_token_layout(fs, root)
    except (ValueError, TypeError) as exc:
        problems.append(f"{LAYOUT_FILE}: {exc}")
    manifests = {shard_of(p.rsplit("/", 1)[-1]) for p, _ in files["manifests"]}
    tars = {shard_of(p.rsplit("/", 1)[-1]): info for p, info in files["tars"]}
    for name in sorted(set(tars) - manifests):
        problems.append(f"{name}: tar without a manifest")
    shard_counts: dict[str, dict] = {}
    for name in sorted(manifests):
        shard_problems, n_docs = validate_shard(fs, root, name, layout)
        problems.extend(shard_problems)
        summary.shards += 1
        summary.documents += n_docs
        n_ok = None
        try:
            status = read_table(fs, shard_path(root, name, IMAGES), ["status"]).column("status").to_pylist()
            n_ok = sum(1 for s in status if s == "ok")
        except Exception:
            pass
        tar_info = tars.get(name)
        shard_counts[name] = {"n_docs": n_docs, "n_images_ok": n_ok,
                              "tar_bytes": tar_info.get("size") if tar_info else None}
    if files["ledger"]:
        problems.extend(_ledger_problems(fs, files, shard_counts))
    return problems
