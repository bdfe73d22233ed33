"""A sample-web page as data (what it shows, with ground truth) and as HTML (how a site shows it).

The HTML wraps the article in the boilerplate of a real site: a cookie banner, a header with
the logo and navigation, share buttons with social icons, a sidebar with ads and links, and
a footer. Image URLs are written relative (``../img/...``) or absolute-path (``/img/...``);
some images load lazily (``data-src`` with a placeholder ``src``) or offer a ``srcset``.
"""

from __future__ import annotations

import html
import posixpath
from dataclasses import dataclass, field

from dataengine.sampleweb.text import FIGURE, SITE_NAME
from schemas.scenes import Scene

# A transparent 1x1 GIF: what lazy-loading sites put in ``src`` until a script swaps in ``data-src``.
LAZY_PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_WORDS = {
    "en": {"home": "Home", "members": "Members", "cookie": "We use cookies to improve your experience.",
           "accept": "Accept all", "share": "Share", "ad": "Advertisement", "related": "Read next",
           "partners": "Partners", "privacy": "Privacy", "by": "By"},
    "de": {"home": "Startseite", "members": "Mitglieder", "cookie": "Wir verwenden Cookies.",
           "accept": "Alle akzeptieren", "share": "Teilen", "ad": "Anzeige", "related": "Weiterlesen",
           "partners": "Partner", "privacy": "Datenschutz", "by": "Von"},
    "fr": {"home": "Accueil", "members": "Membres", "cookie": "Nous utilisons des cookies.",
           "accept": "Tout accepter", "share": "Partager", "ad": "Publicité", "related": "À lire aussi",
           "partners": "Partenaires", "privacy": "Confidentialité", "by": "Par"},
}


@dataclass
class ImageUse:
    """One ``<img>`` on one page, with the ground truth about it (see the package docstring)."""

    path: str  # absolute site path of the image, e.g. "/img/scenes/scene-0001.png"
    label: str
    region: str  # where on the page: "header", "share", "article" or "sidebar"
    alt: str
    caption: str | None  # what the image truly shows; None for broken and corrupt images
    scene: Scene | None = None
    figcaption: str | None = None
    relative: bool = False  # write the URL relative to the page instead of as an absolute path
    lazy: bool = False
    srcset_2x: str | None = None  # site path of a double-size version offered in ``srcset``
    duplicate_of: str | None = None
    variant: str | None = None
    size: tuple[int, int] | None = None

    def url_from(self, page_path: str, path: str | None = None) -> str:
        """The URL of ``path`` (default: this image) as written on the page at ``page_path``."""
        path = path or self.path
        return posixpath.relpath(path, posixpath.dirname(page_path)) if self.relative else path

    def ground_truth(self, page_path: str) -> dict:
        """This image's line in ``ground_truth.jsonl``."""
        return {
            "kind": "image", "path": self.path, "page": page_path, "label": self.label,
            "region": self.region, "scene": self.scene.to_json() if self.scene else None,
            "caption": self.caption, "alt": self.alt, "figcaption": self.figcaption,
            "src": self.url_from(page_path), "attr": "data-src" if self.lazy else "src",
            "srcset": [self.path, self.srcset_2x] if self.srcset_2x else None,
            "duplicate_of": self.duplicate_of, "variant": self.variant,
        }


@dataclass
class Page:
    """One HTML page of the sample web: its ground truth and what it contains, in reading order."""

    path: str
    label: str
    language: str
    title: str
    body: list[str | ImageUse] = field(default_factory=list)  # paragraphs and images of the article
    link_list: list[tuple[str, str]] = field(default_factory=list)  # (page path, text) inside the article
    chrome: list[ImageUse] = field(default_factory=list)  # logo and share icons
    sidebar: list[ImageUse] = field(default_factory=list)  # ads
    related: list[tuple[str, str]] = field(default_factory=list)  # (page path, title) in the sidebar
    byline: str = ""

    def images(self) -> list[ImageUse]:
        """Every image of the page in HTML document order."""
        article = [item for item in self.body if isinstance(item, ImageUse)]
        return [*self.chrome, *article, *self.sidebar]

    def ground_truth(self) -> dict:
        """This page's line in ``ground_truth.jsonl``."""
        segments = [{"image": item.path} if isinstance(item, ImageUse) else {"text": item} for item in self.body]
        return {"kind": "page", "path": self.path, "label": self.label, "language": self.language,
                "title": self.title, "segments": segments}


def render_html(page: Page, nav: dict[str, str]) -> str:
    """The page as a complete HTML document; ``nav`` maps ``home``/``de``/``fr``/``members``/``partners``
    to site paths."""
    words = _WORDS[page.language]
    esc = html.escape

    def href(path: str) -> str:
        return esc(posixpath.relpath(path, posixpath.dirname(page.path)))

    chrome = {use.region: [] for use in page.chrome}
    for use in page.chrome:
        chrome[use.region].append(use)
    logo = "".join(_img(use, page.path) for use in chrome.get("header", []))
    icons = " ".join(f'<a href="#" class="share-{i}">{_img(use, page.path)}</a>'
                     for i, use in enumerate(chrome.get("share", [])))
    out = [
        "<!DOCTYPE html>", f'<html lang="{page.language}">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(page.title)} | {SITE_NAME}</title>",
        f'<link rel="stylesheet" href="{href("/static/site.css")}">', "</head>", "<body>",
        f'<div class="cookie-banner" id="cookies"><p>{esc(words["cookie"])} '
        f'<button>{esc(words["accept"])}</button></p></div>',
        '<header class="site-header">', f'<a href="{href(nav["home"])}" class="brand">{logo}</a>',
        '<nav class="main-nav"><ul>',
        f'<li><a href="{href(nav["home"])}">{esc(words["home"])}</a></li>',
        f'<li><a href="{href(nav["de"])}">Deutsch</a></li>',
        f'<li><a href="{href(nav["fr"])}">Français</a></li>',
        f'<li><a href="{href(nav["members"])}">{esc(words["members"])}</a></li>',
        "</ul></nav>", "</header>",
        f'<div class="share-widget"><span>{esc(words["share"])}:</span> {icons}</div>',
        "<main>", "<article>", f"<h1>{esc(page.title)}</h1>",
    ]
    if page.byline:
        out.append(f'<p class="byline">{esc(words["by"])} {esc(page.byline)}</p>')
    figure = 0
    for item in page.body:
        if isinstance(item, ImageUse):
            if item.figcaption is not None:
                figure += 1
                out.append(f"<figure>{_img(item, page.path)}<figcaption>{FIGURE[page.language]} {figure}. "
                           f"{esc(item.figcaption)}</figcaption></figure>")
            elif item.label == "ad":
                out.append(f'<div class="ad ad-inline"><small>{esc(words["ad"])}</small>'
                           f'<a href="#">{_img(item, page.path)}</a></div>')
            else:
                out.append(f"<p>{_img(item, page.path)}</p>")
        else:
            out.append(f"<p>{esc(item)}</p>")
    if page.link_list:
        out.append('<ul class="links">')
        out += [f'<li><a href="{href(path)}">{esc(text)}</a></li>' for path, text in page.link_list]
        out.append("</ul>")
    out += ["</article>", '<aside class="sidebar">']
    for use in page.sidebar:
        out.append(f'<div class="ad"><small>{esc(words["ad"])}</small><a href="#">{_img(use, page.path)}</a></div>')
    if page.related:
        out.append(f'<h3>{esc(words["related"])}</h3><ul class="related">')
        out += [f'<li><a href="{href(path)}">{esc(text)}</a></li>' for path, text in page.related]
        out.append("</ul>")
    out += [
        "</aside>", "</main>", '<footer class="site-footer">',
        f'<p>&copy; 2024 {SITE_NAME} &middot; <a href="{href(nav["partners"])}">{esc(words["partners"])}</a>'
        f' &middot; <a href="#">{esc(words["privacy"])}</a></p>', "</footer>", "</body>", "</html>", "",
    ]
    return "\n".join(out)


def _img(use: ImageUse, page_path: str) -> str:
    esc = html.escape
    url = esc(use.url_from(page_path))
    attrs = f'data-src="{url}" src="{LAZY_PLACEHOLDER}" class="lazyload"' if use.lazy else f'src="{url}"'
    if use.srcset_2x:
        attrs += f' srcset="{url} 1x, {esc(use.url_from(page_path, use.srcset_2x))} 2x"'
    if use.size:
        attrs += f' width="{use.size[0]}" height="{use.size[1]}"'
    return f'<img {attrs} alt="{esc(use.alt)}">'
