"""``generate_site``: write a deterministic sample website and its ground truth into a directory.

Everything comes from one ``random.Random(seed)`` consumed in a fixed order, and every file
is encoded with fixed options, so the same ``SampleWebConfig`` gives byte-identical output.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from dataengine.sampleweb import images as im
from dataengine.sampleweb import text
from dataengine.sampleweb.pages import ImageUse, Page, render_html
from dataengine.sampleweb.scenes import random_scene, render_scene
from schemas.scenes import Scene

MIN_PAGES = 12  # enough for one page of every kind and every kind of image noise
GROUND_TRUTH = "ground_truth.jsonl"
HEADERS = "_headers.json"
OPTOUT_HEADER = {"X-Robots-Tag": "noai, noimageai"}
_AUTHORS = ("Ada Lines", "Ben Circle", "Carla Square", "Dev Triangle", "Eva Hue")
_CSS = ("body{font-family:sans-serif;max-width:60em;margin:auto}main{display:flex;gap:2em}"
        "article{flex:3}aside{flex:1}.cookie-banner{background:#eee;padding:.5em}"
        ".share-widget img,.brand img{vertical-align:middle}figure{margin:1em 0}\n")


@dataclass(frozen=True)
class SampleWebConfig:
    """What to generate: ``pages`` HTML pages in all (at least ``MIN_PAGES``), from ``seed``."""

    pages: int = 60
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pages < MIN_PAGES:
            raise ValueError(f"a sample web needs at least {MIN_PAGES} pages (one of every kind), "
                             f"got pages={self.pages}")


@dataclass
class SampleWebSummary:
    """What ``generate_site`` wrote: counts of pages and image occurrences by label."""

    root: Path
    page_labels: Counter = field(default_factory=Counter)
    image_labels: Counter = field(default_factory=Counter)
    files: int = 0


class _SiteBuilder:
    """Builds the pages and image files of one sample web in memory."""

    def __init__(self, config: SampleWebConfig) -> None:
        self.rng = random.Random(config.seed)
        self.config = config
        self.files: dict[str, bytes] = {"/static/site.css": _CSS.encode()}
        self.headers: dict[str, dict[str, str]] = {}
        self._scene_number = 0
        self._content_scenes: dict[str, tuple[Image.Image, Scene]] = {}  # originals for near-duplicates
        self._photos = [(name, crop) for name in im.PHOTOS for crop in ("full", "detail")]
        self.rng.shuffle(self._photos)
        self.files["/static/logo.png"] = im.png_bytes(im.draw_logo(text.SITE_NAME))
        for name, (_, letter, colour) in im.SOCIAL_ICONS.items():
            self.files[f"/static/icons/{name}.png"] = im.png_bytes(im.draw_icon(letter, colour))
        for k, (headline, tagline, colour) in enumerate(im.ADS):
            self.files[f"/ads/banner-{k}.jpg"] = im.jpeg_bytes(im.draw_ad(headline, tagline, colour, seed=k))
        self.files["/img/stock/coffee-break.jpg"] = im.jpeg_bytes(im.scaled_photo(im.load_photo(im.STOCK_PHOTO), 160))
        self.files["/img/stock/newsletter.png"] = im.png_bytes(im.draw_newsletter_promo())

    # --- images -------------------------------------------------------------------------
    def _next_scene_path(self, folder: str, ext: str) -> str:
        self._scene_number += 1
        return f"{folder}/scene-{self._scene_number:04d}.{ext}"

    def scene_use(self, scene: Scene, lang: str, folder: str = "/img/scenes", label: str = "content") -> ImageUse:
        """Draw ``scene`` into a new file and describe how a page shows it."""
        rng = self.rng
        path = self._next_scene_path(folder, "png")
        image = render_scene(scene, seed=rng.randrange(2**31))
        self.files[path] = im.png_bytes(image)
        use = ImageUse(path, label, "article", text.alt_text(rng, scene, lang, path.rsplit("/", 1)[1]),
                       scene.caption(), scene, size=(scene.size, scene.size), relative=rng.random() < 0.5,
                       lazy=rng.random() < 0.15)
        if rng.random() < 0.4:
            use.figcaption = text.sentence(text.scene_phrase(scene, lang))
        if not use.lazy and rng.random() < 0.1:
            use.srcset_2x = path[:-4] + "@2x.png"
            self.files[use.srcset_2x] = im.png_bytes(image.resize((2 * scene.size,) * 2, resample=0))
        if label == "content" and folder == "/img/scenes":
            self._content_scenes[path] = (image, scene)
        if label == "optout":
            self.headers[path] = dict(OPTOUT_HEADER)
        return use

    def photo_use(self, name: str, crop: str) -> ImageUse:
        """A scaled-down scikit-image photo as a content image."""
        rng = self.rng
        path = f"/img/photos/{name}-{crop}.jpg"
        image = im.scaled_photo(im.load_photo(name), 160 if crop == "full" else 128, crop)
        self.files[path] = im.jpeg_bytes(image)
        caption = im.PHOTOS[name]
        use = ImageUse(path, "content", "article", rng.choice((caption, "", "Photo")), caption,
                       size=image.size, relative=rng.random() < 0.5, lazy=rng.random() < 0.15)
        if rng.random() < 0.5:
            use.figcaption = caption
        return use

    def near_duplicate_use(self, original: str, variant: str) -> ImageUse:
        """A new file that nearly repeats the content scene at ``original``."""
        image, scene = self._content_scenes[original]
        data, ext = im.near_duplicate(image, variant, self.rng)
        path = self._next_scene_path("/img/scenes", ext)
        self.files[path] = data
        return ImageUse(path, "near_duplicate", "article", text.sentence(text.scene_phrase(scene, "en")),
                        scene.caption(), scene, duplicate_of=original, variant=variant,
                        relative=self.rng.random() < 0.5)

    def chrome(self) -> list[ImageUse]:
        """Logo and share icons: the same files on every page."""
        logo = ImageUse("/static/logo.png", "logo", "header", text.SITE_NAME, f"The logo of {text.SITE_NAME}.",
                        size=(200, 48))
        icons = [ImageUse(f"/static/icons/{name}.png", "icon", "share", title, f"The {title} icon.", size=(24, 24))
                 for name, (title, _, _) in im.SOCIAL_ICONS.items()]
        return [logo, *icons]

    def ad_use(self, region: str, page: Page | None = None) -> ImageUse:
        """One of the banner ads, picked at random among those not yet on ``page``."""
        taken = {use.path for use in page.images()} if page else set()
        k = self.rng.choice([k for k in range(len(im.ADS)) if f"/ads/banner-{k}.jpg" not in taken])
        headline, tagline, _ = im.ADS[k]
        return ImageUse(f"/ads/banner-{k}.jpg", "ad", region, "Advertisement",
                        f"A banner ad: {headline}, {tagline}.", size=(300, 100))

    # --- pages --------------------------------------------------------------------------
    def article(self, path: str, label: str, lang: str, folder: str = "/img/scenes") -> Page:
        """An article: paragraphs with 2-5 images between them, mostly scenes, some photos."""
        rng = self.rng
        uses: list[ImageUse] = []
        for _ in range(rng.randint(2, 5)):
            if lang == "en" and folder == "/img/scenes" and self._photos and rng.random() < 0.15:
                uses.append(self.photo_use(*self._photos.pop()))
            else:
                uses.append(self.scene_use(random_scene(rng), lang, folder))
        first_scene = next((u.scene for u in uses if u.scene), None) or random_scene(rng)
        page = Page(path, label, lang, text.title(rng, first_scene, lang),
                    byline=f"{rng.choice(_AUTHORS)}, 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        page.body.append(text.filler(rng, lang, 2))
        for use in uses:
            page.body += [text.image_paragraph(rng, use.scene, lang), use]
        page.body.append(text.filler(rng, lang, rng.randint(1, 3)))
        return page

    def spam_page(self, path: str) -> Page:
        """Keyword stuffing, inline ads and a link farm."""
        rng = self.rng
        page = Page(path, "spam", "en", text.spam_title(rng))
        for _ in range(rng.randint(2, 3)):
            page.body += [text.spam_paragraph(rng), self.ad_use("article", page)]
        page.body.append(text.spam_paragraph(rng))
        return page

    def insert_image(self, page: Page, use: ImageUse) -> None:
        """Put ``use`` before a random paragraph of ``page``'s article (but not the first), so it
        never comes between a paragraph and the image that paragraph introduces."""
        before = [i for i, item in enumerate(page.body) if i > 0 and isinstance(item, str)]
        page.body.insert(self.rng.choice(before), use)

    def add_noise(self, content: list[Page]) -> None:
        """Sprinkle the image noise that lives inside articles over the content pages."""
        rng = self.rng

        def some(share: float, least: int) -> list[Page]:
            return rng.sample(content, min(len(content), max(least, round(len(content) * share))))

        for path, caption, alt in (("/img/stock/coffee-break.jpg", im.STOCK_CAPTION, "Coffee break"),
                                   ("/img/stock/newsletter.png", "The site's newsletter sign-up banner.",
                                    "Subscribe")):
            for page in some(1 / 6, 3):
                self.insert_image(page, ImageUse(path, "repeated", "article", alt, caption, relative=True))
        for i, page in enumerate(some(1 / 8, 2)):
            originals = [u.path for p in content if p is not page for u in p.images()
                         if u.path in self._content_scenes]
            variant = im.NEAR_DUPLICATE_VARIANTS[i % len(im.NEAR_DUPLICATE_VARIANTS)]
            self.insert_image(page, self.near_duplicate_use(rng.choice(originals), variant))
        for page in some(1 / 8, 1):
            self.insert_image(page, self.scene_use(random_scene(rng), "en", label="optout"))
        for page in some(1 / 10, 1):
            scene = random_scene(rng)
            path = self._next_scene_path("/img/scenes", rng.choice(("png", "jpg")))
            self.insert_image(page, ImageUse(path, "broken", "article", text.sentence(scene.caption()), None,
                                             relative=rng.random() < 0.5))
        for page in some(1 / 20, 1):
            path = self._next_scene_path("/img/scenes", "jpg")
            self.files[path] = im.corrupt_bytes(rng)
            self.insert_image(page, ImageUse(path, "corrupt", "article", "", None))
        for page in some(1 / 7, 1):
            self.insert_image(page, self.ad_use("article", page))

    def build(self) -> list[Page]:
        """All pages, home first; fills ``files`` and ``headers`` on the way."""
        rng, n = self.rng, self.config.pages
        n_private, n_spam, n_de, n_fr = max(1, n // 20), max(1, n // 15), max(1, n // 20), max(1, n // 20)
        n_content = n - 1 - n_private - n_spam - n_de - n_fr
        content = []
        for i in range(n_content):
            page = self.article("", "content", "en")
            page.path = f"/articles/{i + 1:03d}-{_slug(page.title)}.html"
            content.append(page)
        self.add_noise(content)
        private = [self.article(f"/private/{i + 1:03d}-members-only.html", "disallowed", "en", "/private/img")
                   for i in range(n_private)]
        foreign = [self.article(f"/de/artikel-{i + 1:03d}.html", "other_language", "de") for i in range(n_de)]
        foreign += [self.article(f"/fr/article-{i + 1:03d}.html", "other_language", "fr") for i in range(n_fr)]
        spam = [self.spam_page(f"/deals/{_slug(' '.join(rng.sample(text.SPAM_KEYWORDS, 3)))}-{i + 1}.html")
                for i in range(n_spam)]
        home = Page("/index.html", "index", "en", f"{text.SITE_NAME}: simple shapes, every week",
                    body=[text.filler(rng, "en", 3)],
                    link_list=[(p.path, p.title) for p in content + foreign])
        pages = [home, *content, *private, *foreign, *spam]
        for page in pages:
            page.chrome = self.chrome()
            for _ in range(rng.randint(1, 2)):
                page.sidebar.append(self.ad_use("sidebar", page))
            if page.label == "spam":
                farm = rng.sample(spam + content, min(12, len(spam + content)))
                page.link_list = [(other.path, text.spam_title(rng)) for other in farm if other is not page]
            elif page.label != "index":
                page.related = [(p.path, p.title) for p in rng.sample(content, 3) if p is not page]
        return pages


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]


def generate_site(root: str | Path, config: SampleWebConfig = SampleWebConfig()) -> SampleWebSummary:
    """Write the sample web for ``config`` into ``root`` and return what was written.

    ``root`` must be absent, empty, or an earlier sample web (which is replaced); any other
    directory is refused with ``FileExistsError`` so that nobody's files are overwritten.
    """
    root = Path(root)
    if root.exists():
        if not root.is_dir():
            raise FileExistsError(f"{root} exists and is not a directory")
        if any(root.iterdir()):
            if not (root / GROUND_TRUTH).is_file():
                raise FileExistsError(f"{root} is a non-empty directory that is not a sample web "
                                      f"(no {GROUND_TRUTH}); choose an empty or new directory")
            shutil.rmtree(root)
    builder = _SiteBuilder(config)
    pages = builder.build()
    nav = {"home": "/index.html", "members": _pages_of(pages, "disallowed")[0].path,
           "de": next(p.path for p in pages if p.language == "de"),
           "fr": next(p.path for p in pages if p.language == "fr"),
           "partners": _pages_of(pages, "spam")[0].path}
    files = dict(builder.files)
    for page in pages:
        files[page.path] = render_html(page, nav).encode("utf-8")
    files["/robots.txt"] = b"User-agent: *\nDisallow: /private/\n\nSitemap: /sitemap.xml\n"
    files["/sitemap.xml"] = _sitemap([p.path for p in pages])
    files["/" + HEADERS] = (json.dumps(builder.headers, indent=1, sort_keys=True) + "\n").encode()
    summary = SampleWebSummary(root)
    lines = []
    for page in pages:
        lines.append(page.ground_truth())
        summary.page_labels[page.label] += 1
        for use in page.images():
            lines.append(use.ground_truth(page.path))
            summary.image_labels[use.label] += 1
    files["/" + GROUND_TRUTH] = "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n"
                                        for line in lines).encode("utf-8")
    for path in sorted(files):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])
    summary.files = len(files)
    return summary


def _pages_of(pages: list[Page], label: str) -> list[Page]:
    return [p for p in pages if p.label == label]


def _sitemap(paths: list[str]) -> bytes:
    # Root-relative <loc>s: the server makes them absolute for the address it serves on.
    urls = "".join(f"<url><loc>{p}</loc></url>\n" for p in paths)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{urls}</urlset>\n").encode()
