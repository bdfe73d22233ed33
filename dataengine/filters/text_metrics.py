"""Measures of text quality: the web-document heuristics of OBELICS, as plain functions.

Words are whitespace-separated tokens, lower-cased, with non-letters stripped from both
ends; tokens left empty (numbers, bullets, emoji) are not words. Each ratio returns 0 for a
text with nothing to measure, so an empty text fails "minimum" rules and passes "maximum"
ones, which is what the word-count rule expects.

The word lists come from maintained packages that ship them: stop words from
``stopwordsiso`` (ISO 639-1 codes, the same as fastText's), common words from ``wordfreq``'s
frequency lists, English flagged words from ``better-profanity``'s word list (less the everyday words in it).
A language without a list gets ``None`` and the rules that need it are skipped rather than
guessed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from importlib import resources

# Sentence punctuation counted by the punctuation ratio (Latin and CJK full-width forms).
PUNCTUATION = ".,;:!?…。，、！？；："
_PUNCT_TOKENS = re.compile(rf"[\w']+|[{re.escape(PUNCTUATION)}]")


def _is_letter(ch: str) -> bool:
    # Letters and combining marks (accents written as separate code points) make up words.
    return unicodedata.category(ch)[0] in "LM"


def words(text: str) -> list[str]:
    """The words of ``text``: lower-cased whitespace tokens stripped of non-letters at both ends."""
    out = []
    for token in text.lower().split():
        start, end = 0, len(token)
        while start < end and not _is_letter(token[start]):
            start += 1
        while end > start and not _is_letter(token[end - 1]):
            end -= 1
        if start < end:
            out.append(token[start:end])
    return out


def char_repetition_ratio(text: str, n: int) -> float:
    """Share of character ``n``-grams taken by the most repeated ones.

    The top ``sqrt(distinct n-grams)`` n-grams are counted (but only n-grams seen more than
    once), so the measure grows with repetition and stays comparable across text lengths.
    """
    counts = Counter(text[i:i + n] for i in range(len(text) - n + 1))
    if not counts:
        return 0.0
    freqs = sorted(counts.values(), reverse=True)
    repeated = sum(1 for f in freqs if f > 1)
    top = min(int(math.sqrt(len(freqs))), repeated)
    return sum(freqs[:top]) / sum(freqs)


def word_repetition_ratio(tokens: list[str], n: int) -> float:
    """Share of word ``n``-grams that occur more than once."""
    counts = Counter(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    if not counts:
        return 0.0
    return sum(f for f in counts.values() if f > 1) / sum(counts.values())


def special_char_ratio(text: str) -> float:
    """Share of characters that are not letters (digits, punctuation, symbols, emoji, spaces)."""
    if not text:
        return 0.0
    return sum(1 for ch in text if not _is_letter(ch)) / len(text)


def word_ratio(tokens: list[str], vocabulary: frozenset[str]) -> float:
    """Share of ``tokens`` that are in ``vocabulary`` (stop words, flagged words, common words)."""
    if not tokens:
        return 0.0
    return sum(1 for w in tokens if w in vocabulary) / len(tokens)


def punctuation_ratio(text: str, min_tokens: int = 0) -> float:
    """Punctuation marks per word-or-mark token; 1.0 for texts under ``min_tokens`` tokens.

    Short texts (headings, list items) legitimately lack punctuation, so below
    ``min_tokens`` the rule cannot judge and the text passes.
    """
    tokens = _PUNCT_TOKENS.findall(text)
    if not tokens:
        return 0.0
    if len(tokens) < min_tokens:
        return 1.0
    return sum(1 for t in tokens if t in PUNCTUATION) / len(tokens)


@lru_cache(maxsize=64)
def stop_words(language: str) -> frozenset[str] | None:
    """The stop words of ``language`` (ISO 639-1), or ``None`` when no list covers it."""
    import stopwordsiso

    found = stopwordsiso.stopwords(language)
    return frozenset(w.lower() for w in found) if found else None


@lru_cache(maxsize=64)
def common_words(language: str, top_n: int) -> frozenset[str] | None:
    """The ``top_n`` most frequent words of ``language`` in wordfreq, or ``None`` without a list."""
    import wordfreq

    if language not in wordfreq.available_languages():
        return None
    return frozenset(wordfreq.top_n_list(language, top_n))


# Entries of better-profanity's list that are everyday, medical or historical English (news
# and recipes use them: "murder", "organ", "rum", "loin"); flagging them would drop good text.
NOT_FLAGGED = frozenset("""
    god hell damn kill murder stupid gay gays fat drunk ugly pot strip slave nazi nazism hitler reich klan kkk
    weed stroke screw screwed hiv organ facial jerk jerked pee wang slope heroin urine vodka woody moron sniper
    womb rum paddy meth willy willies pawn snatch vomit thug fanny opium len hemp uterus herpes junkie junky
    potty maxi pollock tramp seaman seamen guido massa revue uzi valium ovary ovum pcp flange whiz pasty nappy
    gai napalm hookah leper homey loin loins testes testis testicle dopey nimrod hymen unwed menstruation menses
    tampon teat sandbar punky schizo rectus rectum rectal pubis yury niggle hoare dink dinks toots wench arian
    aryan racy lust crotch dummy doofus weirdo jackass crap suck sucked sucking lmao wtf omg jap japs kraut
    gringo prude hooch dumbass dumbasses undies opiate peyote reefer toke ganja cowgirl cowgirls tinkle wedgie
    tush titi hebe injun pinko fubar wazoo vulgar trashy sleazy sleaze tawdry inbred stoned poop fart pms
""".split())


@lru_cache(maxsize=1)
def default_flagged_words() -> frozenset[str]:
    """English flagged words: better-profanity's single-word entries, less ``NOT_FLAGGED``."""
    text = resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
    entries = {w.strip().lower() for w in text.splitlines()}
    return frozenset(w for w in entries if w and " " not in w and w not in NOT_FLAGGED)


def read_word_list(path: str) -> frozenset[str]:
    """A word list file (one word a line, ``#`` comments; any fsspec URL), lower-cased."""
    import fsspec

    with fsspec.open(path, "rt", encoding="utf-8") as f:
        return frozenset(w.strip().lower() for w in f if w.strip() and not w.lstrip().startswith("#"))
