"""Spell out numbers, ordinals, currency, percentages, units and abbreviations; plain ASCII punctuation.

Aligners give no timestamps to digits (WhisperX #559, #911) and TTS models read "$5" badly, so the
text a clip is aligned and trained with is the spoken form. The original is kept beside it.
The rules are in `english` and `other_languages`; what every language shares is here.
"""

from __future__ import annotations

import re
import unicodedata

import regex

from tts_assets.text import english, other_languages

PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": " - ", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}
# Unicode punctuation is read as a pause or a tone, except these, which stand for words.
WORDLIKE_PUNCTUATION = set("#%&*@/\\_§¶†‡‰")
_PROTECTED = {str(d): chr(0xE000 + d) for d in range(10)}  # digits no rule may spell (Unicode private use)
_UNPROTECTED = {v: k for k, v in _PROTECTED.items()}


def _protect(match: re.Match) -> str:
    return "".join(_PROTECTED.get(ch, ch) for ch in match.group(0))


def normalize_text(text: str, lang: str = "en") -> str:
    """The spoken form of `text`: lowercase-preserving, words only plus sentence punctuation.

    Numbers are spelled with num2words: in English, and in the languages of NUMBER_STYLES (in
    `other_languages`) as they write them ("1.000" and "3,5" in German, "10 000" in French), with "%"
    where PERCENT has its word. Symbols, units, currencies, fractions, decades, clock times and
    abbreviations are read for English only. Whatever is not spelled keeps its digits or symbols, so
    `unspoken` finds them and the clip is rejected rather than kept with words the reader did not
    say: numbers of other languages, ranges and minus signs, and numbers whose reading the text does
    not settle.
    """
    english_text = lang.lower().startswith("en")
    if english_text:
        text = english.fractions(text, lang)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(PUNCTUATION.get(ch, ch) for ch in text)
    # A range ("1990-2000", "3 - 4") is read "to" or "bis", a minus sign "minus" or not at all: their
    # numbers keep their digits (rejected) in any language, rather than "nineteen ninety-two thousand".
    text = re.sub(r"\d[\d.,]*(?:\s?-\s?\d[\d.,]*)+|(?<![\w.,])-\d[\d.,]*", _protect, text)
    text = english.spell_out(text, lang) if english_text else other_languages.spell_out(text, lang)
    text = "".join(_UNPROTECTED.get(ch, ch) for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def spoken_words(text: str) -> list[str]:
    """Lowercase words of normalized text, without punctuation: what an aligner matches.

    Words are runs of letters in any script with their combining marks (which `\\w` leaves out,
    splitting "हिन्दी"), apostrophes inside a word kept: "o'brien", "café", "привет".
    """
    return regex.findall(r"[\p{L}\p{M}]+(?:'[\p{L}\p{M}]+)*", text.lower())


def _speakable(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LM" or (category[0] == "P" and ch not in WORDLIKE_PUNCTUATION)


def unspoken(text: str) -> list[str]:
    """Tokens of normalized text that still hold a digit or a symbol a reader would say as a word
    ("#tag", "x^2", "3"): the text is not the spoken form. Empty when everything is words."""
    return [token for token in text.split() if not all(map(_speakable, token))]
