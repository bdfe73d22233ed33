"""The global decisions: DuckDB over the manifests and the signature tables, to drop lists.

Rules run in this order, each only over what the earlier ones kept:

1. ``duplicate_url``: documents with the same canonical URL; the newest capture stays.
2. ``near_duplicate_document``: MinHash-LSH candidates (a shared band key) whose estimated
   Jaccard similarity reaches the threshold, grouped into connected components.
3. ``repeated_image``: an image (sha256) in too many documents is boilerplate; all go.
4. ``duplicate_image_sha256``: byte-identical images; one occurrence stays.
5. ``near_duplicate_image``: pHash candidates (a shared band) within the Hamming
   threshold (and the colour distance, when set), grouped into connected components.
6. ``repeated_paragraph``: a paragraph in too many documents of one host, removed from all.

Candidate pairs come from band buckets in SQL; verification and components run in numpy
and scipy on the candidates only, so memory follows the number of candidates, not of
documents. The result is one Arrow table of removals (``DECISIONS``), each naming what it
removes and, in ``detail``, what was kept instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dataengine.dedup.config import DedupConfig
from dataengine.dedup.minhash import jaccard_estimate
from dataengine.dedup.phash import COLOUR_SIDE, auto_bands, band_bounds, colour_distance, hamming
from dataengine.shards.layout import corpus_files, fs_and_path, is_remote, join

STAGE = "dedup"
DECISIONS = pa.schema([
    ("partition", pa.string()), ("shard", pa.string()), ("id", pa.string()), ("url", pa.string()),
    ("level", pa.string()), ("reason", pa.string()), ("value", pa.float64()), ("threshold", pa.float64()),
    ("image_index", pa.int32()), ("position", pa.int32()), ("detail", pa.string()),
])


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files(paths: list[str]) -> str:
    return "[" + ", ".join(_lit(p) for p in paths) + "]"


def components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the graph with edges ``a[i]-b[i]``: ``(nodes, component label)``."""
    nodes = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    return nodes, labels


def keepers(nodes: np.ndarray, labels: np.ndarray, preference: np.ndarray) -> np.ndarray:
    """For each node, the node of its component with the lowest ``preference`` (the one that stays)."""
    order = np.lexsort((preference, labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    best_of_label = dict(zip(labels[order][first].tolist(), nodes[order][first].tolist()))
    return np.array([best_of_label[label] for label in labels.tolist()], dtype=nodes.dtype)


@dataclass
class Decider:
    """One DuckDB connection holding the phase's temporary tables while the rules run."""

    corpus: str
    work: str
    config: DedupConfig

    def __post_init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        fs, root = fs_and_path(self.work)
        if is_remote(fs):
            self.con.register_filesystem(fs)
        url = (lambda p: fs.unstrip_protocol(p)) if is_remote(fs) else (lambda p: p)
        self.sig = {kind: _files([url(p) for p in sorted(fs.glob(join(root, kind, "*.parquet")))])
                    for kind in ("docs", "bands", "images", "paragraphs")}
        files = corpus_files(self.corpus)
        cfs, _ = fs_and_path(self.corpus)
        if is_remote(cfs) and cfs is not fs:
            self.con.register_filesystem(cfs)
        curl = (lambda p: cfs.unstrip_protocol(p)) if is_remote(cfs) else (lambda p: p)
        self.manifests = _files([curl(p) for p, _ in files["manifests"]])
        self.image_tables = _files([curl(p) for p, _ in files["images"]])

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run one statement on the phase's connection."""
        return self.con.sql(query)

    def arrays(self, query: str) -> dict[str, np.ndarray]:
        """A query's columns as numpy arrays."""
        table = self.con.sql(query).to_arrow_table()
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}

    # --- tables -------------------------------------------------------------------------
    def load_documents(self) -> int:
        """``docs``: one numbered row per document, manifest fields joined with its signature row."""
        self.sql(f"""
            CREATE TEMP TABLE docs AS
            SELECT (row_number() OVER (ORDER BY m.id, m.partition) - 1)::BIGINT AS no, m.id, m.url, m.partition,
                   m.shard, m.fetch_time, try_cast(m.fetch_time AS TIMESTAMPTZ) AS fetched,
                   coalesce(m.text_chars, 0) AS text_chars, coalesce(m.n_images_ok, 0) AS n_images_ok,
                   s.url_key, s.host
            FROM read_parquet({self.manifests}) m
            JOIN read_parquet({self.sig['docs']}) s ON s.doc_id = m.id AND s.shard = m.shard""")
        self.sql("CREATE TEMP TABLE dropped_docs (no BIGINT, reason VARCHAR, value DOUBLE, keep BIGINT)")
        self.sql("CREATE TEMP TABLE dropped_images (ino BIGINT, reason VARCHAR, value DOUBLE, keep BIGINT)")
        return self.sql("SELECT count(*) FROM docs").fetchall()[0][0]

    def candidate_pairs(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(a < b)`` of items sharing a ``(band, key)`` bucket of ``table(item, band, key)``.

        Buckets up to ``max_bucket_pairs`` members give all their pairs; larger ones link
        each member to the bucket's first (lowest) item only.
        """
        cap = self.config.max_bucket_pairs
        pairs = self.arrays(f"""
            WITH g AS (SELECT band, key, count(*) AS n, min(item) AS first FROM {table}
                       GROUP BY band, key HAVING count(*) > 1),
                 m AS (SELECT t.item, t.band, t.key, g.n, g.first FROM {table} t JOIN g USING (band, key))
            SELECT DISTINCT x.item AS a, y.item AS b FROM m x
            JOIN m y ON x.band = y.band AND x.key = y.key AND x.item < y.item
            WHERE x.n <= {cap}
            UNION
            SELECT DISTINCT first AS a, item AS b FROM m WHERE n > {cap} AND item <> first""")
        return pairs["a"].astype(np.int64), pairs["b"].astype(np.int64)

    def _register(self, name: str, columns: dict[str, np.ndarray]) -> None:
        self.con.register(name, pa.table(columns))

    # --- rules --------------------------------------------------------------------------
    def duplicate_urls(self) -> None:
        """Drop all but the newest capture of each canonical URL."""
        self.sql("""
            INSERT INTO dropped_docs
            SELECT no, 'duplicate_url', NULL, keep FROM (
                SELECT no, first_value(no) OVER w AS keep, row_number() OVER w AS rank FROM docs
                WINDOW w AS (PARTITION BY url_key ORDER BY fetched DESC NULLS LAST, id, partition))
            WHERE rank > 1""")

    def near_duplicate_documents(self) -> None:
        """MinHash-LSH: bucket, verify by estimated Jaccard, group, keep the longest of each group."""
        cfg = self.config
        self.sql(f"""
            CREATE TEMP TABLE live_bands AS
            SELECT d.no AS item, b.band, b.key FROM read_parquet({self.sig['bands']}) b
            JOIN docs d ON d.id = b.doc_id AND d.shard = b.shard
            WHERE d.no NOT IN (SELECT no FROM dropped_docs)""")
        a, b = self.candidate_pairs("live_bands")
        if not len(a):
            return
        self._register("_need", {"no": np.unique(np.concatenate([a, b]))})
        got = self.sql(f"""
            SELECT d.no, d.text_chars, d.n_images_ok, s.minhash FROM read_parquet({self.sig['docs']}) s
            JOIN docs d ON d.id = s.doc_id AND d.shard = s.shard JOIN _need n ON n.no = d.no
            ORDER BY d.no""").to_arrow_table()
        nos = got.column("no").to_numpy()
        sigs = got.column("minhash").combine_chunks().values.to_numpy().reshape(len(nos), cfg.num_perm)
        row = lambda x: np.searchsorted(nos, x)  # noqa: E731 - nos is sorted
        sim = jaccard_estimate(sigs[row(a)], sigs[row(b)])
        ok = sim >= cfg.jaccard_threshold
        if not ok.any():
            return
        nodes, labels = components(a[ok], b[ok])
        # the longest text stays, then the most images, then the lowest id (``no`` follows id order)
        chars = got.column("text_chars").to_numpy()[row(nodes)]
        images = got.column("n_images_ok").to_numpy()[row(nodes)]
        preference = np.lexsort((nodes, -images, -chars)).argsort()
        keep = keepers(nodes, labels, preference)
        gone = nodes != keep
        value = jaccard_estimate(sigs[row(nodes[gone])], sigs[row(keep[gone])])
        self._register("_near_docs", {"no": nodes[gone], "value": value, "keep": keep[gone]})
        self.sql("INSERT INTO dropped_docs SELECT no, 'near_duplicate_document', value, keep FROM _near_docs")

    def load_images(self) -> None:
        """``imgs``: the ``ok`` images of the documents still kept, numbered, with their pHash."""
        self.sql(f"""
            CREATE TEMP TABLE imgs AS
            SELECT (row_number() OVER (ORDER BY d.no, i.index) - 1)::BIGINT AS ino, d.no, d.id AS doc_id,
                   i.index, i.url, i.sha256, coalesce(i.width, 0)::BIGINT * coalesce(i.height, 0) AS area,
                   s.phash
            FROM read_parquet({self.image_tables}) i
            JOIN docs d ON d.id = i.doc_id AND d.shard = i.shard
            LEFT JOIN read_parquet({self.sig['images']}) s
                   ON s.doc_id = i.doc_id AND s.shard = i.shard AND s.index = i.index
            WHERE i.status = 'ok' AND d.no NOT IN (SELECT no FROM dropped_docs)""")
        self.sql("""CREATE TEMP TABLE img_pref AS
                    SELECT ino, row_number() OVER (ORDER BY area DESC, url, doc_id, index) AS pref FROM imgs""")

    def repeated_images(self) -> None:
        """Drop every occurrence of an image found in more than ``repeated_image_max_docs`` documents."""
        limit = self.config.repeated_image_max_docs
        if limit is None:
            return
        self.sql(f"""
            INSERT INTO dropped_images
            SELECT i.ino, 'repeated_image', r.n, NULL FROM imgs i
            JOIN (SELECT sha256, count(DISTINCT no) AS n FROM imgs WHERE sha256 IS NOT NULL
                  GROUP BY sha256 HAVING count(DISTINCT no) > {int(limit)}) r USING (sha256)""")

    def duplicate_images(self) -> None:
        """Keep one occurrence of each sha256 (the preferred one), drop the others."""
        self.sql("""
            INSERT INTO dropped_images
            SELECT ino, 'duplicate_image_sha256', NULL, keep FROM (
                SELECT i.ino, first_value(i.ino) OVER w AS keep, row_number() OVER w AS rank
                FROM imgs i JOIN img_pref p USING (ino)
                WHERE i.sha256 IS NOT NULL AND i.ino NOT IN (SELECT ino FROM dropped_images)
                WINDOW w AS (PARTITION BY i.sha256 ORDER BY p.pref))
            WHERE rank > 1""")

    def near_duplicate_images(self) -> None:
        """pHash bands to candidates, Hamming (and colour) to duplicates, components to keepers."""
        cfg = self.config
        live = "i.phash IS NOT NULL AND i.ino NOT IN (SELECT ino FROM dropped_images)"
        bands = cfg.phash_bands or auto_bands(self.sql(f"SELECT count(*) FROM imgs i WHERE {live}").fetchall()[0][0])
        slices = ", ".join(f"({b}, {first}, {(1 << width) - 1})" for b, (first, width) in enumerate(band_bounds(bands)))
        self.sql(f"""
            CREATE TEMP TABLE img_bands AS
            SELECT i.ino AS item, t.b::SMALLINT AS band, (i.phash >> t.first) & t.mask::UBIGINT AS key
            FROM imgs i CROSS JOIN (VALUES {slices}) AS t(b, first, mask) WHERE {live}""")
        a, b = self.candidate_pairs("img_bands")
        if not len(a):
            return
        self._register("_pairs", {"a": a, "b": b})
        close = self.arrays(f"""
            SELECT p.a, p.b, bit_count(xor(x.phash, y.phash)) AS dist FROM _pairs p
            JOIN imgs x ON x.ino = p.a JOIN imgs y ON y.ino = p.b
            WHERE bit_count(xor(x.phash, y.phash)) <= {cfg.phash_threshold}""")
        a, b = close["a"].astype(np.int64), close["b"].astype(np.int64)
        if cfg.max_colour_distance is not None and len(a):
            colour = self._colours(np.unique(np.concatenate([a, b])))
            near = colour_distance(colour(a), colour(b)) <= cfg.max_colour_distance
            a, b = a[near], b[near]
        if not len(a):
            return
        nodes, labels = components(a, b)
        self._register("_nodes", {"ino": nodes})
        info = self.arrays("SELECT n.ino, p.pref, i.phash FROM _nodes n JOIN img_pref p USING (ino) "
                           "JOIN imgs i USING (ino) ORDER BY n.ino")
        keep = keepers(nodes, labels, info["pref"])
        gone = nodes != keep
        phash = info["phash"].astype(np.uint64)
        dist = hamming(phash[gone], phash[np.searchsorted(nodes, keep[gone])]).astype(np.float64)
        self._register("_near_imgs", {"ino": nodes[gone], "value": dist, "keep": keep[gone]})
        self.sql("INSERT INTO dropped_images SELECT ino, 'near_duplicate_image', value, keep FROM _near_imgs")

    def _colours(self, inos: np.ndarray):
        self._register("_cneed", {"ino": inos})
        got = self.sql(f"""
            SELECT i.ino, s.colour FROM _cneed n JOIN imgs i USING (ino)
            JOIN read_parquet({self.sig['images']}) s ON s.doc_id = i.doc_id AND s.index = i.index
            JOIN docs d ON d.no = i.no AND d.shard = s.shard ORDER BY i.ino""").to_arrow_table()
        found = got.column("ino").to_numpy()
        side = COLOUR_SIDE * COLOUR_SIDE * 3
        thumbs = np.stack([np.frombuffer(c or bytes(side), dtype=np.uint8) for c in got.column("colour").to_pylist()])
        return lambda x: thumbs[np.searchsorted(found, x)]

    # --- result -------------------------------------------------------------------------
    def decisions(self) -> pa.Table:
        """Every removal as a ``DECISIONS`` row."""
        jt = float(self.config.jaccard_threshold)
        parts = [self.sql(f"""
            SELECT d.partition, d.shard, d.id, d.url, 'document' AS level, x.reason, x.value,
                   CASE x.reason WHEN 'near_duplicate_document' THEN {jt} END AS threshold,
                   NULL::INTEGER AS image_index, NULL::INTEGER AS position,
                   CASE x.reason WHEN 'duplicate_url'
                        THEN 'kept ' || k.id || ' fetched ' || coalesce(k.fetch_time, 'at an unknown time')
                             || '; this one fetched ' || coalesce(d.fetch_time, 'at an unknown time')
                        ELSE 'kept ' || k.id || ' (' || k.url || ')' END AS detail
            FROM dropped_docs x JOIN docs d ON d.no = x.no LEFT JOIN docs k ON k.no = x.keep
            """).to_arrow_table()]
        if self.config.images:
            parts.append(self.sql(f"""
                SELECT d.partition, d.shard, d.id, i.url, 'image' AS level, x.reason, x.value,
                       CASE x.reason WHEN 'repeated_image' THEN {float(self.config.repeated_image_max_docs or 0)}
                                     WHEN 'near_duplicate_image' THEN {float(self.config.phash_threshold)} END,
                       i.index::INTEGER, NULL::INTEGER,
                       CASE WHEN x.reason = 'repeated_image'
                            THEN 'in ' || x.value::BIGINT || ' documents'
                            ELSE 'kept image ' || k.index || ' of ' || k.doc_id || ' (' || coalesce(k.url, '') || ')'
                       END
                FROM dropped_images x JOIN imgs i ON i.ino = x.ino JOIN docs d ON d.no = i.no
                LEFT JOIN imgs k ON k.ino = x.keep""").to_arrow_table())
        if self.config.paragraphs:
            parts.append(self.sql(f"""
                WITH p AS (SELECT d.no, d.partition, d.shard, d.id, d.url, d.host, q.position, q.hash
                           FROM read_parquet({self.sig['paragraphs']}) q
                           JOIN docs d ON d.id = q.doc_id AND d.shard = q.shard
                           WHERE d.no NOT IN (SELECT no FROM dropped_docs)),
                     r AS (SELECT host, hash, count(DISTINCT no) AS n FROM p GROUP BY host, hash
                           HAVING count(DISTINCT no) >= {self.config.paragraph_min_docs})
                SELECT p.partition, p.shard, p.id, p.url, 'text', 'repeated_paragraph', r.n::DOUBLE,
                       {float(self.config.paragraph_min_docs)}, NULL::INTEGER, p.position::INTEGER,
                       'in ' || r.n || ' documents of ' || CASE WHEN p.host = '' THEN '(no host)' ELSE p.host END
                FROM p JOIN r USING (host, hash)""").to_arrow_table())
        return pa.concat_tables([t.rename_columns(DECISIONS.names).cast(DECISIONS) for t in parts])

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


def decide(corpus: str, work: str, config: DedupConfig) -> tuple[pa.Table, int]:
    """All removals of the phase over ``corpus`` (signatures in ``work``) and the number of documents."""
    decider = Decider(corpus, work, config)
    try:
        n_docs = decider.load_documents()
        if config.urls:
            decider.duplicate_urls()
        if config.documents:
            decider.near_duplicate_documents()
        if config.images:
            decider.load_images()
            decider.repeated_images()
            decider.duplicate_images()
            decider.near_duplicate_images()
        return decider.decisions(), n_docs
    finally:
        decider.close()
