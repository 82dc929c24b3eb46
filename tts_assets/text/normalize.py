"""The spoken form of a text: numbers, dates, money, measures and abbreviations as they are read.

Aligners give no timestamps to digits (WhisperX #559, #911) and TTS models read "$5" badly, so the
text a clip is aligned and trained with is the spoken form. The original is kept beside it.
NeMo text processing reads the languages of `nemo.NEMO_LANGUAGES` (but what it would misread,
which keeps its digits); the rules of `other_languages` the others. A written token may have
several readings ("$5.50": "five dollars fifty cents" or "five fifty"): `spoken_readings` gives
them for the audio to choose among, `normalize_text` the one reading for text to speak.
"""

from __future__ import annotations

import re
import unicodedata

import regex
from num2words import num2words

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
# Capital Roman numerals ("Chapter IV", "Henry VIII"; not "I"): NeMo's one reading leaves them as letters.
_ROMAN_NUMERAL = re.compile(r"\b[IVXLCDM]{2,}\b")
# Prices said as two numbers ("$5.50": "five fifty"), a reading NeMo's money grammar lacks.
_PRICE = re.compile(r"([$£€])(\d+)\.(\d\d)\b")
_MONEY = {"$": ("dollars", "cents"), "£": ("pounds", "pence"), "€": ("euros", "cents")}
_FOUR_DIGITS = re.compile(r"(?<![\d.,$£€])[12]\d{3}(?!\d|[.,]\d)")  # 1000-2999: a year or a count
_THREE_DIGITS = re.compile(r"(?<![\d.,$£€])[1-9]\d{2}(?!\d|[.,]\d)")
# A range ("1990-2000", "3 - 4") is read "to" or "bis", a minus sign "minus" or not at all.
_RANGE = re.compile(r"\d[\d.,]*(?:\s?-\s?\d[\d.,]*)+")
_NEGATIVE = re.compile(r"(?<![\w.,])-\d[\d.,]*")
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
    """NeMo's deterministic reading; a ValueError (the clip rejected) where its grammar finds none."""
    from nemo_text_processing.text_normalization.normalize import Normalizer
    from pynini import FstOpError

    try:
        reading = Normalizer.normalize(normalizer, text, punct_post_process=True)
    except FstOpError as exc:  # no path through the grammar (seen in Portuguese: "5,50 €")
        raise ValueError(f"NeMo's {normalizer.lang} grammar has no reading of {text!r}") from exc
    return re.sub(r"\s+", " ", reading).strip()


def _unprotected(text: str) -> str:
    return re.sub(r"\s+", " ", "".join(_UNPROTECTED.get(ch, ch) for ch in text)).strip()


def _other_language(text: str, lang: str) -> str:
    """Our rules, for a language NeMo does not read: a range or a minus sign keeps its digits."""
    text = re.sub(rf"{_RANGE.pattern}|{_NEGATIVE.pattern}", _protect, text)
    return _unprotected(other_languages.spell_out(text, lang))


def _nemo_other_language(text: str, base: str, lang: str) -> str:
    """NeMo's one reading, but for what it reads wrong, which keeps its digits (rejected): a range
    (NeMo reads "1990-2000" digit by digit) and what `other_languages.keep_misread` finds."""
    text = other_languages.keep_misread(_RANGE.sub(_protect, text), lang, _protect)
    return _unprotected(_nemo_reading(nemo.deterministic_normalizer(base), text))


def normalize_text(text: str, lang: str = "en") -> str:
    """The one spoken form of `text`, for text to speak (no audio says which reading is meant).

    NeMo's deterministic reading for its languages (beyond English, not of a range or of a number
    that agrees with what it counts); for the others the numbers `other_languages` can spell as the
    language writes them. Whatever is not spelled keeps its digits or symbols, so
    `unspoken` finds them and a clip is rejected rather than kept with words the reader did not say.
    """
    base = _base_language(lang)
    text = _plain(text)
    if base == "en":
        return _nemo_reading(nemo.deterministic_normalizer(base), text)
    if base in nemo.NEMO_LANGUAGES:
        return _nemo_other_language(text, base, lang)
    return _other_language(text, lang)


def spoken_readings(text: str, lang: str = "en", limit: int = 8) -> list[str]:
    """The readings of `text` for the audio to choose among, distinct in `spoken_words`, at most
    `limit`: NeMo's one reading first, then the same text with the readings it does not give
    written out, each read by NeMo again. Only a text with digits, symbols or Roman numerals has
    more than one, and only in English."""
    base = _base_language(lang)
    text = _plain(text)
    if base != "en" or not (unspoken(text) or _ROMAN_NUMERAL.search(text)):
        return [normalize_text(text, lang)]
    normalizer = nemo.deterministic_normalizer(base)
    distinct: dict[tuple[str, ...], str] = {}
    for variant in _other_readings_written(text):
        reading = _nemo_reading(normalizer, variant)
        distinct.setdefault(tuple(spoken_words(reading)), reading)
    return list(distinct.values())[:limit]


def _other_readings_written(text: str) -> list[str]:
    """`text`, then with each kind of token NeMo reads one way only written as readers also say it
    (every such token of the text at once, so the variants stay few). NeMo's multi-reading grammars
    would give some of these too, but they took 25 CPU minutes to compile and ~25 s a process to load."""
    variants = [text]
    if _PRICE.search(text):  # "$5.50": "five fifty", "five dollars and fifty cents"
        variants += [_PRICE.sub(r"\2 \3", text),
                     _PRICE.sub(lambda m: f"{m[2]} {_MONEY[m[1]][0]} and {m[3]} {_MONEY[m[1]][1]}", text)]
    if _FOUR_DIGITS.search(text):  # "1865": a year, or a count with and without "and"
        variants += [_FOUR_DIGITS.sub(lambda m: num2words(int(m[0]), to="year"), text),
                     _FOUR_DIGITS.sub(lambda m: num2words(int(m[0])), text),
                     _FOUR_DIGITS.sub(lambda m: num2words(int(m[0])).replace(" and ", " "), text)]
    if _THREE_DIGITS.search(text):  # "123": "one twenty three" ("105" stays NeMo's)
        variants.append(_THREE_DIGITS.sub(
            lambda m: f"{num2words(int(m[0][0]))} {num2words(int(m[0][1:]))}" if m[0][1] != "0" else m[0], text))
    if _ROMAN_NUMERAL.search(text):  # "Chapter IV": "four"; "Henry VIII": "the eighth"
        variants += [_ROMAN_NUMERAL.sub(lambda m: _roman_as(m[0], "cardinal"), text),
                     _ROMAN_NUMERAL.sub(lambda m: _roman_as(m[0], "ordinal", "the "), text)]
    return variants


_ROMAN_VALUES = (("M", 1000), ("CM", 900), ("D", 500), ("CD", 400), ("C", 100), ("XC", 90), ("L", 50),
                 ("XL", 40), ("X", 10), ("IX", 9), ("V", 5), ("IV", 4), ("I", 1))


def _roman_as(token: str, to: str, before: str = "") -> str:
    """A Roman numeral in words, or the token as it is when it is not one written the usual way."""
    value, rest = 0, token
    for letters, amount in _ROMAN_VALUES:
        while rest.startswith(letters):
            value, rest = value + amount, rest[len(letters):]
    written, left = "", value
    for letters, amount in _ROMAN_VALUES:
        written, left = written + letters * (left // amount), left % amount
    return before + num2words(value, to=to) if value and written == token else token


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
