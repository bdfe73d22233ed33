"""What the report shows, gathered from the catalog and the shards: ``gather(corpus) -> ReportData``.

Numbers come from the catalog's views (``runs`` for the funnel, ``rejected`` for the
reasons, ``docs`` and ``images`` for the scores), so the report and ``dataengine sql`` agree.

Pictures: kept images are read from the shards. A removed image's bytes are not in the
shards, so a tile shows, in this order of preference: the thumbnail kept at removal time
(``rejected/thumbs/ID.INDEX.jpg``, written by the dedup phase), the image fetched again from
its URL (only when asked, ``fetch_rejected``: the report then makes HTTP requests), or no
picture, saying so. Duplicates removed by dedup are shown beside the copy that was kept.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dataengine.catalog.catalog import Catalog
from dataengine.dedup.rewrite import thumbnail, thumbnail_path
from dataengine.shards import ShardReader
from dataengine.shards.layout import fs_and_path

FETCH_TIMEOUT = 3.0
FETCH_MAX_BYTES = 8 << 20
_KEPT_RE = re.compile(r"^kept image (\d+) of ([0-9a-f]+) ")


@dataclass
class Tile:
    """One picture of a grid: a PNG/JPEG thumbnail (or none) and what to write under it."""

    caption: str
    thumb: bytes | None = None
    source: str = ""          # "shard", "kept at removal", "fetched now", or why there is no picture
    kept: Tile | None = None  # for a removed duplicate: the copy that stayed


@dataclass
class ReasonBlock:
    """One removal reason: its count, a few examples in words, and (for images) a few tiles."""

    stage: str
    level: str
    reason: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    tiles: list[Tile] = field(default_factory=list)


@dataclass
class ReportData:
    """Everything ``render_html`` needs."""

    corpus: str
    totals: dict[str, Any]
    funnel: list[tuple[str, int]]                      # (step, documents after it)
    removed_by_step: dict[str, dict[str, int]]         # step -> level -> rows in rejected
    reasons: list[ReasonBlock]
    doc_scores: dict[str, np.ndarray]
    image_scores: dict[str, np.ndarray]
    kept: list[Tile]
    runs: list[dict[str, Any]]


def fetch_thumbnail(url: str | None) -> tuple[bytes | None, str]:
    """Fetch an image again for the report: ``(thumbnail, source note)``."""
    import requests

    if not url or not url.lower().startswith(("http://", "https://")):
        return None, "no picture: not an http(s) URL"
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                return None, f"no picture: HTTP {response.status_code} now"
            data = response.raw.read(FETCH_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        return None, f"no picture: {type(exc).__name__}"
    if len(data) > FETCH_MAX_BYTES:
        return None, "no picture: too large"
    thumb = thumbnail(data)
    return thumb, "fetched now" if thumb else "no picture: not decodable"


class _Gatherer:
    def __init__(self, corpus: str, cat: Catalog, fetch_rejected: bool):
        self.corpus, self.cat, self.fetch_rejected = corpus, cat, fetch_rejected
        self.fs, self.root = fs_and_path(corpus)
        self.readers: dict[str, ShardReader] = {}

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return self.cat.arrow(sql).to_pylist()

    def shard_image(self, shard: str, doc_id: str, member: str) -> bytes | None:
        reader = self.readers.setdefault(shard, ShardReader.open(self.corpus, shard))
        try:
            return reader.get_members(doc_id).get(member)
        except (KeyError, ValueError, OSError):
            return None

    def kept_image(self, doc_id: str, index: int) -> Tile | None:
        rows = self.rows(f"select shard, member, url from images where doc_id = '{doc_id}' "
                         f"and index = {int(index)} and status = 'ok'")
        if not rows:
            return None
        data = self.shard_image(rows[0]["shard"], doc_id, rows[0]["member"])
        return Tile(f"kept: {rows[0]['url'] or ''}", thumbnail(data) if data else None, "shard")

    def kept_grid(self, n: int) -> list[Tile]:
        rows = self.rows(f"select doc_id, shard, index, member, url, width, height from images where status = 'ok' "
                         f"order by hash(doc_id || ':' || index::VARCHAR) limit {int(n)}")
        tiles = []
        for r in rows:
            data = self.shard_image(r["shard"], r["doc_id"], r["member"])
            tiles.append(Tile(f"{r['width']}x{r['height']} {r['url'] or ''}", thumbnail(data) if data else None,
                              "shard"))
        return tiles

    def removed_tile(self, row: dict[str, Any], times: int) -> Tile:
        value = "" if row["value"] is None else f" value {row['value']:.3g}"
        if times > 1:
            value += f", removed {times} times"
        if row["threshold"] is not None:
            value += f" (limit {row['threshold']:.3g})"
        tile = Tile(f"{row['url'] or '(no URL)'}{value}")
        path = thumbnail_path(self.root, row["id"], row["image_index"])
        if self.fs.exists(path):
            tile.thumb, tile.source = self.fs.cat_file(path), "kept at removal"
        elif self.fetch_rejected:
            tile.thumb, tile.source = fetch_thumbnail(row["url"])
        else:
            tile.source = "no picture: its bytes were not kept (report --fetch-rejected fetches them)"
        kept = _KEPT_RE.match(row["detail"] or "")
        if kept:
            tile.kept = self.kept_image(kept.group(2), int(kept.group(1)))
        return tile

    def reasons(self, order: list[str], per_reason: int) -> list[ReasonBlock]:
        counts = self.rows("select stage, level, reason, count(*) as n from rejected group by all")
        rank = {stage: i for i, stage in enumerate(order)}
        counts.sort(key=lambda r: (rank.get(step_of(r["stage"]), len(rank)), r["stage"], -r["n"], r["reason"]))
        thumbs = self._thumb_names()
        blocks = []
        for c in counts:
            block = ReasonBlock(c["stage"], c["level"], c["reason"], c["n"])
            where = (f"stage = '{c['stage']}' and level = '{c['level']}' and reason = "
                     f"'{c['reason'].replace(chr(39), chr(39) * 2)}'")
            rows = self.rows(f"select id, url, image_index, value, threshold, detail from rejected where {where} "
                             f"order by hash(coalesce(id, '') || coalesce(image_index, -1)::VARCHAR) limit 2000")
            block.examples = rows[:3]
            if c["level"] == "image":
                block.tiles = [self.removed_tile(r, n) for r, n in distinct_urls(rows, thumbs)[:per_reason]]
            blocks.append(block)
        return blocks

    def _thumb_names(self) -> set[str]:
        folder = thumbnail_path(self.root, "x", 0).rsplit("/", 1)[0]
        try:
            return {p.rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False)}
        except FileNotFoundError:
            return set()

    def scores(self, view: str, where: str, limit: int) -> dict[str, np.ndarray]:
        rows = self.rows(f"select k, list(v) as vs from (select unnest(map_keys(scores)) as k, "
                         f"unnest(map_values(scores)) as v from {view} {where}) group by k")
        usable = {r["k"]: np.asarray([v for v in r["vs"] if v is not None and np.isfinite(v)], dtype=float)
                  for r in rows}
        usable = {k: v for k, v in usable.items() if len(np.unique(v)) > 1}
        return dict(sorted(usable.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit])


def distinct_urls(rows: list[dict[str, Any]], thumbs: set[str]) -> list[tuple[dict[str, Any], int]]:
    """One example per image URL with how often it was removed; those with a kept thumbnail first."""
    times: dict[str, int] = defaultdict(int)
    first: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(rows):
        key = row["url"] or f"#{n}"
        times[key] += 1
        first.setdefault(key, row)
    out = [(row, times[key]) for key, row in first.items()]
    out.sort(key=lambda item: f"{item[0]['id']}.{item[0]['image_index']}.jpg" not in thumbs)
    return out


def funnel_of(runs: list[dict[str, Any]]) -> tuple[list[tuple[str, int]], list[str]]:
    """Documents after each step, summed over the pipeline runs, then the last dedup run; and the stage order."""
    order: list[str] = []
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    dedup: list[dict[str, Any]] = []
    for run in runs:
        run_counts = json.loads(run["counts"]) if run["counts"] else {}
        if run["pipeline"] == "dedup":
            if "dedup" in run_counts:
                dedup.append(run_counts["dedup"])
            continue
        config = json.loads(run["config"]) if run["config"] else {}
        steps = ["source", *[s.get("name") for s in config.get("stages") or []], "sink"]
        for step in steps:
            if step in run_counts and step not in order:
                order.append(step)
        for step, c in run_counts.items():
            for key in ("in", "out"):
                counts[step][key] += int(c.get(key, 0))
    funnel: list[tuple[str, int]] = []
    if "source" in counts:
        funnel.append(("read", counts["source"]["in"]))
    funnel += [(step, counts[step]["out"]) for step in order]
    if dedup:
        funnel.append(("dedup", int(dedup[-1].get("out", 0))))
        order.append("dedup")
    return funnel, order


def step_of(stage: str) -> str:
    """The funnel step of a ``rejected.stage`` (sources write ``source:KIND``)."""
    return stage.split(":", 1)[0]


def gather(corpus: str, kept: int = 24, per_reason: int = 8, fetch_rejected: bool = False) -> ReportData:
    """Collect the report's numbers and pictures from ``corpus``."""
    with Catalog(corpus) as cat:
        g = _Gatherer(corpus, cat, fetch_rejected)
        runs = g.rows("select run_id, pipeline, status, started_at, finished_at, config::VARCHAR as config, "
                      "counts::VARCHAR as counts from runs")
        funnel, order = funnel_of(runs)
        totals = g.rows("select count(*) as documents, coalesce(sum(n_images_ok), 0) as images_kept, "
                        "coalesce(sum(n_images), 0) - coalesce(sum(n_images_ok), 0) as image_slots_failed, "
                        "coalesce(sum(text_chars), 0) as text_chars, count(distinct shard) as shards, "
                        "count(distinct partition) as partitions from docs")[0]
        totals["rejected_rows"] = g.rows("select count(*) as n from rejected")[0]["n"]
        removed: dict[str, dict[str, int]] = defaultdict(dict)
        for r in g.rows("select stage, level, count(*) as n from rejected group by all"):
            removed[step_of(r["stage"])][r["level"]] = removed[step_of(r["stage"])].get(r["level"], 0) + r["n"]
        return ReportData(corpus, totals, funnel, dict(removed), g.reasons(order, per_reason),
                          g.scores("docs", "", 8), g.scores("images", "where status = 'ok'", 4),
                          g.kept_grid(kept), runs)

