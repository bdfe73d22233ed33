"""Tables: which lay out the page and which hold data, and the rows of a data table.

A table holding pictures or other tables is layout, and so is one with a cell of prose
(over 500 characters): their cells are blocks of the page, walked like any other. The rest
hold data, each row written as one line of its cells' text, ``a | b | c``.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from .blocks import BLOCK_TAGS, MAX_DEPTH
from .boilerplate import NON_CONTENT_TAGS
from .text import normalize_text

_MEDIA_SELECTOR = "img, picture, figure"
_MAX_DATA_TABLE_CELL = 500


def is_layout_table(node: LexborNode) -> bool:
    """Whether the table holds pictures or other tables (the page's layout, not data)."""
    return node.css_first(_MEDIA_SELECTOR) is not None or len(node.css("table")) > 1


def data_rows(node: LexborNode) -> list[str] | None:
    """The table's caption and rows, one line each with the cells' text joined by ``|``
    (empty cells and rows left out); ``None`` when a cell holds prose, not data."""
    rows = []
    for row in node.css("caption, tr"):
        cells = [_cell_text(cell) for cell in row.iter() if cell.tag in ("td", "th")] \
            if row.tag == "tr" else [_cell_text(row)]
        if any(len(cell) > _MAX_DATA_TABLE_CELL for cell in cells):
            return None
        cells = [cell for cell in cells if cell]
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _collect(node: LexborNode, out: list[str], depth: int = 0) -> None:
    if depth >= MAX_DEPTH:
        out.append(node.text())
        return
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            out.append(child.text_content or "")
        elif tag in NON_CONTENT_TAGS or tag is None:
            continue
        elif tag == "br" or tag in BLOCK_TAGS:
            out.append(" ")
            _collect(child, out, depth + 1)
            out.append(" ")
        else:
            _collect(child, out, depth + 1)


def _cell_text(node: LexborNode) -> str:
    """The text of a table cell on one line."""
    out: list[str] = []
    _collect(node, out)
    return normalize_text("".join(out))
