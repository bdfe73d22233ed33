"""What is not main content, told by an element's tag, role, visibility and class/id words.

Tags that never hold article text (scripts, forms' controls, embedded media) are skipped with
everything inside; page chrome (``nav``, ``aside``, ``footer``, a ``header`` outside the
article) and elements with a chrome ``role`` too. Class and id attributes name what an
element is: ``class_kind`` reads them word by word (``site-footer`` holds the word
``footer``, ``header`` does not hold ``ad``), including camelCase words and a few stems that
sites glue to other words (``relatedArticles``, ``commentlist``). These kinds come out:

- ``section``: prose that is never the article (comments, related stories, sidebars,
  consent notices, author boxes, newsletter sign-ups) or a class that hides the element;
- ``control``: menus, share bars, ads, widgets; sites also put these words on the article's
  container (``share-zone``, ``tab-menu``), so such an element stays when it holds prose;
- ``meta``: bylines, dates, tags, categories, photo credits: short lines about the article,
  kept when they hold prose (a "meta" class on a paragraph of text);
- ``media``: a gallery or a slider, whose pictures are content;
- ``caption``: the caption of a picture;
- ``content``: the article body itself (``entry-content``, ``articleBody``), a hint for
  finding the main content.

An element that holds the page's main landmark is never dropped for its words (many sites
call the layout wrapper ``has-sidebar``); the walker checks that.
"""

from __future__ import annotations

import re

# Never content, whatever the page: skipped with everything inside.
NON_CONTENT_TAGS = frozenset({
    "script", "style", "template", "svg", "math", "canvas", "iframe", "object", "embed", "video", "audio",
    "map", "button", "input", "select", "textarea", "option", "dialog", "link", "meta", "head", "title",
    "-comment", "area", "track", "source", "wbr", "param", "label",
})
CHROME_TAGS = frozenset({"nav", "aside", "footer", "menu"})
CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar",
                          "dialog", "alertdialog", "toolbar"})
# Elements that mark the article itself, so a header inside them is the article's header.
ARTICLE_TAGS = frozenset({"article", "main"})

SECTION, MEDIA, CONTROL, META, CAPTION, CONTENT = "section", "media", "control", "meta", "caption", "content"

# Sections that hold prose which is never the article: skipped however much text they hold.
_SECTION_WORDS = frozenset({
    "comment", "comments", "commentlist", "commentform", "respond", "disqus", "related", "relatedposts",
    "recommended", "recommendations", "outbrain", "taboola", "yarpp", "newsletter", "cookie", "cookies",
    "consent", "gdpr", "footer", "colophon", "textwidget", "widget-area", "widgettitle", "widget-title",
    "sharedaddy", "akismet", "nocontent", "skiplink", "skip-link", "recentcomments", "more-posts",
    "more-stories", "more-articles", "most-viewed", "most-read", "most-popular", "also-read", "read-next",
    "next-post", "prev-post", "previous-post", "post-navigation", "offcanvas", "off-canvas",
})
# Galleries and sliders: their pictures are content even when the words around them name
# controls ("gallery-icon", "slider-nav").
_MEDIA_WORDS = frozenset({"gallery", "galleries", "slider", "slides", "slideshow", "carousel", "lightbox",
                          "tiled-gallery", "wp-block-gallery"})
# Controls and side boxes (menus, share bars, ads, sidebars, sign-up boxes). Sites also put
# these words on the article's container ("share-zone", "has-sidebar", "paywall-container"),
# so a box named so stays when it holds prose.
_CONTROL_WORDS = frozenset({
    "nav", "navbar", "navigation", "menu", "menus", "menubar", "subnav", "breadcrumb", "breadcrumbs",
    "pagination", "pager", "toolbar", "tools", "tagcloud", "share", "shares", "sharing", "shariff", "addtoany",
    "social", "socials", "follow", "ad", "ads", "adsbygoogle", "advert", "advertisement", "advertising",
    "anzeige", "sponsor", "sponsored", "promo", "promotion", "marketing", "affiliate", "cta", "modal", "popup",
    "overlay", "flyout", "widget", "widgets", "button", "buttons", "btn", "icon", "icons",
    "noprint", "email", "dropdown", "notice", "alert", "toc", "sidebar",
    "sidebars", "secondary", "tertiary", "paywall", "read-more", "readmore", "contact", "banner", "masthead",
    "popular", "trending", "disclaimer", "copyright", "login", "register", "signup", "subscribe",
    "subscription", "logo", "rating", "ratings", "donation", "donate", "privacy",
})
# Lines about the article (bylines, dates, tags, credits, author boxes): kept only as prose.
_META_WORDS = frozenset({
    "byline", "author", "authors", "authorbox", "bio", "biography", "avatar", "date", "dateline", "time",
    "timestamp", "published", "updated", "posted", "meta", "metadata", "postmeta", "tags", "taglist",
    "categories", "cat-links", "tags-links", "credit", "credits", "source", "reading-time", "readtime",
    "kicker", "postinfo", "post-info", "article-info",
})
_CAPTION_WORDS = frozenset({"caption", "captions", "figcaption", "legend", "legende", "bildunterschrift"})
_CONTENT_WORDS = frozenset({
    "entry-content", "post-content", "article-content", "articlebody", "article-body", "post-body",
    "story-body", "story-content", "article-text", "post-text", "entry-body", "content-body", "main-content",
    "single-content", "blog-content", "page-content", "text-content", "body-text", "articletext", "postcontent",
    "entrycontent", "article__body", "article__content", "post-entry", "entry", "rich-text", "richtext",
})
# Whole class tokens that hide an element from readers (screen-reader-only labels, "d-none").
_HIDING_TOKENS = frozenset({"hidden", "hide", "d-none", "sr-only", "visually-hidden", "visuallyhidden",
                            "screen-reader-text", "screen-reader-only", "invisible", "is-hidden", "u-hidden",
                            "element-invisible", "offscreen"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_RUNS = re.compile(r"[a-z0-9]+")
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_VOCABULARIES = ((SECTION, _SECTION_WORDS), (MEDIA, _MEDIA_WORDS), (CONTROL, _CONTROL_WORDS), (META, _META_WORDS),
                 (CAPTION, _CAPTION_WORDS), (CONTENT, _CONTENT_WORDS))
# Within one token a gallery word wins ("gallery-icon"); across tokens a control word does
# ("widget slider_widget" is a sidebar widget that happens to slide).
_KINDS = [SECTION, CONTROL, MEDIA, META, CAPTION, CONTENT]
_ALL_WORDS = frozenset(word for _, words in _VOCABULARIES for word in words)
_ALL_RUNS = frozenset(run for word in _ALL_WORDS for run in word.split("-"))
_RANK = {kind: rank for rank, kind in enumerate(_KINDS)}
# Class strings and tokens repeat within a page and across a site: both verdicts are cached.
_KIND_CACHE: dict[str, str | None] = {}
_TOKEN_CACHE: dict[str, str | None] = {}
_WORDS_CACHE: dict[str, frozenset[str]] = {}
_CACHE_SIZE = 50_000


def _token_runs(token: str, lowered: str) -> list[str]:
    """The dash/underscore runs and camelCase words of a class token, lower case."""
    return _RUNS.findall(lowered if lowered == token else _CAMEL.sub("-", token).lower())


def _token_words(token: str) -> list[str]:
    """The words of one class token: its runs, each pair of adjacent runs joined by a dash
    (``more-posts``), and the whole token (``commentlist``)."""
    lowered = token.lower()
    words = _token_runs(token, lowered)
    if len(words) > 1:
        words += [f"{a}-{b}" for a, b in zip(words, words[1:])]
        words.append(lowered)
    return words


def word_set(value: str | None) -> frozenset[str]:
    """Every word of a class or id attribute, as ``class_kind`` reads them."""
    if not value:
        return frozenset()
    words = _WORDS_CACHE.get(value)
    if words is None:
        words = frozenset(word for token in value.split() for word in _token_words(token))
        if len(_WORDS_CACHE) >= _CACHE_SIZE:
            _WORDS_CACHE.clear()
        _WORDS_CACHE[value] = words
    return words


def _token_kind(token: str) -> str | None:
    """The kind one class token names (``None`` for none): its words are looked up in the vocabularies."""
    lowered = token.lower()
    if lowered in _HIDING_TOKENS:
        return SECTION
    # Most tokens ("col-md-8", "clearfix", "post-1234") hold no word of any vocabulary at all:
    # a few set lookups tell, where building every pair of words would not.
    runs = _token_runs(token, lowered)
    if _ALL_RUNS.isdisjoint(runs) and lowered not in _ALL_WORDS:
        return None
    words = runs
    if len(runs) > 1:
        words = runs + [f"{a}-{b}" for a, b in zip(runs, runs[1:])] + [lowered]
    for kind, vocabulary in _VOCABULARIES:
        if not vocabulary.isdisjoint(words):
            return kind
    return None


def _classify(value: str) -> str | None:
    # The strongest kind among the tokens wins, in the order of _KINDS.
    best = len(_RANK)
    for token in value.split():
        kind = _TOKEN_CACHE.get(token, "")
        if kind == "":
            kind = _token_kind(token)
            if len(_TOKEN_CACHE) >= _CACHE_SIZE:
                _TOKEN_CACHE.clear()
            _TOKEN_CACHE[token] = kind
        if kind is not None:
            best = min(best, _RANK[kind])
    return _KINDS[best] if best < len(_RANK) else None


def class_kind(value: str | None) -> str | None:
    """What a class or id attribute names: ``section``, ``media``, ``control``, ``meta``, ``caption``,
    ``content`` or ``None``."""
    if not value:
        return None
    kind = _KIND_CACHE.get(value, "")
    if kind == "":
        kind = _classify(value)
        if len(_KIND_CACHE) >= _CACHE_SIZE:
            _KIND_CACHE.clear()
        _KIND_CACHE[value] = kind
    return kind


def is_hidden(tag: str, attrs: dict[str, str | None]) -> bool:
    """Whether the element is hidden from readers by an attribute or an inline style."""
    if "hidden" in attrs:
        return True
    if attrs.get("aria-hidden") == "true" and tag != "img":
        return True
    style = attrs.get("style")
    return bool(style) and _DISPLAY_NONE.search(style) is not None
