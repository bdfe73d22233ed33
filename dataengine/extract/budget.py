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

_TAG = re.compile(r"<(/?[a-zA-Z][^\s/>]*)")
_VOID = frozenset({"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
                   "input", "keygen", "link", "menuitem", "meta", "param", "source", "track", "wbr",
                   # the document's own wrappers: a parser merges repeats of them into one
                   "html", "head", "body"})
# Elements whose content is not markup (raw text, or foreign content the extractor drops).
_OPAQUE = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "svg", "math"})
_NOT_OPENED = _VOID | _OPAQUE
# Where a comment or an opaque element starts; the names are matched in ASCII case only, as
# ``_TAG`` reads them (re.I would also match "ſcript"), and other "<" fail at the lookahead.
_SPECIAL = re.compile(r"<(?=[!a-zA-Z])(?:!--|(" + "|".join(
    "".join(f"[{c}{c.upper()}]" for c in name) for name in sorted(_OPAQUE)) + r")(?=[\s/>]|\Z))")
_COMMENT_END = "-->"
# Where the raw text of an opaque element ends.
_OPAQUE_END = {name: re.compile(f"</{name}", re.I) for name in _OPAQUE}
_NONE = [-1]  # the position of a name not open
# A start tag of the key closes the last open element named in the first set, unless an
# element of the second set (its container) was opened after it.
_IMPLIED_END = {name: (tuple(closes), tuple(containers)) for names, closes, containers in (
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


def _tags(text: str) -> list[str]:
    """The names of the tags of ``text`` in order, end tags with their ``/``, leaving out
    comments and the contents of opaque elements (an opaque element is a ``script`` tag)."""
    # The tags between two comments or opaque elements are listed by one call in C, so what
    # is left for Python is a step per comment or opaque element and a small one per tag.
    tags: list[str] = []
    pos, end = 0, len(text)
    while (special := _SPECIAL.search(text, pos)) is not None:
        tags += _TAG.findall(text, pos, special.start())
        opaque = special.group(1)
        if opaque is None:  # a comment
            close = text.find(_COMMENT_END, special.end())
            pos = end if close < 0 else close + len(_COMMENT_END)
        else:
            tags.append("script")
            close_match = _OPAQUE_END[opaque.lower()].search(text, special.end())
            pos = end if close_match is None else close_match.end()
    tags += _TAG.findall(text, pos)
    return tags


def markup_complexity(text: str) -> tuple[int, int]:
    """``(depth, elements)``: the estimated deepest nesting of open elements and the number of start tags."""
    names: list[str] = []  # the open elements, outermost first
    positions: dict[str, list[int]] = {}  # where each name is open in ``names``, innermost last
    get = positions.get
    depth = elements = 0
    for name in _tags(text):
        if not name.islower():
            name = name.lower()
        if name[0] == "/":  # an end tag closes its element and whatever is still open inside it
            opened = get(name[1:])
            if opened:
                _close_from(names, positions, opened[-1])
            continue
        elements += 1
        if name in _NOT_OPENED:
            continue
        implied = _IMPLIED_END.get(name)
        if implied is not None:
            closes, containers = implied
            at = max((get(n) or _NONE)[-1] for n in closes)
            if at >= 0 and all((get(n) or _NONE)[-1] < at for n in containers):
                _close_from(names, positions, at)
        opened = get(name)
        if opened is None:
            positions[name] = [len(names)]
        else:
            opened.append(len(names))
        names.append(name)
        if len(names) > depth:
            depth = len(names)
    return depth, elements


def _close_from(names: list[str], positions: dict[str, list[int]], index: int) -> None:
    """Pop the element at ``index`` and everything opened after it (each element is popped once)."""
    while len(names) > index:
        positions[names.pop()].pop()


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
