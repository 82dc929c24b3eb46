"""Spell out numbers, ordinals, currency, percentages, units and abbreviations; plain ASCII punctuation.

Aligners give no timestamps to digits (WhisperX #559, #911) and TTS models read "$5" badly, so the
text a clip is aligned and trained with is the spoken form. The original is kept beside it.
"""

from __future__ import annotations

import re
import unicodedata

import regex
from num2words import num2words as _num2words

PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": " - ", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}

# These always come before another word (a name, the other side), so their period never ends a
# sentence; the period of the others does when nothing or a capital follows.
PREFIXES = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "prof": "professor",
    "capt": "captain", "col": "colonel", "gen": "general", "lt": "lieutenant", "sgt": "sergeant",
    "rev": "reverend", "hon": "honourable", "vs": "versus",
}
ABBREVIATIONS = {
    **PREFIXES, "sr": "senior", "jr": "junior", "etc": "et cetera", "vol": "volume", "ch": "chapter",
    "approx": "approximately",
}

# symbol: one, many, and the hundredth's one and many (None: its amounts are read as one number).
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", None, None),
              "¢": ("cent", "cents", None, None)}
SCALES = r"(?:\s?(thousand|million|billion|trillion)\b)?"

UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "min": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"),
}
_UNIT = "|".join(re.escape(unit) for unit in sorted(UNITS, key=len, reverse=True))  # "km/h" before "km"

# "½", "¾", "⅛": NFKC makes "1⁄2" of them, and "91⁄2" of "9½", so they are read before it.
VULGAR_FRACTIONS = "".join(ch for ch in map(chr, range(0x00BC, 0x2190))
                           if unicodedata.decomposition(ch).startswith("<fraction>"))
SYMBOLS = {"+": "plus", "=": "equals"}
# Unicode punctuation is read as a pause or a tone, except these, which stand for words.
WORDLIKE_PUNCTUATION = set("#%&*@/\\_§¶†‡‰")

_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_DIGITS = re.compile(r"\d+(?:[,.]\d+)*")  # with its thousands separators and decimal point
MAX_NUMBER_DIGITS = 15

# The languages besides English whose numbers are spelled, and how they write them: (thousands
# separators, decimal mark). "1.000" is a thousand in German and "3,5" three and a half; in French
# "10 000" is ten thousand. Every other language keeps its digits, so the clip is rejected rather
# than kept misread: num2words lacks some, loops forever on others (Amharic), runs Turkish words
# together, and gives one form where a language declines its numerals (Russian "в 1850 году",
# Finnish "5:ssä") or inflects them for gender (Hebrew, Arabic, Korean counters).
NUMBER_STYLES = {**dict.fromkeys(("de", "es", "it", "pt", "nl", "da", "id", "ca"), (".", ",")),
                 **dict.fromkeys(("fr", "sv", "no"), (" ", ",")), "ja": (",", ".")}
LANGUAGE_ALIASES = {"nb": "no"}  # num2words knows Norwegian Bokmål as "no"
# num2words reads a one-digit decimal right in these (it drops Italian decimals, says Catalan "punt");
# a longer one is left: "1,80" is read "eins achtzig" as often as "eins Komma acht null".
SPOKEN_DECIMALS = {"de", "fr", "pt", "nl", "sv", "no", "da", "id", "ja"}
# These write ordinals as "3." ("am 3. Mai", "Ludwig der 14."): a number before a period is left.
ORDINAL_PERIOD = {"de", "da", "no"}
# These read a year as hundreds ("achtzehnhundertfünfzig", as English does); num2words can for the
# first group, not for the second, whose four-digit numbers of 1100-1999 are left.
YEARS_IN_HUNDREDS = {"de", "nl", "da"}
YEARS_UNSPELLED = {"sv", "no"}
PERCENT = {"de": "Prozent", "fr": "pour cent", "es": "por ciento", "it": "per cento", "pt": "por cento",
           "nl": "procent", "sv": "procent", "da": "procent", "no": "prosent", "ca": "per cent"}
# Abbreviations after a number whose word the reader said (units are spelled in English only).
_LOCAL_UNITS = "|".join(re.escape(u) for u in sorted(
    {*UNITS, "h", "l", "t", "s", "ha", "w", "kw", "v", "mio.", "mrd.", "tsd.", "std.", "min.", "sek.", "jh."},
    key=len, reverse=True))
_PROTECTED = {str(d): chr(0xE000 + d) for d in range(10)}  # digits no rule may spell (Unicode private use)
_UNPROTECTED = {v: k for k, v in _PROTECTED.items()}


def _protect(match: re.Match) -> str:
    return "".join(_PROTECTED.get(ch, ch) for ch in match.group(0))


def _agreement_ambiguous(value: int, base: str) -> bool:
    """Whether the word for `value` depends on what it counts, which num2words cannot know:
    "un/une", "uno/una", "dois/duas", "doscientos/doscientas", "ein/eine", "en/ett"."""
    last_two = value % 100
    if base in ("es", "fr", "it", "pt", "ca", "sv", "no") and value % 10 == 1 and last_two != 11:
        return True
    if base in ("es", "pt", "ca") and value % 1000 >= 200:
        return True
    if base in ("pt", "ca") and value % 10 == 2 and last_two != 12:
        return True
    return base in ("de", "da") and last_two == 1


def _digit_by_digit(match: re.Match) -> str:
    """English numbers longer than MAX_NUMBER_DIGITS are read digit by digit, as people read card
    numbers (and as num2words can: it overflows on a few hundred digits)."""
    number = match.group(0)
    if sum(ch.isdigit() for ch in number) <= MAX_NUMBER_DIGITS:
        return number
    return " ".join("point" if ch == "." else ch for ch in number if ch != ",")


def num2words(number, lang: str = "en", **kwargs) -> str:
    """num2words without its hyphens and commas ("forty-five" → "forty five"): one word a token."""
    try:
        words = _num2words(number, lang=lang, **kwargs)
    except NotImplementedError as exc:  # num2words says nothing itself
        raise NotImplementedError(
            f"num2words has no {kwargs.get('to', 'cardinal')} number words for language {lang!r}"
        ) from exc
    return words.replace("-", " ").replace(",", "")


def _cardinal(text: str, lang: str) -> str:
    value = text.replace(",", "")
    number = float(value) if "." in value else int(value)
    return num2words(number, lang=lang)


def _fraction(match: re.Match, lang: str) -> str:
    """"9½" → "nine and a half", "¾" → "three quarters", "⅛" → "an eighth"; with the unit or "%"
    that follows, which the number rules after NFKC no longer see as a number's."""
    whole, fraction, unit = match.groups()
    numerator, _, denominator = unicodedata.normalize("NFKC", fraction).partition("\u2044")
    count, parts = int(numerator), int(denominator)
    name = {2: "half", 4: "quarter"}.get(parts) or num2words(parts, lang=lang, to="ordinal")
    if count != 1:
        name = f"{num2words(count, lang=lang)} {'halves' if parts == 2 else name + 's'}"
    else:
        name = f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
    if whole:
        name = f"{num2words(int(whole), lang=lang)} and {name}"
    if unit:
        name += " percent" if unit == "%" else f" {UNITS[unit][1 if whole else 0]}"  # "a quarter mile"
    return name


def _currency(amount: str, symbol: str, scale: str | None, lang: str) -> str:
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    if scale or sub_one is None:  # "$1.5 million": one point five million dollars
        scale = f" {scale}" if scale else ""
        return f"{_cardinal(amount, lang)}{scale} {one if amount == '1' and not scale else many}"
    whole, _, fraction = amount.replace(",", "").partition(".")
    words = f"{num2words(int(whole), lang=lang)} {one if int(whole) == 1 else many}"
    cents = int(fraction[:2].ljust(2, "0")) if fraction else 0
    if cents:
        words += f" and {num2words(cents, lang=lang)} {sub_one if cents == 1 else sub_many}"
    return words


def _unit(match: re.Match, lang: str) -> str:
    one, many = UNITS[match.group(2)]
    return f"{_cardinal(match.group(1), lang)} {one if match.group(1) == '1' else many}"


def _number(text: str, lang: str) -> str:
    plain = text.replace(",", "")
    if re.fullmatch(r"1[1-9]\d\d|20\d\d", plain) and "," not in text:
        return num2words(int(plain), lang=lang, to="year")  # 1850 → eighteen fifty
    return _cardinal(text, lang)


def _clock(match: re.Match, lang: str) -> str:
    """"8:30" → "eight thirty", "8:05" → "eight oh five", "8:00" → "eight o'clock"."""
    hours, minutes = num2words(int(match.group(1)), lang=lang), int(match.group(2))
    if minutes == 0:
        return f"{hours} o'clock"
    return f"{hours} {'oh ' if minutes < 10 else ''}{num2words(minutes, lang=lang)}"


def _plural_number(digits: str, lang: str) -> str:
    """"100s" → "hundreds", "1000s" → "thousands", "2s" → "twos", "6s" → "sixes"; decades are
    the same plural: "1990s" → "nineteen nineties", "'90s" → "nineties"."""
    words = _number(digits, lang)
    if words.startswith("one ") and set(digits[1:]) == {"0"}:
        words = words.removeprefix("one ")
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith(("x", "s")) else "s")
    return f"{head} {last}".strip()


def _glued(match: re.Match) -> str:
    """Letters and digits in one token apart: "MP3" → "M P 3"; capitals up to three are an acronym
    spelled letter by letter, longer runs ("COVID19") and lowercase are read as words."""
    runs = re.findall(r"\d+|\D+", match.group(0))
    return " ".join(" ".join(run) if run.isupper() and len(run) <= 3 else run for run in runs)


def _abbreviation(match: re.Match) -> str:
    word = match.group(1)
    spoken = ABBREVIATIONS[word.lower()]
    spoken = spoken.capitalize() if word[0].isupper() else spoken
    rest = match.string[match.end():].lstrip(" \t\n\"')]")
    ends_sentence = word.lower() not in PREFIXES and (not rest or rest[0].isupper())
    return spoken + "." if ends_sentence else spoken


def _localized_numbers(text: str, lang: str) -> str:
    """Spell the numbers of a language of NUMBER_STYLES as it writes them, with "%" where PERCENT has
    its word; leave the digits of any number that could be misread, and of any other language."""
    base = re.split(r"[-_]", lang.lower())[0]
    base = LANGUAGE_ALIASES.get(base, base)
    if base not in NUMBER_STYLES:
        return text
    thousands, decimal = NUMBER_STYLES[base]
    # A number glued to letters ("MP3", "1er") is left; in Japanese, written without spaces, only
    # to Latin ones: "1,000円" is "千円".
    word = "A-Za-z0-9_" if base == "ja" else "\\w"
    grouped = rf"\d{{1,3}}(?:[{re.escape(thousands)}]\d{{3}})+|"
    fraction = rf"(?:{re.escape(decimal)}\d+)?" if base in SPOKEN_DECIMALS else ""
    period = r"(?!\.)" if base in ORDINAL_PERIOD else r"(?!\.[^\W\d_])"  # "3.Mai", "3.º"
    unit = rf"(?!\s*(?i:{_LOCAL_UNITS})(?![{word}]))"
    number = re.compile(
        rf"(?<![{word}.,:/])(?<!\d\s)((?:{grouped}\d+){fraction}){period}{unit}(?![{word}:/]|[.,]\d|\s\d)(\s?%)?"
    )

    def spoken(match: re.Match) -> str:
        written, percent = match.groups()
        whole, _, fraction_digits = written.partition(decimal) if decimal in written else (written, "", "")
        whole = re.sub(rf"[{re.escape(thousands)}]", "", whole)
        year_like = whole == written and re.fullmatch(r"1[1-9]\d\d", whole)
        kept = (
            (percent and base not in PERCENT)
            or len(fraction_digits) > 1
            or len(whole) > MAX_NUMBER_DIGITS
            or (len(whole) > 1 and whole.startswith("0"))  # "007", a telephone number
            or (not fraction_digits and _agreement_ambiguous(int(whole), base))
            or (base in YEARS_UNSPELLED and year_like)
        )
        if kept:
            return match.group(0)
        if fraction_digits:
            words = num2words(float(f"{whole}.{fraction_digits}"), lang=base)
        elif base in YEARS_IN_HUNDREDS and year_like:
            words = num2words(int(whole), lang=base, to="year")
        else:
            words = num2words(int(whole), lang=base)
        return words + (f" {PERCENT[base]}" if percent else "")

    return number.sub(spoken, text)


def normalize_text(text: str, lang: str = "en") -> str:
    """The spoken form of `text`: lowercase-preserving, words only plus sentence punctuation.

    Numbers are spelled with num2words: in English, and in the languages of NUMBER_STYLES as they
    write them ("1.000" and "3,5" in German, "10 000" in French), with "%" where PERCENT has its
    word. Symbols, units, currencies, fractions, decades, clock times and abbreviations are read for
    English only. Whatever is not spelled keeps its digits or symbols, so `unspoken` finds them and
    the clip is rejected rather than kept with words the reader did not say: numbers of other
    languages, ranges and minus signs, and numbers whose reading the text does not settle.
    """
    english = lang.lower().startswith("en")
    if english:
        text = re.sub(rf"(?:(\d+)\s?)?([{VULGAR_FRACTIONS}])(?:\s?({_UNIT}|%)(?!\w))?",
                      lambda m: _fraction(m, lang), text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(PUNCTUATION.get(ch, ch) for ch in text)
    # A range ("1990-2000", "3 - 4") is read "to" or "bis", a minus sign "minus" or not at all: their
    # numbers keep their digits (rejected) in any language, rather than "nineteen ninety-two thousand".
    text = re.sub(r"\d[\d.,]*(?:\s?-\s?\d[\d.,]*)+|(?<![\w.,])-\d[\d.,]*", _protect, text)
    if english:
        text = _DIGITS.sub(_digit_by_digit, text)
    if english:
        text = re.sub(  # 2.0.1 → two point zero point one
            r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w.]*\d)",
            lambda m: " point ".join(num2words(int(part), lang=lang) for part in m.group(0).split(".")), text,
        )
        symbols = re.escape("".join(CURRENCIES))
        text = re.sub(rf"([{symbols}])\s?({_NUMBER}){SCALES}",
                      lambda m: _currency(m.group(2), m.group(1), m.group(3), lang), text)
        text = re.sub(rf"(?<![\w.])({_NUMBER})\s?([{symbols}])",
                      lambda m: _currency(m.group(1), m.group(2), None, lang), text)
        text = re.sub(r"\b(N)o\.\s?(?=\d)", lambda m: "Number " if m.group(1) == "N" else "number ", text,
                      flags=re.IGNORECASE)
        text = re.sub(r"#\s?(?=\d)", "number ", text)
        text = re.sub(r"(" + _NUMBER + r")\s?%", lambda m: f"{_cardinal(m.group(1), lang)} percent", text)
        text = re.sub(rf"(?<![\w.])({_NUMBER})\s?({_UNIT})(?!\w)", lambda m: _unit(m, lang), text)
    text = re.sub(
        r"\b(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b",
        lambda m: num2words(int(m.group(1).replace(",", "")), lang=lang, to="ordinal"), text,
        flags=re.IGNORECASE,
    )
    if english:
        text = re.sub(r"(?<![\w.,])'?(\d+)'?s\b", lambda m: _plural_number(m.group(1), lang), text)
        text = re.sub(r"(?<![\w.:])([01]?\d|2[0-3]):([0-5]\d)(?![\w:])", lambda m: _clock(m, lang), text)
        text = re.sub(r"\b\w*(?:[^\W\d_]\d|\d[^\W\d_])\w*", _glued, text)
    if english:
        text = re.sub(r"(?<![\w.])" + _NUMBER + r"(?![\w])", lambda m: _number(m.group(0), lang), text)
        text = re.sub(r"\s*([+=])\s*", lambda m: f" {SYMBOLS[m.group(1)]} ", text)
        text = re.sub(
            r"\b(" + "|".join(ABBREVIATIONS) + r")\.(?=[\s,;:!?)\"']|$)", _abbreviation, text,
            flags=re.IGNORECASE,
        )
        text = text.replace("&", " and ")
    else:
        text = _localized_numbers(text, lang)
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
