"""The spoken form of a text: numbers, dates, money, measures and abbreviations as they are read.

Aligners give no timestamps to digits (WhisperX #559, #911) and TTS models read "$5" badly, so the
text a clip is aligned and trained with is the spoken form. The original is kept beside it.
NeMo text processing reads the languages of `nemo.NEMO_LANGUAGES`; the rules of `other_languages`
the others. A written token may have several readings ("$5.50": "five dollars fifty cents" or "five
fifty"): `spoken_readings` gives them for the audio to choose among, `normalize_text` the one
reading for text to speak.
"""

from __future__ import annotations

import re
import unicodedata

import regex

from tts_assets.text import nemo, other_languages


PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": " - ", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}
# Unicode punctuation is read as a pause or a tone, except these, which stand for words.
WORDLIKE_PUNCTUATION = set("#%&*@/\\_§¶†‡‰")
# "9½", "¾": NFKC would make "91⁄2" of "9½"; written "9 1/2", NeMo reads "nine and a half".
VULGAR_FRACTIONS = {ch: " " + unicodedata.normalize("NFKC", ch).replace("\u2044", "/")
                    for ch in map(chr, range(0x00BC, 0x2190)) if unicodedata.decomposition(ch).startswith("<fraction>")}
# Capital Roman numerals ("Chapter IV", "Henry VIII"; not "I"): NeMo reads them in its other readings only.
_ROMAN_NUMERAL = re.compile(r"\b[IVXLCDM]{2,}\b")
# Prices said as two numbers ("$5.50": "five fifty"), a reading NeMo's money grammar lacks.
_PRICE = re.compile(r"[$£€](\d+)\.(\d\d)\b")
_PROTECTED = {str(d): chr(0xE000 + d) for d in range(10)}  # digits no rule may spell (Unicode private use)
_UNPROTECTED = {v: k for k, v in _PROTECTED.items()}


def _protect(match: re.Match) -> str:
    return "".join(_PROTECTED.get(ch, ch) for ch in match.group(0))


def _base_language(lang: str) -> str:
    return re.split(r"[-_]", lang.lower())[0]


def _plain(text: str) -> str:
    """NFKC, ASCII quotes and dashes, single spaces: what both NeMo and our rules read."""
    text = "".join(VULGAR_FRACTIONS.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(PUNCTUATION.get(ch, ch) for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def _nemo_reading(normalizer, text: str) -> str:
    """NeMo's deterministic reading (a NormalizerWithAudio holds that grammar too: one is loaded)."""
    from nemo_text_processing.text_normalization.normalize import Normalizer

    return re.sub(r"\s+", " ", Normalizer.normalize(normalizer, text, punct_post_process=True)).strip()


def _other_language(text: str, lang: str) -> str:
    # A range ("1990-2000", "3 - 4") is read "to" or "bis", a minus sign "minus" or not at all: their
    # numbers keep their digits (rejected), rather than "neunzehnhundertneunzig-zweitausend".
    text = re.sub(r"\d[\d.,]*(?:\s?-\s?\d[\d.,]*)+|(?<![\w.,])-\d[\d.,]*", _protect, text)
    text = other_languages.spell_out(text, lang)
    return re.sub(r"\s+", " ", "".join(_UNPROTECTED.get(ch, ch) for ch in text)).strip()


def normalize_text(text: str, lang: str = "en") -> str:
    """The one spoken form of `text`, for text to speak (no audio says which reading is meant).

    NeMo's deterministic reading for its languages; for the others the numbers `other_languages`
    can spell as the language writes them. Whatever is not spelled keeps its digits or symbols, so
    `unspoken` finds them and a clip is rejected rather than kept with words the reader did not say.
    """
    base = _base_language(lang)
    text = _plain(text)
    if base in nemo.NEMO_LANGUAGES:
        return _nemo_reading(nemo.deterministic_normalizer(base), text)
    return _other_language(text, lang)


def spoken_readings(text: str, lang: str = "en", limit: int = 8) -> list[str]:
    """The readings of `text` for the audio to choose among: NeMo's deterministic one first, then
    a price as two numbers ("five fifty"), then NeMo's other readings ("five dollars and fifty
    cents"), distinct in `spoken_words`, at most `limit`. Only a text with digits, symbols or Roman
    numerals has more than one, and only in NeMo's languages."""
    base = _base_language(lang)
    text = _plain(text)
    if base not in nemo.NEMO_LANGUAGES or not (unspoken(text) or _ROMAN_NUMERAL.search(text)):
        return [normalize_text(text, lang)]
    # Loaded only for such a text: NeMo derives part of these grammars on every load (~25 s).
    normalizer = nemo.normalizer_with_audio(base)
    written = [text, _PRICE.sub(r"\1 \2", text)] if _PRICE.search(text) else [text]
    readings = [_nemo_reading(normalizer, variant) for variant in written]
    for variant in written:
        # NeMo's top `limit` paths come back as a set: sorted, so a clip's candidates repeat.
        others = normalizer.normalize(variant, n_tagged=limit, punct_post_process=True)
        readings += sorted(re.sub(r"\s+", " ", reading).strip() for reading in others)
    distinct: dict[tuple[str, ...], str] = {}
    for reading in readings:
        distinct.setdefault(tuple(spoken_words(reading)), reading)
    return list(distinct.values())[:limit]


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
