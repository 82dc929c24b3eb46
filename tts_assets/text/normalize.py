"""Spell out numbers, ordinals, currency, percentages and abbreviations; plain ASCII punctuation.

Aligners give no timestamps to digits (WhisperX #559, #911) and TTS models read "$5" badly, so the
text a clip is aligned and trained with is the spoken form. The original is kept beside it.
"""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words as _num2words

PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": " - ", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}

ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "prof": "professor",
    "sr": "senior", "jr": "junior", "capt": "captain", "col": "colonel", "gen": "general",
    "lt": "lieutenant", "sgt": "sergeant", "rev": "reverend", "hon": "honourable", "vs": "versus",
    "etc": "et cetera", "vol": "volume", "ch": "chapter", "approx": "approximately",
}

CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents")}

_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_DIGITS = re.compile(r"\d+(?:[,.]\d+)*")  # with its thousands separators and decimal point
MAX_NUMBER_DIGITS = 15


def _digit_by_digit(match: re.Match) -> str:
    """Numbers longer than MAX_NUMBER_DIGITS are read digit by digit, as people read card numbers
    (and as num2words can: it overflows on a few hundred digits)."""
    number = match.group(0)
    if sum(ch.isdigit() for ch in number) <= MAX_NUMBER_DIGITS:
        return number
    return " ".join("point" if ch == "." else ch for ch in number if ch != ",")


def num2words(number, **kwargs) -> str:
    """num2words without its hyphens and commas ("forty-five" → "forty five"): one word a token."""
    return _num2words(number, **kwargs).replace("-", " ").replace(",", "")


def _cardinal(text: str, lang: str) -> str:
    value = text.replace(",", "")
    number = float(value) if "." in value else int(value)
    return num2words(number, lang=lang)


def _currency(match: re.Match, lang: str) -> str:
    one, many, sub_one, sub_many = CURRENCIES[match.group(1)]
    amount = match.group(2).replace(",", "")
    whole, _, fraction = amount.partition(".")
    words = f"{num2words(int(whole), lang=lang)} {one if int(whole) == 1 else many}"
    if fraction and int(fraction[:2].ljust(2, "0")):
        cents = int(fraction[:2].ljust(2, "0"))
        words += f" and {num2words(cents, lang=lang)} {sub_one if cents == 1 else sub_many}"
    scale = match.group(3)
    return f"{words.replace(f' {many}', '').replace(f' {one}', '')} {scale} {many}" if scale else words


def _number(match: re.Match, lang: str) -> str:
    text = match.group(0)
    plain = text.replace(",", "")
    if re.fullmatch(r"1[1-9]\d\d|20\d\d", plain) and "," not in text:
        return num2words(int(plain), lang=lang, to="year")  # 1850 → eighteen fifty
    return _cardinal(text, lang)


def normalize_text(text: str, lang: str = "en") -> str:
    """The spoken form of `text`: lowercase-preserving, words only plus sentence punctuation."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(PUNCTUATION.get(ch, ch) for ch in text)
    text = _DIGITS.sub(_digit_by_digit, text)
    text = re.sub(
        r"([$£€])\s?(" + _NUMBER + r")(?:\s?(million|billion|thousand))?",
        lambda m: _currency(m, lang), text,
    )
    text = re.sub(r"\b(N)o\.\s?(?=\d)", lambda m: "Number " if m.group(1) == "N" else "number ", text,
                  flags=re.IGNORECASE)
    text = re.sub(r"(" + _NUMBER + r")\s?%", lambda m: f"{_cardinal(m.group(1), lang)} percent", text)
    text = re.sub(
        r"\b(\d+)(st|nd|rd|th)\b",
        lambda m: num2words(int(m.group(1)), lang=lang, to="ordinal"), text, flags=re.IGNORECASE,
    )
    text = re.sub(r"(?<![\w.])" + _NUMBER + r"(?![\w])", lambda m: _number(m, lang), text)

    def abbreviation(match: re.Match) -> str:
        word = match.group(1)
        spoken = ABBREVIATIONS[word.lower()]
        return spoken.capitalize() if word[0].isupper() else spoken

    text = re.sub(
        r"\b(" + "|".join(ABBREVIATIONS) + r")\.(?=\s|$)", abbreviation, text, flags=re.IGNORECASE
    )
    text = text.replace("&", " and ")
    return re.sub(r"\s+", " ", text).strip()


def spoken_words(text: str) -> list[str]:
    """Lowercase words of normalized text, without punctuation: what an aligner matches."""
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower())
