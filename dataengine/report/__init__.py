"""The funnel report: ``dataengine report CORPUS --html OUT.html``.

- ``data``: ``gather`` collects counts (catalog views), scores and pictures (shards,
  thumbnails kept at removal, or images fetched again on request).
- ``plots``: the funnel, removals by reason, and score histograms (matplotlib).
- ``html``: one self-contained page.
- ``commands``: the CLI.
"""

from __future__ import annotations

from pathlib import Path


def write_report(corpus: str, html_path: str | Path, kept: int = 24, per_reason: int = 8,
                 fetch_rejected: bool = False, figures: list[tuple[str, str, bytes]] | None = None) -> Path:
    """Gather the report of ``corpus`` and write it to ``html_path``; return the path.

    ``figures`` are ``(title, note, PNG bytes)`` shown first (the demo's model samples).
    """
    from dataengine.report.data import gather
    from dataengine.report.html import render_html

    path = Path(html_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(gather(corpus, kept, per_reason, fetch_rejected), figures or []), encoding="utf-8")
    return path


__all__ = ["write_report"]
