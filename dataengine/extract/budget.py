"""How complex a page's markup is, measured before it is parsed, against a budget.

lexbor's tree builder checks the stack of open elements at every block start tag, so a
page of 100,000 nested ``<div>`` costs seconds to parse, quadratic in its depth; no later
cap can win that time back. So the depth of open elements and the number of elements are
measured on the decoded text with one linear scan of its tags, and a page over budget is
not parsed at all. The scan mimics what a parser does to depth without building a tree:
void elements (``<br>``, ``<img>``) open nothing, ``<p>``, ``<li>``, ``<td>``, ``<option>``
and ``<a>`` end an open one of their kind (so legacy markup that never closes them stays
flat, as it does for a parser), an end tag closes everything opened after its element, and
the contents of scripts, styles, comments and inline SVG are not markup. It is an estimate
(it ignores scope rules and formatting-element reconstruction): on the 1,052 fixture pages
it is within 11 levels below and 15 above lexbor's depth (all under 42), and on runaway
nesting it counts what lexbor builds, less ``html`` and ``body``. Both measures are deterministic:
the same bytes get the same verdict on any machine, which a time limit would not give.

The scan is skipped when the page has fewer start tags than the depth budget, since it
cannot be deeper than it has elements; that is nearly every page.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)|<!--")
_COMMENT_END = "-->"
_VOID = frozenset({"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
                   "input", "keygen", "link", "menuitem", "meta", "param", "source", "track", "wbr",
                   # the document's own wrappers: a parser merges repeats of them into one
                   "html", "head", "body"})
# Elements whose content is not markup (raw text, or foreign content the extractor drops).
_OPAQUE = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "svg", "math"})
# Where the raw text of an opaque element ends.
_OPAQUE_END = {name: re.compile(f"</{name}", re.I) for name in _OPAQUE}
# A start tag of the key closes the last open element named in the first set, unless an
# element of the second set (its container) was opened after it.
_IMPLIED_END = {name: (frozenset(closes), frozenset(containers)) for names, closes, containers in (
    (("p",), {"p"}, {"button", "table", "td", "th", "caption"}),
    (("li",), {"li"}, {"ul", "ol", "menu"}),
    (("dt", "dd"), {"dt", "dd"}, {"dl"}),
    (("td", "th"), {"td", "th"}, {"tr", "table"}),
    (("tr",), {"tr"}, {"table", "thead", "tbody", "tfoot"}),
    (("thead", "tbody", "tfoot"), {"thead", "tbody", "tfoot"}, {"table"}),
    (("option", "optgroup"), {"option"}, {"select", "datalist"}),
    (("a",), {"a"}, ()),
    (("nobr",), {"nobr"}, ()),
) for name in names}


class TooComplexError(ValueError):
    """The page's markup is over a complexity budget; ``measure`` is ``depth`` or ``elements``."""

    reason = "too_complex"

    def __init__(self, measure: str, value: int, threshold: int) -> None:
        found = f"elements nest {value} deep" if measure == "depth" else f"{value} elements (start tags)"
        super().__init__(f"markup {measure} over budget: {found}, max_{measure} is {threshold} "
                         "(measured before parsing)")
        self.measure, self.value, self.threshold = measure, value, threshold


class _OpenElements:
    """The stack of open element names, with where each name was last opened, for O(1) lookups."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.positions: dict[str, list[int]] = {}

    def push(self, name: str) -> None:
        self.positions.setdefault(name, []).append(len(self.names))
        self.names.append(name)

    def last(self, names: frozenset[str]) -> int:
        """Stack index of the innermost open element named in ``names``; -1 if none."""
        return max((self.positions[n][-1] for n in names if self.positions.get(n)), default=-1)

    def close_from(self, index: int) -> None:
        """Pop the element at ``index`` and everything opened after it (each element is popped once)."""
        while len(self.names) > index:
            self.positions[self.names.pop()].pop()


def markup_complexity(text: str) -> tuple[int, int]:
    """``(depth, elements)``: the estimated deepest nesting of open elements and the number of start tags."""
    stack = _OpenElements()
    depth = elements = 0
    pos, end = 0, len(text)
    while pos < end and (match := _TAG.search(text, pos)) is not None:
        pos = match.end()
        name = match.group(2)
        if name is None:  # a comment: nothing in it is markup
            close = text.find(_COMMENT_END, pos)
            pos = end if close < 0 else close + len(_COMMENT_END)
            continue
        name = name.lower()
        if match.group(1):  # an end tag closes its element and whatever is still open inside it
            if stack.positions.get(name):
                stack.close_from(stack.positions[name][-1])
            continue
        elements += 1
        if name in _OPAQUE:
            close = _OPAQUE_END[name].search(text, pos)
            pos = end if close is None else close.end()
            continue
        if name in _VOID:
            continue
        implied = _IMPLIED_END.get(name)
        if implied is not None:
            closes, containers = implied
            at = stack.last(closes)
            if at >= 0 and at > stack.last(containers):
                stack.close_from(at)
        stack.push(name)
        depth = max(depth, len(stack.names))
    return depth, elements


def check_budget(text: str, max_depth: int, max_elements: int) -> None:
    """Raise ``TooComplexError`` when the markup of ``text`` is deeper or larger than allowed."""
    # Upper bounds of both measures at C speed: every start tag opens with "<", and end tags
    # are "</"; counting "</" costs twice "<", so it is counted only for pages with many "<".
    limit = min(max_depth, max_elements)
    opens = text.count("<")
    if opens <= limit or opens - text.count("</") <= limit:
        return
    depth, elements = markup_complexity(text)
    if depth > max_depth:
        raise TooComplexError("depth", depth, max_depth)
    if elements > max_elements:
        raise TooComplexError("elements", elements, max_elements)
