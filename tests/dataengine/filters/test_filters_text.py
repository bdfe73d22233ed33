"""Text filters on real pages: OBELICS text quality, fastText language ID, URL/domain blocklists."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from dataengine.filters import text_metrics as tm
from dataengine.filters.blocklist import UrlBlocklist
from dataengine.filters.language import LanguageFilter, bundled_model_path
from dataengine.filters.text_quality import RULES, TextQualityFilter
from dataengine.runner.config import ConfigError, StageConfig, parse_pipeline
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, Segment, SourceRef, document_id, validate_document


def paragraphs(fixtures: Path, page: str) -> list[str]:
    """The ``<p>`` texts of a fixture page, whitespace-normalised (plain selectolax, no extractor)."""
    tree = LexborHTMLParser((fixtures / "html" / page).read_bytes())
    return [t for t in (" ".join(n.text().split()) for n in tree.css("p")) if t]


def make_doc(url: str, texts: list[str], language: str | None = None) -> Document:
    return Document(document_id(url, "test"), url, SourceRef("urls", "test"),
                    segments=[Segment.of_text(t, "p") for t in texts], language=language)


def run(stage, docs: list[Document]) -> Batch:
    return stage(Batch("test-part", docs))


@pytest.fixture(scope="module")
def language_filter() -> LanguageFilter:
    return LanguageFilter()


@pytest.fixture(scope="module")
def text_filter() -> TextQualityFilter:
    return TextQualityFilter()


# --- language ID -------------------------------------------------------------------------------

@pytest.mark.parametrize("page, language", [
    ("dw.com.uncork.html", "en"), ("nature.com.telescope.html", "en"),
    ("franceculture.fr.idees.html", "fr"),
    ("spiegel.de.albtraum.html", "de"), ("brigitte.de.ikigai.html", "de"),
])
def test_language_of_real_pages(fixtures, language_filter, page, language):
    doc = make_doc(f"https://{page}", paragraphs(fixtures, page))
    batch = run(language_filter, [doc])
    assert batch.docs == [doc]
    assert doc.language == language and doc.language_score > 0.8
    assert doc.scores["language_score"] == doc.language_score


def test_allowed_languages_and_min_score(fixtures):
    docs = [make_doc(f"https://{p}", paragraphs(fixtures, p))
            for p in ("dw.com.uncork.html", "franceculture.fr.idees.html", "spiegel.de.albtraum.html")]
    docs.append(make_doc("https://empty.example/", []))
    batch = run(LanguageFilter(allowed=["en", "de"], min_score=0.5), docs)
    assert [d.language for d in batch.docs] == ["en", "de"]
    rows = {r.url: r for r in batch.rejected}
    assert rows["https://franceculture.fr.idees.html"].reason == "language_not_allowed"
    assert rows["https://franceculture.fr.idees.html"].detail.startswith("fr")
    assert rows["https://empty.example/"].reason == "no_text"
    assert batch.counts["language_id"]["document:language_not_allowed"] == 1
    strict = run(LanguageFilter(min_score=0.999), [make_doc("https://a.example/", ["Ciao, this is un po' mixed."])])
    assert strict.docs == [] and strict.rejected[0].reason == "language_score_low"
    assert strict.rejected[0].threshold == 0.999


def test_language_model_is_the_bundled_one_and_needs_no_network(monkeypatch):
    assert Path(bundled_model_path()).name == "lid.176.ftz" and Path(bundled_model_path()).is_file()

    def no_network(*args, **kwargs):
        raise AssertionError("language ID tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    stage = LanguageFilter()  # a fresh model load, with the network closed
    doc = make_doc("https://x.example/", ["Der schnelle braune Fuchs springt über den faulen Hund, "
                                          "während die Katze in der Sonne schläft."])
    assert run(stage, [doc]).docs[0].language == "de"


# --- text quality ------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["dw.com.uncork.html", "franceculture.fr.idees.html", "brigitte.de.ikigai.html",
                                  "spiegel.de.albtraum.html", "nature.com.telescope.html"])
def test_real_articles_are_kept_and_scored(fixtures, language_filter, text_filter, page):
    doc = make_doc(f"https://{page}", paragraphs(fixtures, page))
    n_before = len(doc.segments)
    batch = text_filter(run(language_filter, [doc]))
    assert batch.docs == [doc], [r.reason for r in batch.rejected if r.level == "document"]
    for metric in ("word_count", "stopword_ratio", "common_word_ratio", "special_char_ratio",
                   "punctuation_ratio", "char_repetition", "word_repetition"):
        assert metric in doc.scores
    dropped = [r for r in batch.rejected if r.level == "text"]
    assert len(doc.segments) == n_before - len(dropped)
    # Paragraph rules remove boilerplate, not the article: most long paragraphs survive.
    long_before = [t for t in paragraphs(fixtures, page) if len(t.split()) >= 40]
    long_dropped = [r for r in dropped if len(r.detail.split()) >= 42]
    assert len(long_dropped) <= len(long_before) // 4
    for r in dropped:
        assert r.reason.endswith(("_low", "_high")) and r.value is not None and r.threshold is not None
        assert r.detail.startswith("segment ")
    validate_document(doc.to_json())


ARTICLE = ("The museum reopened on Saturday after a two-year renovation, and the first visitors were "
           "greeted by a new wing that doubles the space for the permanent collection. Curators said "
           "the building now meets modern climate standards, which allows loans from other institutions.")
ARTICLE_2 = ("Tickets for the opening weekend sold out within hours, so the city has extended the evening "
             "hours until the end of the month. Families with children under twelve can visit for free on "
             "Sundays, and guided tours in several languages start every hour from the main hall.")


def test_paragraph_rules_remove_boilerplate_and_spam(text_filter):
    nav = "Home | About | Contact"
    symbols = "WIN $$$ NOW >>> 100% FREE!!! <<< ### *** CLICK @@@ +++ 2024 ### $$$ HERE $$$ >>> OFFER"
    stuffing = " ".join(["The best cheap watches are here for you, and the best cheap watches are online."] * 6)
    doc = make_doc("https://shop.example/", [nav, ARTICLE, symbols, stuffing, ARTICLE_2],
                   language="en")
    doc.images.append(ImageRecord(0, "https://shop.example/a.jpg"))
    doc.segments.insert(2, Segment.of_image(0))
    batch = run(text_filter, [doc])
    reasons = {r.detail.split(": ", 1)[1][:12]: r.reason for r in batch.rejected}
    assert reasons == {"Home | About": "word_count_low", "WIN $$$ NOW ": "special_char_ratio_high",
                       "The best che": "char_repetition_high"}  # the first rule broken is the one reported
    assert all(r.level == "text" for r in batch.rejected)
    assert [s.kind for s in doc.segments] == ["text", "image", "text"]  # the image segment stays
    assert batch.counts["text_quality"] == {"in": 1, "out": 1, "text:word_count_low": 1,
                                            "text:special_char_ratio_high": 1, "text:char_repetition_high": 1}


def test_document_rules_reject_keyword_stuffing_and_flagged_words(text_filter):
    stuffing = make_doc("https://spam.example/", [
        "best casino bonus, best casino bonus, free spins, best casino bonus today.",
        "Best casino bonus: free spins and the best casino bonus, best casino bonus now."], language="en")
    flagged = sorted(w for w in tm.default_flagged_words() if w.isalpha())[:3]
    dirty = make_doc("https://dirty.example/", [ARTICLE + " " + " ".join(flagged)], language="en")
    no_paragraph_rules = {f"paragraph_{field}": None for _, _, field in RULES}
    batch = run(TextQualityFilter(**no_paragraph_rules, document_max_char_repetition=None), [stuffing, dirty])
    assert batch.docs == []
    by_url = {r.url: r for r in batch.rejected}
    assert by_url["https://spam.example/"].reason == "word_repetition_high"
    assert by_url["https://dirty.example/"].reason == "flagged_word_ratio_high"
    assert by_url["https://dirty.example/"].value == pytest.approx(3 / (len(tm.words(ARTICLE)) + 3))
    assert stuffing.scores["word_repetition"] > 0.2  # measures are kept on rejected documents too


def test_stop_words_follow_the_document_language(fixtures, text_filter):
    german = paragraphs(fixtures, "spiegel.de.albtraum.html")
    as_english = run(text_filter, [make_doc("https://spiegel.de/a", german, language="en")])
    assert as_english.docs == [] and as_english.rejected[-1].level == "document"
    assert {r.reason for r in as_english.rejected} >= {"stopword_ratio_low"}
    as_german = run(text_filter, [make_doc("https://spiegel.de/a", german, language="de")])
    assert len(as_german.docs) == 1


def test_thresholds_are_pipeline_parameters():
    stage = StageConfig("text_quality", {"document_min_words": 3, "paragraph_min_words": None}).build()
    assert isinstance(stage, TextQualityFilter) and stage.config.document_min_words == 3
    raw = {"name": "t", "source": {"kind": "warc", "paths": ["x.warc.gz"]},
           "stages": [{"name": "text_quality", "params": {"paragraph_min_wordz": 3}}]}
    with pytest.raises(ConfigError, match="unknown parameter 'paragraph_min_wordz'"):
        parse_pipeline(raw)
    with pytest.raises(ValueError, match="document_max_words"):
        TextQualityFilter(document_max_words=-1)


def test_metrics_on_known_strings():
    assert tm.words("Hello, World! 2024 -- ok.") == ["hello", "world", "ok"]
    assert tm.word_repetition_ratio("a b a b a b".split(), 2) == 1.0
    assert tm.word_repetition_ratio("a b c d".split(), 2) == 0.0
    assert tm.special_char_ratio("ab12") == 0.5
    assert tm.punctuation_ratio("Short one.", min_tokens=12) == 1.0
    assert tm.char_repetition_ratio("abcdefghij", 10) == 0.0
    assert tm.char_repetition_ratio("a" * 50, 10) == 1.0
    assert tm.stop_words("xx") is None and "the" in tm.stop_words("en")
    assert "murder" not in tm.default_flagged_words()


# --- blocklists --------------------------------------------------------------------------------

def test_domains_block_subdomains_and_urls_compare_canonically(tmp_path):
    listed = tmp_path / "domains.txt"
    listed.write_text("# ads and trackers\n0.0.0.0 ads.tracker.example\nbad.example  # whole site\n\n")
    urls = tmp_path / "urls.txt"
    urls.write_text("HTTPS://News.Example:443/story#top\n")
    stage = UrlBlocklist(domains=["*.casino.example"], domain_files=[str(listed)], url_files=[str(urls)])
    docs = [make_doc(u, [ARTICLE]) for u in (
        "https://bad.example/page", "http://www.bad.example/", "https://notbad.example/",
        "https://news.example/story", "https://news.example/other", "https://casino.example./x")]
    docs[4].images = [ImageRecord(0, "https://cdn.ads.tracker.example/b.gif", status="ok", data=b"x"),
                      ImageRecord(1, "https://news.example/photo.jpg", status="ok", data=b"y")]
    docs[4].segments += [Segment.of_image(0), Segment.of_image(1)]
    batch = run(stage, docs)
    assert [d.url for d in batch.docs] == ["https://notbad.example/", "https://news.example/other"]
    doc_rows = [(r.url, r.reason, r.detail) for r in batch.rejected if r.level == "document"]
    assert doc_rows == [("https://bad.example/page", "domain_blocked", "bad.example"),
                        ("http://www.bad.example/", "domain_blocked", "bad.example"),
                        ("https://news.example/story", "url_blocked", "https://news.example/story"),
                        ("https://casino.example./x", "domain_blocked", "casino.example")]
    image = docs[4].images[0]
    assert (image.status, image.error, image.data) == ("failed", "image_domain_blocked", None)
    assert docs[4].images[1].status == "ok" and len(docs[4].segments) == 3
    image_row = [r for r in batch.rejected if r.level == "image"][0]
    assert (image_row.image_index, image_row.detail) == (0, "ads.tracker.example")
