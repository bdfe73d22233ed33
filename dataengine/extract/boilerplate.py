"""Remove what is not main content: non-content tags, page chrome, and widgets named as such.

Passes over the parsed tree, cheapest first. Tags that never hold article text (scripts,
navigation, asides, footers, forms that ask the reader for input) go by tag. Widgets (menus, cookie banners, share
buttons, comment threads, related-article boxes, ads) are found by their class or id,
matched word by word so that ``class="header"`` is not taken for an ad nor ``canvas`` for
navigation. Last, hidden elements go. An element that holds the page's main landmark
(``main``, ``role=main``, ``articleBody``, the ``h1``) is never removed: on many sites the
layout wrapper is called ``has-sidebar``; nor is a ``<form>`` holding most of the page's
text (ASP.NET pages wrap the whole body in one).
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Never content, whatever the page: removed with everything inside.
NON_CONTENT_TAGS = ["script", "style", "template", "svg", "math", "canvas", "iframe", "object", "embed",
                    "video", "audio", "map", "button", "input", "select", "textarea", "option", "dialog",
                    "link", "meta", "head"]
# Page chrome by tag; a <header> inside an article holds its title and lead, so it stays.
CHROME_SELECTOR = ("nav, aside, footer, menu, [role=navigation], [role=banner], [role=contentinfo], "
                   "[role=complementary], [role=search], [itemprop=comment], "
                   "header:not(article header):not(main header):not([role=main] header)")
# Class/id words naming sections that hold prose which is never the article (comments,
# related stories, sidebars, consent notices): such an element goes unless it is the page's main part.
_SECTION_WORDS = (
    "comment", "comments", "commentlist", "disqus", "related", "relatedposts", "recommended",
    "recommendations", "outbrain", "taboola", "sidebar", "footer", "cookie", "cookies", "consent", "gdpr",
    "newsletter", "subscribe", "subscription", "authorbox", "login", "signup", "avatar", "logo",
    "more-posts", "more-post", "more-stories", "read-next", "also-read", "most-viewed", "most-read", "popular",
)
# Words naming controls (menus, share bars, ads, widgets). Sites also put them on containers
# of the article ("share-zone", "tab-menu"), so an element with prose paragraphs inside stays.
_CONTROL_WORDS = (
    "nav", "navbar", "navigation", "menu", "menus", "menubar", "breadcrumb", "breadcrumbs", "pagination",
    "pager", "skiplink", "skip", "masthead", "toolbar", "tags", "tagcloud", "readmore", "banner", "share",
    "shares", "sharing", "sharedaddy", "shariff", "addtoany", "social", "socials", "ad", "ads",
    "adsbygoogle", "advert", "advertisement", "advertising", "sponsor", "sponsored", "promo", "modal",
    "widget", "widgets", "teaser", "teasers",
)
# Whole class tokens that hide an element from readers (screen-reader-only labels, "d-none").
_HIDING_TOKENS = frozenset({"hidden", "d-none", "sr-only", "visually-hidden", "screen-reader-text", "invisible"})
_SECTION_SET = frozenset(_SECTION_WORDS)
_CONTROL_SET = frozenset(_CONTROL_WORDS)
_RUN_SEPARATORS = str.maketrans("-_", "  ")
HIDDEN_SELECTOR = ('[hidden], [style*="display:none" i], [style*="display: none" i], '
                   '[style*="visibility:hidden" i], [style*="visibility: hidden" i], [aria-hidden=true]:not(img)')
LANDMARK_SELECTOR = "main, [role=main], [itemprop=articleBody], h1"
# Forms asking the reader for something (search, comment, newsletter, login) are chrome; a
# form holding the page's own text (a shop's product-and-cart form, an ASP.NET page wrapper) is not.
_INTERACTIVE_FORM_SELECTOR = 'textarea, input[type=email], input[type=password], input[type=search]'
_MIN_CONTENT_FORM_CHARS = 200
# A <form> holding more than this share of the page's text is a layout wrapper.
_WRAPPER_TEXT_SHARE = 0.6
# This many paragraphs of at least _PROSE_CHARS make an element prose, not a widget.
_PROSE_PARAGRAPHS = 2
_PROSE_CHARS = 80


def widget_kind(value: str | None) -> str | None:
    """What a class or id attribute names: ``"section"`` (comments, related, sidebar, consent,
    or a class that hides the element), ``"control"`` (menu, share bar, ad, widget) or ``None``.

    A word matches a dash/underscore-separated run of a token (``site-footer``), or two
    adjacent runs (``more-posts``), never a substring (``header`` is not ``ad``).
    """
    if not value:
        return None
    kind = None
    for token in value.lower().split():
        if token in _HIDING_TOKENS:
            return "section"
        runs = token.translate(_RUN_SEPARATORS).split()
        if len(runs) > 1:
            runs += [f"{a}-{b}" for a, b in zip(runs, runs[1:])]
        if not _SECTION_SET.isdisjoint(runs):
            return "section"
        if kind is None and not _CONTROL_SET.isdisjoint(runs):
            kind = "control"
    return kind


def _protected(node: LexborNode) -> bool:
    # lexbor's css() matches the node itself too
    return node.tag in ("html", "body") or node.css_first(LANDMARK_SELECTOR) is not None


def _is_prose(node: LexborNode) -> bool:
    long_paragraphs = 0
    for paragraph in node.css("p"):
        if len(paragraph.text(strip=True)) >= _PROSE_CHARS:
            long_paragraphs += 1
            if long_paragraphs >= _PROSE_PARAGRAPHS:
                return True
    return False


def _unwrap_noscript(body: LexborNode) -> None:
    # Parsed with scripting off, <noscript> holds the plain <img> of a lazy-loaded picture
    # (kept: it may be the only real URL) and notices about JavaScript (not content).
    for noscript in body.css("noscript"):
        for img in noscript.css("img"):
            noscript.insert_before(img, move=True)
        noscript.decompose()


def remove_boilerplate(tree: LexborHTMLParser) -> None:
    """Strip non-content tags, page chrome, named widgets and hidden elements, in place."""
    body = tree.body
    if body is None:
        return
    interactive = {form.mem_id for form in body.css("form") if form.css_first(_INTERACTIVE_FORM_SELECTOR)}
    tree.strip_tags(NON_CONTENT_TAGS)
    _unwrap_noscript(body)
    page_chars = len(body.text())
    for form in body.css("form"):
        if form.parent is None or _protected(form):
            continue
        chars = len(form.text(strip=True))
        if chars <= _WRAPPER_TEXT_SHARE * page_chars and (form.mem_id in interactive
                                                          or chars < _MIN_CONTENT_FORM_CHARS):
            form.decompose()
    for node in body.css(CHROME_SELECTOR):
        if node.parent is not None and not _protected(node):
            node.decompose()
    for node in body.css("[class], [id]"):
        if node.parent is None:
            continue  # inside something already removed
        attrs = node.attributes
        kinds = (widget_kind(attrs.get("class")), widget_kind(attrs.get("id")))
        if "section" in kinds:
            if not _protected(node):
                node.decompose()
        elif "control" in kinds and not _is_prose(node) and not _protected(node):
            node.decompose()
    for node in body.css(HIDDEN_SELECTOR):
        if node.parent is not None and not _protected(node):
            node.decompose()
