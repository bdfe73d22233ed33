"""Find the main-content element of a cleaned page.

Every text block votes for its ancestors with its length (paragraphs with their link text
taken out, other blocks with the text they hold directly, so menus of links weigh
nothing). From ``<body>`` we then walk down, always into the child holding the most text,
as long as that child still holds most of the page's text: we stop at the smallest
element that contains the bulk of the article. If that element sits inside an
``<article>``, ``<main>`` or ``articleBody`` that adds little text, we climb back up to it,
since the difference is usually the headline, the lead image and its caption.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Blocks whose own text counts; <p> and <pre> count their whole text, the rest their direct text.
_VOTING_SELECTOR = "p, pre, div, td, li, dd, dt, blockquote, section, article, main, font, center, span"
_DEEP_TEXT_TAGS = frozenset({"p", "pre"})
_MIN_BLOCK_CHARS = 20
# Walk down only while the child keeps this share of the page's text.
_DESCEND_SHARE = 0.75
# Climb to an enclosing article/main when it adds at most this factor of text.
_CLIMB_FACTOR = 1.5


def _block_weight(node: LexborNode) -> int:
    if node.tag in _DEEP_TEXT_TAGS:
        weight = len(node.text(strip=True))
        if weight >= _MIN_BLOCK_CHARS:
            weight -= sum(len(a.text(strip=True)) for a in node.css("a"))
    else:
        weight = len(node.text(deep=False, strip=True))
    return weight if weight >= _MIN_BLOCK_CHARS else 0


def _votes(body: LexborNode) -> dict[int, int]:
    """Votes of every element that holds a voting block: the weights of the blocks inside it.

    Each block climbs only until it meets an element an earlier block reached, and the
    weights are summed from the deepest elements up, so the cost is linear in the number of
    elements instead of blocks times depth (100,000 nested spans took minutes).
    """
    own: dict[int, int] = {}
    parent_of: dict[int, int] = {}
    depth_of = {body.mem_id: 0}
    for block in body.css(_VOTING_SELECTOR):
        weight = _block_weight(block)
        if not weight:
            continue
        own[block.mem_id] = weight
        path = []
        node = block
        while node.mem_id not in depth_of:  # every block lies below <body>, which is known
            path.append(node.mem_id)
            node = node.parent
        parent, depth = node.mem_id, depth_of[node.mem_id]
        for key in reversed(path):
            depth += 1
            parent_of[key], depth_of[key] = parent, depth
            parent = key
    votes = dict(own)
    for key in sorted(parent_of, key=depth_of.__getitem__, reverse=True):  # children before parents
        if key in votes:
            votes[parent_of[key]] = votes.get(parent_of[key], 0) + votes[key]
    return votes


def main_content(tree: LexborHTMLParser) -> LexborNode | None:
    """The element holding the page's main content (``<body>`` when no element stands out)."""
    body = tree.body
    if body is None:
        return None
    votes = _votes(body)
    body_id = body.mem_id
    total = votes.get(body_id, 0)
    if not total:
        return body
    chosen = body
    while True:
        best, best_votes = None, 0
        for child in chosen.iter():
            child_votes = votes.get(child.mem_id, 0)
            if child_votes > best_votes:
                best, best_votes = child, child_votes
        if best is None or best_votes < _DESCEND_SHARE * total:
            break
        chosen = best
    return _enclosing_semantic(chosen, votes, body_id)


def _is_semantic(node: LexborNode) -> bool:
    if node.tag in ("article", "main"):
        return True
    attrs = node.attributes
    return attrs.get("role") == "main" or attrs.get("itemprop") == "articleBody"


def _enclosing_semantic(node: LexborNode, votes: dict[int, int], body_id: int) -> LexborNode:
    limit = _CLIMB_FACTOR * votes.get(node.mem_id, 0)
    best = node
    ancestor = node.parent
    while ancestor is not None and ancestor.mem_id != body_id:
        if votes.get(ancestor.mem_id, 0) > limit:
            break
        if _is_semantic(ancestor):
            best = ancestor
        ancestor = ancestor.parent
    return best
