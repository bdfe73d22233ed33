"""The report's plots, drawn with matplotlib (headless) and returned as PNG bytes."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dataengine.report.data import ReasonBlock  # noqa: E402

LEVEL_COLOURS = {"document": "#c0392b", "text": "#2e86c1", "image": "#d68910"}
DPI = 110


def _png(fig: plt.Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def funnel_plot(funnel: list[tuple[str, int]], removed: dict[str, dict[str, int]]) -> bytes:
    """Left: documents left after each step. Right: what each step removed (documents, text blocks, images)."""
    labels, values = [s for s, _ in funnel], [v for _, v in funnel]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.42 * len(funnel) + 1.2), sharey=True,
                                      gridspec_kw={"width_ratios": [3, 2]})
    ys = np.arange(len(values))
    top = max(values) if values else 1
    bars = left.barh(ys, values, color="#5d6d7e")
    left.set_yticks(ys, [("read by the source" if s == "read" else f"after {s}") for s in labels])
    left.invert_yaxis()
    left.set_xlim(0, top * 1.25 if top else 1)
    for bar, value in zip(bars, values):
        share = f" ({value / values[0]:.0%})" if values[0] else ""
        left.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, f"{value}{share}",
                  va="center", fontsize=9)
    left.set_xlabel("documents")
    left.set_title("Documents left after each step", fontsize=10)
    start = np.zeros(len(labels))
    for level, colour in LEVEL_COLOURS.items():
        n = np.array([removed.get(step, {}).get(level, 0) for step in labels], dtype=float)
        right.barh(ys, n, left=start, color=colour, label=f"{level}s" if level != "text" else "text blocks")
        start += n
    for y, total in zip(ys, start):
        if total:
            right.text(total, y, f" {int(total)}", va="center", fontsize=8)
    right.set_xlim(0, max(start.max(), 1) * 1.2)
    right.set_xlabel("rows in rejected")
    right.set_title("Removed by each step", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def reasons_plot(blocks: list[ReasonBlock], limit: int = 30) -> bytes:
    """Removals per reason (the ``limit`` most frequent), coloured by level."""
    blocks = sorted(blocks, key=lambda b: -b.count)[:limit]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(blocks) + 1.1))
    labels = [f"{b.stage}: {b.reason}" for b in blocks]
    ax.barh(range(len(blocks)), [b.count for b in blocks], color=[LEVEL_COLOURS.get(b.level, "grey") for b in blocks])
    ax.set_yticks(range(len(blocks)), labels, fontsize=8)
    ax.invert_yaxis()
    for i, b in enumerate(blocks):
        ax.text(b.count, i, f" {b.count}", va="center", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in LEVEL_COLOURS.values()]
    ax.legend(handles, [f"{level} removed" for level in LEVEL_COLOURS], loc="lower right", fontsize=8)
    ax.set_xlabel("rows in rejected")
    ax.set_title("What was removed, by stage and reason")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def histograms(scores: dict[str, np.ndarray], title: str) -> bytes:
    """One histogram per score, in a grid of up to four columns."""
    n = len(scores)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.3 * rows + 0.5), squeeze=False)
    for ax, (name, values) in zip(axes.flat, scores.items()):
        ax.hist(values, bins=30, color="#48c9b0", edgecolor="white", linewidth=0.4)
        ax.set_title(f"{name} (n={len(values)})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _png(fig)
