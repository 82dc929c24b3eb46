"""Number words from num2words, for the languages NeMo does not normalize for us (`other_languages`)."""

from __future__ import annotations

import re

from num2words import num2words as _num2words

MAX_NUMBER_DIGITS = 15


def num2words(number, lang: str = "en", **kwargs) -> str:
    """num2words without its hyphens and commas ("forty-five" → "forty five"): one word a token."""
    try:
        words = _num2words(number, lang=lang, **kwargs)
    except NotImplementedError as exc:  # num2words says nothing itself
        raise NotImplementedError(
            f"num2words has no {kwargs.get('to', 'cardinal')} number words for language {lang!r}"
        ) from exc
    return words.replace("-", " ").replace(",", "")


def ordinals(text: str, lang: str) -> str:
    """"21st", "1,000th" → the ordinal words of `lang`: these suffixes are read in any language."""
    return re.sub(
        r"\b(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b",
        lambda m: num2words(int(m.group(1).replace(",", "")), lang=lang, to="ordinal"), text,
        flags=re.IGNORECASE,
    )
