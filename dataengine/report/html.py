"""``render_html(ReportData) -> str``: one self-contained HTML page (plots and pictures inline)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from html import escape

from dataengine.report import plots
from dataengine.report.data import ReasonBlock, ReportData, Tile

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:72em;padding:1em 2em;color:#222}
h1{margin-bottom:.1em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#666;margin-top:0}
.totals{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.totals div{background:#f4f6f7;border-radius:6px;padding:.5em .9em}.totals b{display:block;font-size:1.3em}
img.plot{max-width:100%;height:auto;display:block;margin:.5em 0}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0}
td,th{border-bottom:1px solid #eee;padding:.25em .6em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f4f6f7;padding:.1em .3em;border-radius:3px;font-size:.9em}
.grid{display:flex;flex-wrap:wrap;gap:.7em}
.tile{width:170px;font-size:.72em;color:#444;word-break:break-all}
.tile img{max-width:160px;max-height:160px;display:block;border:1px solid #ddd;background:#fafafa}
.tile .none{width:160px;height:90px;border:1px dashed #bbb;display:flex;align-items:center;justify-content:center;
 color:#888;text-align:center;padding:4px;box-sizing:border-box}
.pair{display:flex;gap:4px}.pair .tile{width:auto}.pair img{max-width:110px;max-height:110px}
.src{color:#888;font-style:italic}
.reason{margin:1.2em 0}.reason h3{margin:.2em 0;font-size:1em}
.lvl{font-size:.75em;padding:.1em .4em;border-radius:3px;color:white}
.lvl-document{background:#c0392b}.lvl-text{background:#2e86c1}.lvl-image{background:#d68910}
.ex{font-size:.8em;color:#555;margin:.2em 0 .2em 1em}
"""


def _img(data: bytes, alt: str, mime: str = "image/jpeg") -> str:
    css = ' class="plot"' if mime == "image/png" else ""
    return f'<img{css} alt="{escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _picture(tile: Tile) -> str:
    if tile.thumb:
        return _img(tile.thumb, tile.caption)
    return f'<div class="none">{escape(tile.source or "no picture")}</div>'


def _tile(tile: Tile) -> str:
    note = f'<div class="src">{escape(tile.source)}</div>' if tile.thumb and tile.source else ""
    if tile.kept is None:
        return f'<div class="tile">{_picture(tile)}{escape(tile.caption)}{note}</div>'
    return (f'<div class="tile"><div class="pair"><div>{_picture(tile)}<div class="src">removed</div></div>'
            f'<div>{_picture(tile.kept)}<div class="src">kept</div></div></div>{escape(tile.caption)}{note}</div>')


def _example(row: dict) -> str:
    parts = [escape(row.get("url") or "(no URL)")]
    if row.get("image_index") is not None:
        parts.append(f"image {row['image_index']}")
    if row.get("value") is not None:
        parts.append(f"value {row['value']:.4g}" + (f", limit {row['threshold']:.4g}"
                                                   if row.get("threshold") is not None else ""))
    if row.get("detail"):
        parts.append(escape(row["detail"][:240]))
    return f'<div class="ex">{" · ".join(parts)}</div>'


def _reason(block: ReasonBlock) -> str:
    head = (f'<h3><span class="lvl lvl-{escape(block.level)}">{escape(block.level)}</span> '
            f'{escape(block.stage)}: <code>{escape(block.reason)}</code> — {block.count}</h3>')
    body = "".join(_example(r) for r in block.examples) if not block.tiles else \
        f'<div class="grid">{"".join(_tile(t) for t in block.tiles)}</div>'
    return f'<div class="reason">{head}{body}</div>'


def render_html(data: ReportData, figures: list[tuple[str, str, bytes]] = ()) -> str:
    """The whole report page; ``figures`` (title, note, PNG bytes) come right after the totals."""
    t = data.totals
    totals = "".join(f"<div><b>{value:,}</b>{escape(name.replace('_', ' '))}</div>" for name, value in t.items())
    funnel_rows = "".join(
        f'<tr><td>{escape("read by the source" if step == "read" else step)}</td><td class="n">{n:,}</td>'
        + "".join(f'<td class="n">{data.removed_by_step.get(step, {}).get(level, 0):,}</td>'
                  for level in plots.LEVEL_COLOURS) + "</tr>" for step, n in data.funnel)
    reason_rows = "".join(
        f'<tr><td>{escape(b.stage)}</td><td>{escape(b.level)}</td><td><code>{escape(b.reason)}</code></td>'
        f'<td class="n">{b.count:,}</td></tr>' for b in data.reasons)
    sections = [f"<h1>Corpus report</h1><p class='sub'>{escape(data.corpus)} · generated "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {len(data.runs)} runs</p>",
                f'<div class="totals">{totals}</div>']
    for title, note, png in figures:
        sections.append(f"<h2>{escape(title)}</h2><p class='sub'>{escape(note)}</p>{_img(png, title, 'image/png')}")
    sections.append("<h2>Funnel</h2>")
    if data.funnel:
        sections.append(_img(plots.funnel_plot(data.funnel, data.removed_by_step), "funnel", "image/png"))
        sections.append("<table><tr><th>step</th><th>documents left</th><th>documents removed</th>"
                        f"<th>text blocks removed</th><th>images removed</th></tr>{funnel_rows}</table>")
    else:
        sections.append("<p>No run records (runs/) in this corpus, so no per-stage counts.</p>")
    sections.append("<h2>Removed, by stage and reason</h2>"
                    "<p class='sub'>The same numbers: <code>dataengine sql CORPUS \"select stage, level, reason, "
                    "count(*) from rejected group by all\"</code></p>")
    if data.reasons:
        sections.append(_img(plots.reasons_plot(data.reasons), "removals by reason", "image/png"))
        sections.append(f"<table><tr><th>stage</th><th>level</th><th>reason</th><th>rows</th></tr>"
                        f"{reason_rows}</table>")
    else:
        sections.append("<p>Nothing was removed.</p>")
    sections.append("<h2>Scores</h2>")
    for scores, title in ((data.doc_scores, "Document scores (docs.scores)"),
                          (data.image_scores, "Image scores of kept images (images.scores)")):
        if scores:
            sections.append(_img(plots.histograms(scores, title), title, "image/png"))
    if not data.doc_scores and not data.image_scores:
        sections.append("<p>No scores were recorded.</p>")
    sections.append(f"<h2>Images kept</h2><p class='sub'>A sample of {len(data.kept)} from the shards.</p>"
                    f'<div class="grid">{"".join(_tile(t) for t in data.kept)}</div>')
    sections.append("<h2>What each rule removed</h2><p class='sub'>Images: a sample per reason. Documents and "
                    "text: three examples per reason.</p>")
    sections += [_reason(b) for b in data.reasons]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Corpus report</title>"
            f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>")
