"""``report.html`` of an alignment loop: accuracy per round, per-aspect bars, chosen vs rejected, self vs judge.

One self-contained page (inline SVG plots, images as data URLs), written by ``run_align_loop``
and readable offline: held-out text-to-image accuracy per round for each arm (line plot),
per-aspect accuracy of the main arm per round (bars), for the last round a grid of
preference pairs (the chosen candidate beside the rejected one, with the prompt and the
judge's notes), and a table of self-assessment against the judge per round.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

ASPECTS = ("colour", "count", "position", "shape")
_COLOURS = {"main": "#1f6feb", "control": "#999999"}
_NAN = float("nan")


def _line_plot(rounds: list[dict[str, Any]], key: str, width: int = 420, height: int = 220) -> str:
    pad, top = 40, 1.0  # the right margin leaves room for the last round's label
    n = max(1, len(rounds) - 1)
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{key} per round">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="#333"/>',
             f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="#333"/>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = height - pad - tick / top * (height - pad - 10)
        parts.append(f'<text x="4" y="{y + 4:.0f}" font-size="10">{tick:.2f}</text>'
                     f'<line x1="{pad}" y1="{y:.0f}" x2="{width - 10}" y2="{y:.0f}" stroke="#eee"/>')
    for r in range(len(rounds)):
        x = pad + r / n * (width - pad - 30)
        parts.append(f'<text x="{x:.0f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">'
                     f'round {r}</text>')
    for k, (arm, colour) in enumerate(_COLOURS.items()):
        points = [(r, f[arm]["heldout"].get(key, _NAN)) for r, f in enumerate(rounds) if arm in f]
        xy = [(pad + r / n * (width - pad - 30), height - pad - v / top * (height - pad - 10))
              for r, v in points if v == v]
        if xy:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(f"{x:.0f},{y:.0f}" for x, y in xy)}"/>')
            parts += [f'<circle cx="{x:.0f}" cy="{y:.0f}" r="3" fill="{colour}"/>' for x, y in xy]
            parts.append(f'<text x="{pad + 8}" y="{22 + 14 * k}" font-size="11" fill="{colour}">'
                         f'&#9644; {arm}</text>')
    return "".join(parts) + "</svg>"


def _aspect_bars(rounds: list[dict[str, Any]], width: int = 420, height: int = 200) -> str:
    pad = 30
    group_w = (width - pad) / len(ASPECTS)
    bar_w = group_w / (len(rounds) + 1)
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="per-aspect accuracy per round">']
    for a, aspect in enumerate(ASPECTS):
        x0 = pad + a * group_w
        parts.append(f'<text x="{x0:.0f}" y="{height - 4}" font-size="11">{aspect}</text>')
        for r, f in enumerate(rounds):
            v = f["main"]["heldout"].get(f"t2i_{aspect}", _NAN)
            if v != v:
                continue
            h = v * (height - 40)
            shade = 200 - int(160 * r / max(1, len(rounds) - 1))
            parts.append(f'<rect x="{x0 + r * bar_w:.0f}" y="{height - 20 - h:.0f}" width="{bar_w - 2:.0f}" '
                         f'height="{h:.0f}" fill="rgb({shade},{shade},255)"><title>round {r}: {v:.3f}</title></rect>')
    return "".join(parts) + "</svg>"


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def preference_pairs(corpus: str, limit: int = 12) -> list[dict[str, Any]]:
    """Up to ``limit`` chosen candidates of ``corpus`` with their rejected pair: prompt, images, notes."""
    from dataengine.sources.corpus import CorpusSource
    from schemas import Document

    source = CorpusSource(path=corpus)
    docs = {d.id: d for p in source.partitions() for d in source.read(p) if isinstance(d, Document)}
    out = []
    for doc in docs.values():
        a = doc.assessment or {}
        other = docs.get(a.get("pair") or "")
        if a.get("role") != "chosen" or other is None or not doc.images or not other.images:
            continue
        notes = next((j.get("notes") for j in (other.assessment or {}).get("judgements", [])
                      if j.get("judge") == "ground_truth"), {}) or {}
        out.append({"prompt": a["prompt"], "chosen": doc.images[0].data, "rejected": other.images[0].data,
                    "notes": "; ".join(f"{k}: {v}" for k, v in notes.items())})
        if len(out) >= limit:
            break
    return out


def write_report(result: Any, path: Path) -> Path:
    """Write the page for a ``LoopResult`` to ``path``."""
    rounds = result.rounds
    rows = []
    for r, f in enumerate(rounds):
        d = f.get("main", {}).get("data", {})
        rows.append("<tr>" + "".join(f"<td>{v}</td>" for v in (
            r, _fmt(f.get("main", {}).get("heldout", {}).get("t2i_accuracy")),
            _fmt(f.get("control", {}).get("heldout", {}).get("t2i_accuracy")),
            _fmt(f.get("main", {}).get("heldout", {}).get("t2i_all_correct")),
            _fmt(d.get("pass_rate")), _fmt(d.get("auroc")), _fmt(d.get("answer_accuracy")),
            _fmt(d.get("self_pick_pass_rate")), _fmt(d.get("pick_gain")), d.get("chosen", ""))) + "</tr>")
    last = result.out / f"round{len(rounds) - 1}" / "align"
    pairs = preference_pairs(str(last)) if len(rounds) > 1 and last.exists() else []
    tiles = "".join(
        f'<figure><img src="{_data_url(p["chosen"])}" alt="chosen"><img src="{_data_url(p["rejected"])}" '
        f'alt="rejected"><figcaption>{html.escape(p["prompt"])}<br><small>rejected: '
        f'{html.escape(p["notes"] or "-")}</small></figcaption></figure>' for p in pairs)
    title = f"Alignment loop: {html.escape(str(result.out))}"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:24px;max-width:1000px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} .plots{{display:flex;gap:24px;flex-wrap:wrap}}
figure{{display:inline-block;margin:6px;width:160px;vertical-align:top}}
figure img{{width:72px;height:72px;image-rendering:pixelated;border:1px solid #ddd;margin:0 2px 0 0}}
figcaption{{font-size:11px}}</style></head><body>
<h1>Self-generation alignment: {len(rounds) - 1} rounds</h1>
<p>Held-out compositions the model never trained on, judged by the sample web's ground truth (greedy drawing,
no guidance). The control arm trains the same steps on candidates picked blind.</p>
<div class="plots"><div><h2>Text-to-image accuracy per attribute</h2>{_line_plot(rounds, "t2i_accuracy")}</div>
<div><h2>Per aspect, main arm (light: round 0)</h2>{_aspect_bars(rounds)}</div></div>
<h2>Rounds</h2><table><tr><th>round</th><th>t2i main</th><th>t2i control</th><th>exact main</th>
<th>candidate pass rate</th><th>self-assess AUROC</th><th>yes/no accuracy</th><th>self-picked pass rate</th>
<th>pick gain</th><th>chosen</th></tr>{"".join(rows)}</table>
<p>The pass rate, AUROC and pick figures of round r describe the candidates drawn by the model of round r-1.</p>
<h2>Chosen (left) and rejected (right), last round</h2>{tiles or "<p>no preference pairs in the last round</p>"}
</body></html>"""
    path.write_text(page)
    return path


def _fmt(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
