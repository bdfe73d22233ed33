"""The sample web: a deterministic small website with ground truth, our embedded default corpus.

``dataengine sample-web generate DIR`` writes it; ``dataengine sample-web serve DIR`` serves it
on loopback. Articles interleave paragraphs with images: scenes drawn from the closed
vocabulary of ``schemas.scenes`` (see ``scenes``) and real photos from scikit-image. Around
them is the noise of the real web, and ``DIR/ground_truth.jsonl`` says what everything is.

Files in DIR (URL path = file path under DIR):

- ``index.html`` (home), ``articles/``, ``private/``, ``de/``, ``fr/``, ``deals/`` pages;
  ``img/``, ``private/img/``, ``static/`` (logo, icons, CSS) and ``ads/`` images.
- ``robots.txt``: ``Disallow: /private/`` for every user agent.
- ``sitemap.xml``: every page, with root-relative ``<loc>`` paths (``/articles/...``) on disk;
  the server rewrites them to absolute URLs for its own address. File readers join each
  ``<loc>`` with the base URL they serve from.
- ``_headers.json``: ``{path: {header: value}}``, extra response headers the server sends,
  i.e. ``X-Robots-Tag: noai, noimageai`` for opted-out images. Not served.
- ``ground_truth.jsonl``: not served. One line per page, each followed by one line per
  ``<img>`` occurrence on that page in HTML document order (so a logo on 60 pages has 60 lines).

Page lines: ``{"kind": "page", "path", "label", "language", "title", "segments"}``, where
``segments`` is the article body in reading order (``{"text": ...}`` or ``{"image": path}``).
Page labels:

- ``content``: an English article; what a pipeline should keep.
- ``index``: the home page, a list of links; no article.
- ``other_language``: an article in German (``language: "de"``) or French (``"fr"``).
- ``spam``: keyword stuffing, inline ads and a link farm.
- ``disallowed``: an English article under ``/private/``, which ``robots.txt`` forbids;
  a polite crawler never fetches it (nor its images, which are under ``/private/img/``).

Image lines: ``{"kind": "image", "path", "page", "label", "region", "scene", "caption", "alt",
"figcaption", "src", "attr", "srcset", "duplicate_of", "variant"}``. ``path`` is the absolute
URL path; ``src`` is the URL as written in the HTML (relative or absolute-path) in attribute
``attr`` (``src``, or ``data-src`` for lazy images, whose ``src`` is a placeholder data URI);
``srcset`` lists the 1x and 2x paths where the page offers one. ``region`` is where the image
sits: ``header``, ``share``, ``article`` or ``sidebar``. ``caption`` is what the image truly
shows (the canonical ``Scene.caption()`` for scenes; null for broken and corrupt images).
``scene`` is ``Scene.to_json()`` (size, objects with shape/colour/count/position, caption)
for every drawn scene whatever its label, else null. An image's label says what the image
itself is, independent of its page's label:

- ``content``: a scene or photo in the article, drawn for that article.
- ``logo``: the site logo in the header, on every page.
- ``icon``: a share-button social icon, on every page.
- ``ad``: a banner ad, in the sidebar or inside the article.
- ``repeated``: a stock picture (coffee photo, newsletter banner) inside the articles of
  many pages (at least 3); every occurrence carries the label.
- ``near_duplicate``: a new file that nearly repeats a ``content`` scene of another page,
  named by ``duplicate_of``; ``variant`` is ``copy`` (same bytes), ``shift`` (moved 1-2
  pixels), ``recolour`` (colours nudged by a few levels) or ``jpeg`` (lossy re-encode).
- ``broken``: the URL answers 404; no file exists.
- ``corrupt``: the URL (a ``.jpg``) serves bytes that are not an image.
- ``optout``: a scene served with ``X-Robots-Tag: noai, noimageai``; must not be used.

So an image occurrence is wanted training data exactly when its page's label is ``content``
and its own label is ``content``; every other label is noise a pipeline should remove.
"""

from dataengine.sampleweb.generate import SampleWebConfig, SampleWebSummary, generate_site
from dataengine.sampleweb.scenes import position_region, random_scene, render_scene
from dataengine.sampleweb.server import SampleWebServer

__all__ = ["SampleWebConfig", "SampleWebSummary", "generate_site", "position_region", "random_scene",
           "render_scene", "SampleWebServer"]
